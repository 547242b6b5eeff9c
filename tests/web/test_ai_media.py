"""AI media through the REST app: a real espeak-ng + ffmpeg voice-over, images and subtitles from a fake OpenAI
(real SDK calls over HTTP on 127.0.0.1, kits.fake_openai_media), 503 without a model, and tenancy."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from kits.fake_openai_media import SEGMENTS, FakeOpenAIMedia, fake_openai_media, sine_mp3
from kits.web_api import Account, assert_error

pytestmark = pytest.mark.skipif(not all(shutil.which(tool) for tool in ("espeak-ng", "ffmpeg", "ffprobe")),
                                reason="needs espeak-ng and ffmpeg (apt-get install espeak-ng ffmpeg)")


@pytest.fixture(autouse=True)
def no_media_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FINETUNE_SPEECH_MODEL", "FINETUNE_IMAGE_MODEL", "FINETUNE_TRANSCRIPTION_MODEL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def openai_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIMedia]:
    with fake_openai_media() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-" + "a" * 40)
        monkeypatch.setenv("FINETUNE_IMAGE_MODEL", "openai-images")
        monkeypatch.setenv("FINETUNE_TRANSCRIPTION_MODEL", "openai-transcription")
        yield fake


def probe(path: Path) -> dict[str, object]:
    done = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                          capture_output=True, check=True, timeout=60)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def voice_mp3(client: FlaskClient, account: Account, text: str, tmp_path: Path, **fields: object) -> tuple[str, Path]:
    response = client.post("/api/ai/voice", json={"text": text, **fields}, headers=account.headers)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "success", body
    assert body["output"]["audio_url"] == f"/api/ai/voice/{body['job_id']}/audio.mp3"
    audio = client.get(body["output"]["audio_url"], headers=account.headers)
    assert audio.status_code == 200 and audio.mimetype == "audio/mpeg"
    path = tmp_path / f"{body['job_id']}.mp3"
    path.write_bytes(audio.data)
    return body["job_id"], path


def duration_of(path: Path) -> float:
    info = probe(path)
    streams = info["streams"]
    assert isinstance(streams, list) and [stream["codec_type"] for stream in streams] == ["audio"]
    assert streams[0]["codec_name"] == "mp3"
    return float(info["format"]["duration"])  # type: ignore[index]


def test_a_voice_over_is_a_real_mp3_as_long_as_its_text(client: FlaskClient, alice: Account, bob: Account,
                                                         tmp_path: Path) -> None:
    _, short = voice_mp3(client, alice, "Hello, welcome.", tmp_path)
    job_id, long = voice_mp3(client, alice, "Hello, welcome to the studio. " * 6 + "-v --help $(rm -rf /)", tmp_path,
                             voice="alloy", speed=1.0)
    short_s, long_s = duration_of(short), duration_of(long)
    assert 0.3 < short_s < 4.0
    assert long_s > 4 * short_s  # seven times the words
    _, fast = voice_mp3(client, alice, "Hello, welcome to the studio. " * 6, tmp_path, voice="en", speed=2.0)
    assert duration_of(fast) < 0.75 * long_s
    # Bob sees neither the audio nor the job
    assert_error(client.get(f"/api/ai/voice/{job_id}/audio.mp3", headers=bob.headers), 404)
    assert_error(client.get(f"/api/studio/jobs/{job_id}", headers=bob.headers), 404)
    assert client.get(f"/api/studio/jobs/{job_id}", headers=alice.headers).get_json()["status"] == "success"
    assert_error(client.get(f"/api/ai/images/{job_id}/image.png", headers=alice.headers), 404)  # not an image job


def test_voice_refusals(client: FlaskClient, alice: Account) -> None:
    assert_error(client.post("/api/ai/voice", json={"text": ""}, headers=alice.headers), 422)
    assert_error(client.post("/api/ai/voice", json={"text": "hi", "speed": 9}, headers=alice.headers), 422)
    bad_voice = client.post("/api/ai/voice", json={"text": "hi", "voice": "--path=/etc"}, headers=alice.headers)
    assert bad_voice.status_code == 202 and bad_voice.get_json()["status"] == "failed"
    assert "not a voice" in bad_voice.get_json()["error_message"]


def test_images_and_subtitles_without_a_model_answer_503_naming_the_setting(client: FlaskClient,
                                                                             alice: Account) -> None:
    image = assert_error(client.post("/api/ai/images", json={"prompt": "a city"}, headers=alice.headers),
                         503, "NO_MODEL_CONFIGURED")
    assert image["context"]["setting"] == "FINETUNE_IMAGE_MODEL" and "FINETUNE_IMAGE_MODEL" in image["detail"]
    assert "openai-images" in image["context"]["installed"]
    subtitles = assert_error(client.post("/api/ai/subtitles", json={"audio_url": "https://example.com/a.mp3"},
                                         headers=alice.headers), 503, "NO_MODEL_CONFIGURED")
    assert subtitles["context"]["setting"] == "FINETUNE_TRANSCRIPTION_MODEL"
    assert client.get("/api/projects", headers=alice.headers).get_json()["total"] == 0  # nothing was started


def test_an_image_from_openai_is_kept_and_served_to_its_owner(client: FlaskClient, alice: Account, bob: Account,
                                                              openai_fake: FakeOpenAIMedia) -> None:
    response = client.post("/api/ai/images", json={"prompt": "A futuristic city at sunset", "size": "1024x1792",
                                                   "quality": "hd"}, headers=alice.headers)
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "success", body
    assert body["output"] == {"urls": [f"/api/ai/images/{body['job_id']}/image.png"]}
    [seen] = openai_fake.requests
    assert seen.path == "/v1/images/generations"
    assert seen.headers["authorization"] == "Bearer sk-test-" + "a" * 40
    assert seen.json == {"model": "dall-e-3", "prompt": "A futuristic city at sunset", "size": "1024x1792",
                         "quality": "hd", "n": 1, "response_format": "b64_json"}
    image = client.get(body["output"]["urls"][0], headers=alice.headers)
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data == openai_fake.png
    assert_error(client.get(body["output"]["urls"][0], headers=bob.headers), 404)
    openai_fake.status = 401
    refused = client.post("/api/ai/images", json={"prompt": "again"}, headers=alice.headers).get_json()
    assert refused["status"] == "failed" and "401" in refused["error_message"]
    assert "sk-test" not in refused["error_message"]


def test_subtitles_from_openai_with_srt_and_vtt(client: FlaskClient, alice: Account, bob: Account,
                                                openai_fake: FakeOpenAIMedia) -> None:
    openai_fake.files["talk.mp3"] = sine_mp3(0.5)
    response = client.post("/api/ai/subtitles", json={"audio_url": f"{openai_fake.url}/files/talk.mp3",
                                                      "language": "fr"}, headers=alice.headers)
    body = response.get_json()
    assert response.status_code == 202 and body["status"] == "success", body
    job_id = body["job_id"]
    assert body["output"]["subtitles"] == [{"start": item["start"], "end": item["end"], "text": item["text"].strip()}
                                           for item in SEGMENTS]
    transcription = openai_fake.requests[-1]
    assert transcription.path == "/v1/audio/transcriptions"
    assert transcription.form["response_format"] == "verbose_json"
    assert transcription.form["model"] == "whisper-1" and transcription.form["language"] == "fr"
    assert transcription.form["timestamp_granularities[]"] == "segment"
    assert transcription.file_sizes["file"] == len(openai_fake.files["talk.mp3"])
    srt = client.get(body["output"]["srt_url"], headers=alice.headers)
    assert srt.status_code == 200
    assert srt.data.decode() == ("1\n00:00:00,000 --> 00:00:01,520\nBonjour, bienvenue sur Créalia.\n\n"
                                 "2\n00:00:01,520 --> 01:02:05,250\nUne heure plus tard --> fin.\n")
    vtt = client.get(f"/api/ai/subtitles/{job_id}.vtt", headers=alice.headers)
    assert vtt.status_code == 200 and vtt.mimetype == "text/vtt"
    assert vtt.data.decode() == ("WEBVTT\n\n00:00:00.000 --> 00:00:01.520\nBonjour, bienvenue sur Créalia.\n\n"
                                 "00:00:01.520 --> 01:02:05.250\nUne heure plus tard → fin.\n")
    assert_error(client.get(f"/api/ai/subtitles/{job_id}.srt", headers=bob.headers), 404)
    assert_error(client.get(f"/api/ai/subtitles/{job_id}.vtt", headers=bob.headers), 404)
    assert_error(client.get(f"/api/jobs/{job_id}", headers=bob.headers), 404)


def test_subtitle_sources_are_checked_before_any_job(client: FlaskClient, alice: Account,
                                                     openai_fake: FakeOpenAIMedia) -> None:
    assert_error(client.post("/api/ai/subtitles", json={"audio_url": "http://169.254.169.254/latest"},
                             headers=alice.headers), 400, "URL_NOT_ALLOWED")
    assert_error(client.post("/api/ai/subtitles", json={"file_id": "0" * 32}, headers=alice.headers), 404)
    assert_error(client.post("/api/ai/subtitles", json={"language": "fr"}, headers=alice.headers), 400)
    assert openai_fake.requests == []
