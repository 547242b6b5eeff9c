"""POST /api/helpers/video-transcript on a video without captions: its smallest audio-only stream, fetched from a
real server on 127.0.0.1, transcribed by OpenAI's API (a fake speaking its wire format, kits.fake_openai_media,
through the real SDK); YouTube itself is faked at the requests boundary (kits.fake_youtube)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from finetune_core.workspace import Workspace
from flask.testing import FlaskClient
from kits.fake_openai_media import SEGMENTS, FakeOpenAIMedia, fake_openai_media
from kits.fake_youtube import (
    ENDLESS_LIMIT,
    VIDEO,
    AudioHost,
    FakeYouTube,
    audio_format,
    audio_host,
    ciphered,
    video_format,
    youtube_session,
)
from kits.web_api import Account, assert_error

pytestmark = pytest.mark.skipif(not all(shutil.which(tool) for tool in ("espeak-ng", "ffmpeg")),
                                reason="needs espeak-ng and ffmpeg (apt-get install espeak-ng ffmpeg)")

URL = f"https://www.youtube.com/watch?v={VIDEO}"
MB = 1024 * 1024
WHISPER_TEXT = " ".join(str(item["text"]).strip() for item in SEGMENTS)


@pytest.fixture(scope="module")
def speech_m4a(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real short AAC file of someone saying a sentence."""
    folder = tmp_path_factory.mktemp("speech")
    wav, m4a = folder / "speech.wav", folder / "speech.m4a"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(wav), "Feed the starter every morning."],
                   check=True, capture_output=True, timeout=60)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "aac", "-b:a", "32k",
                    str(m4a)], check=True, capture_output=True, timeout=60)
    return m4a.read_bytes()


@pytest.fixture(autouse=True)
def no_transcription_model(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FINETUNE_TRANSCRIPTION_MODEL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def openai_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIMedia]:
    with fake_openai_media() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-" + "a" * 40)
        monkeypatch.setenv("FINETUNE_TRANSCRIPTION_MODEL", "openai-transcription")
        yield fake


@pytest.fixture
def host() -> Iterator[AudioHost]:
    with audio_host() as served:
        yield served


def transcript(client: FlaskClient, account: Account) -> Any:
    return client.post("/api/helpers/video-transcript", json={"video_url": URL}, headers=account.headers)


def player_calls(youtube: FakeYouTube) -> int:
    return sum("/youtubei/v1/player" in call for call in youtube.calls)


def test_a_video_without_captions_is_transcribed_from_its_smallest_audio_stream(
        client: FlaskClient, alice: Account, workspace: Workspace, openai_fake: FakeOpenAIMedia, host: AudioHost,
        speech_m4a: bytes) -> None:
    host.files["/speech.m4a"] = speech_m4a
    host.files["/large.webm"] = speech_m4a * 3
    youtube = FakeYouTube(captions=False, formats=[
        video_format(f"{host.url}/video.mp4", 1000),  # smaller, but no audio
        ciphered(audio_format(f"{host.url}/tiny.m4a", 100, itag=139)),  # smaller, but behind a cipher
        audio_format(f"{host.url}/large.webm", 3 * len(speech_m4a), mime_type='audio/webm; codecs="opus"', itag=251),
        audio_format(f"{host.url}/speech.m4a", len(speech_m4a)),
    ])
    workspace.requests_session = youtube_session(youtube)
    response = transcript(client, alice)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["source"], body["video_id"], body["language"]) == ("success", "whisper", VIDEO, None)
    assert body["transcript"] == WHISPER_TEXT and body["paragraphs"] == [WHISPER_TEXT]
    assert host.seen == ["/speech.m4a"]
    [sent] = openai_fake.requests
    assert sent.path == "/v1/audio/transcriptions"
    assert sent.file_contents["file"] == speech_m4a and sent.file_names["file"].endswith(".m4a")
    assert (sent.form["model"], sent.form["response_format"]) == ("whisper-1", "verbose_json")
    assert "language" not in sent.form  # whisper detects it
    assert sent.headers["authorization"] == "Bearer sk-test-" + "a" * 40


def test_the_language_of_a_named_audio_track_is_given_and_answered(
        client: FlaskClient, alice: Account, workspace: Workspace, openai_fake: FakeOpenAIMedia, host: AudioHost,
        speech_m4a: bytes) -> None:
    host.files["/speech.m4a"] = speech_m4a
    track = audio_format(f"{host.url}/speech.m4a", len(speech_m4a)) | {
        "audioTrack": {"displayName": "French original", "id": "fr.4", "audioIsDefault": True}}
    workspace.requests_session = youtube_session(FakeYouTube(captions=False, formats=[track]))
    body = transcript(client, alice).get_json()
    assert (body["source"], body["language"]) == ("whisper", "fr")
    assert openai_fake.requests[0].form["language"] == "fr"


def test_captions_are_read_and_no_audio_is_fetched(client: FlaskClient, alice: Account, workspace: Workspace,
                                                   openai_fake: FakeOpenAIMedia, host: AudioHost,
                                                   speech_m4a: bytes) -> None:
    host.files["/speech.m4a"] = speech_m4a
    youtube = FakeYouTube(formats=[audio_format(f"{host.url}/speech.m4a", len(speech_m4a))])
    workspace.requests_session = youtube_session(youtube)
    body = transcript(client, alice).get_json()
    assert (body["source"], body["language"]) == ("youtube_transcript_api", "en")
    assert body["transcript"].startswith("Welcome back to the bakery school.")
    assert player_calls(youtube) == 1 and host.seen == [] and openai_fake.requests == []


def test_no_captions_and_no_model_names_the_setting(client: FlaskClient, alice: Account, workspace: Workspace,
                                                    host: AudioHost, speech_m4a: bytes) -> None:
    host.files["/speech.m4a"] = speech_m4a
    youtube = FakeYouTube(captions=False, formats=[audio_format(f"{host.url}/speech.m4a", len(speech_m4a))])
    workspace.requests_session = youtube_session(youtube)
    error = assert_error(transcript(client, alice), 422, "TRANSCRIPT_UNAVAILABLE")
    assert "subtitles are disabled" in error["detail"] and "speech-to-text" in error["detail"]
    assert "FINETUNE_TRANSCRIPTION_MODEL" in error["detail"]
    assert error["context"]["setting"] == "FINETUNE_TRANSCRIPTION_MODEL"
    assert "openai-transcription" in error["context"]["installed"]
    assert player_calls(youtube) == 1 and host.seen == []


@pytest.mark.parametrize(("formats", "says"), [
    pytest.param(lambda url: [ciphered(audio_format(f"{url}/a.m4a", 5000)),
                              ciphered(audio_format(f"{url}/b.webm", 9000, itag=251))],
                 "signature-protected", id="only-ciphered"),
    pytest.param(lambda url: [video_format(f"{url}/v.mp4", 5000)], "no audio stream", id="no-audio"),
    pytest.param(lambda url: [audio_format(f"{url}/a.m4a", 30 * MB)], "more than the 25.0 MB", id="too-large"),
    pytest.param(lambda url: [audio_format(f"{url}/a.m4a", MB, duration_ms=2 * 3600 * 1000)],
                 "longer than the 60 min", id="too-long"),
])
def test_audio_that_cannot_be_had_is_refused_before_any_download(
        client: FlaskClient, alice: Account, workspace: Workspace, openai_fake: FakeOpenAIMedia, host: AudioHost,
        formats: Callable[[str], list[dict[str, Any]]], says: str) -> None:
    workspace.requests_session = youtube_session(FakeYouTube(captions=False, formats=formats(host.url)))
    error = assert_error(transcript(client, alice), 422, "TRANSCRIPT_UNAVAILABLE")
    assert error["detail"].startswith("subtitles are disabled") and says in error["detail"]
    assert error["context"]["video_id"] == VIDEO
    assert host.seen == [] and openai_fake.requests == []


def test_audio_larger_than_it_said_is_cut_off_while_it_streams(client: FlaskClient, alice: Account,
                                                                workspace: Workspace, openai_fake: FakeOpenAIMedia,
                                                                host: AudioHost) -> None:
    host.endless.add("/endless.m4a")
    youtube = FakeYouTube(captions=False, formats=[audio_format(f"{host.url}/endless.m4a", 2 * MB)])
    workspace.requests_session = youtube_session(youtube)
    error = assert_error(transcript(client, alice), 422, "TRANSCRIPT_UNAVAILABLE")
    assert "larger than the 25.0 MB" in error["detail"] and host.url not in error["detail"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the server notices the closed connection on its next writes
        before = host.sent["/endless.m4a"]
        time.sleep(0.2)
        if host.sent["/endless.m4a"] == before:
            break
    assert 25 * MB < host.sent["/endless.m4a"] < ENDLESS_LIMIT // 4
    assert openai_fake.requests == []


def test_an_audio_stream_that_is_not_there_is_a_clear_422(client: FlaskClient, alice: Account, workspace: Workspace,
                                                          openai_fake: FakeOpenAIMedia, host: AudioHost) -> None:
    youtube = FakeYouTube(captions=False, formats=[audio_format(f"{host.url}/gone.m4a", 1000)])
    workspace.requests_session = youtube_session(youtube)
    error = assert_error(transcript(client, alice), 422, "TRANSCRIPT_UNAVAILABLE")
    assert "audio stream could not be fetched" in error["detail"] and "404" in error["detail"]
    assert host.url not in error["detail"]
    assert host.seen == ["/gone.m4a"] and openai_fake.requests == []
