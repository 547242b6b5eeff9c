"""Video composition through the REST app: real ffmpeg clips uploaded, composed with a fade and looped music, the
output probed; refusals before any job (another's upload, a 10-hour video, a clip outside its video); a cancel
that kills ffmpeg and leaves no file."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from finetune_core.jobs.runner import InProcessRunner
from finetune_core.services import jobs, studio_compose
from finetune_core.workspace import Workspace
from flask.testing import FlaskClient
from kits.web_api import Account, assert_error
from kits.web_uploads import upload_one

pytestmark = pytest.mark.skipif(not all(shutil.which(tool) for tool in ("ffmpeg", "ffprobe")),
                                reason="needs ffmpeg (apt-get install ffmpeg)")
COMPOSE = "/api/studio/video/compose"


def ffmpeg(path: Path, *inputs: str, extra: tuple[str, ...] = ()) -> bytes:
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    for source in inputs:
        args += ["-f", "lavfi", "-i", source]
    subprocess.run([*args, *extra, str(path)], check=True, capture_output=True, timeout=120)
    return path.read_bytes()


def video_clip(folder: Path, name: str, *, seconds: float, size: str = "320x240", audio: bool) -> bytes:
    sources = [f"testsrc=duration={seconds}:size={size}:rate=25"]
    if audio:
        sources.append(f"sine=frequency=440:duration={seconds}")
    return ffmpeg(folder / name, *sources, extra=("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                                                  *(("-c:a", "aac") if audio else ())))


def probe(path: Path) -> dict[str, Any]:
    done = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                          capture_output=True, check=True, timeout=60)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def upload(client: FlaskClient, account: Account, data: bytes, name: str) -> dict[str, Any]:
    response = upload_one(client, account, "/api/studio/upload", data, name)
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def wait_until(check: Callable[[], bool], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def compose_jobs(workspace: Workspace) -> int:
    return jobs.list_jobs(workspace, type=studio_compose.COMPOSE_JOB)[1]


def test_two_clips_with_a_fade_and_music_make_one_video(client: FlaskClient, alice: Account, bob: Account,
                                                        tmp_path: Path) -> None:
    first = upload(client, alice, video_clip(tmp_path, "one.mp4", seconds=2, audio=True), "one.mp4")
    second = upload(client, alice, video_clip(tmp_path, "two.mp4", seconds=2, size="240x320", audio=False), "two.mp4")
    music = upload(client, alice, ffmpeg(tmp_path / "music.wav", "sine=frequency=220:duration=1"), "music.wav")
    response = client.post(COMPOSE, headers=alice.headers, json={
        "clips": [{"upload_id": first["id"], "start_time": 0, "end_time": 2},
                  {"url": second["url"], "start_time": 0, "end_time": 2}],
        "transitions": [{"type": "fade", "duration": 0.5}], "music": music["id"], "output_format": "mp4"})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "success", body
    job_id = body["job_id"]
    url = f"/api/studio/outputs/{job_id}/video.mp4"
    assert body["output"] == {"video_url": url}
    job = client.get(f"/api/studio/jobs/{job_id}", headers=alice.headers).get_json()
    assert job["status"] == "success" and job["progress_pct"] == 100.0
    assert job["result_summary"]["output"]["video_url"] == url
    assert job["params"]["duration"] == 3.5 and (job["params"]["width"], job["params"]["height"]) == (320, 240)
    video = client.get(url, headers=alice.headers)
    assert video.status_code == 200 and video.mimetype == "video/mp4"
    (tmp_path / "out.mp4").write_bytes(video.data)
    info = probe(tmp_path / "out.mp4")
    assert sorted(stream["codec_type"] for stream in info["streams"]) == ["audio", "video"]
    assert abs(float(info["format"]["duration"]) - (2 + 2 - 0.5)) < 0.3
    # Bob sees neither the job nor the video
    assert_error(client.get(url, headers=bob.headers), 404)
    assert_error(client.get(f"/api/studio/jobs/{job_id}", headers=bob.headers), 404)
    assert_error(client.get(f"/api/studio/outputs/{job_id}/video.webm", headers=alice.headers), 404)
    assert_error(client.get(f"/api/studio/outputs/{job_id}/..%2Fx", headers=alice.headers), 404)
    # a single "fade" for every join, WebM, the same clip twice, no music
    webm = client.post(COMPOSE, headers=alice.headers, json={
        "clips": [{"upload_id": first["id"], "start_time": 0.5, "end_time": 1.5},
                  {"upload_id": first["id"], "start_time": 1, "end_time": 2}],
        "transitions": "fade", "output_format": "webm"}).get_json()
    assert webm["status"] == "success" and webm["output"]["video_url"].endswith("/video.webm"), webm
    out = client.get(webm["output"]["video_url"], headers=alice.headers)
    assert out.mimetype == "video/webm"
    (tmp_path / "out.webm").write_bytes(out.data)
    assert abs(float(probe(tmp_path / "out.webm")["format"]["duration"]) - 1.5) < 0.3


def test_refusals_come_before_any_job(client: FlaskClient, alice: Account, bob: Account, workspace: Workspace,
                                      tmp_path: Path) -> None:
    clip = upload(client, alice, video_clip(tmp_path, "one.mp4", seconds=2, audio=False), "one.mp4")
    song = upload(client, alice, ffmpeg(tmp_path / "song.wav", "sine=duration=1"), "song.wav")
    bobs = upload(client, bob, video_clip(tmp_path, "bob.mp4", seconds=2, audio=True), "bob.mp4")

    def compose(account: Account, *clips: dict[str, Any], **fields: Any) -> Any:
        return client.post(COMPOSE, headers=account.headers, json={"clips": list(clips), **fields})

    # another user's upload, by id or URL, as a clip or as music; any URL outside the caller's uploads
    assert_error(compose(bob, {"upload_id": clip["id"], "end_time": 1}), 404)
    assert_error(compose(bob, {"url": "http://localhost" + clip["url"], "end_time": 1}), 404)
    assert_error(compose(bob, {"upload_id": bobs["id"], "end_time": 1}, music=song["id"]), 404)
    for url in ("https://example.com/clip.mp4", "/etc/passwd", "/api/studio/uploads/../../secret"):
        assert_error(compose(alice, {"url": url, "end_time": 1}), 404)
    # ten hours, refused at once; a clip past its video's end; audio as a clip; times reversed; malformed
    assert_error(compose(alice, *[{"upload_id": clip["id"], "end_time": 36000}] * 2), 400, "OUTPUT_TOO_LONG")
    assert_error(compose(alice, {"upload_id": clip["id"], "end_time": 5}), 400, "CLIP_OUT_OF_RANGE")
    assert_error(compose(alice, {"upload_id": song["id"], "end_time": 1}), 400, "NOT_A_VIDEO")
    assert_error(compose(alice, {"upload_id": clip["id"], "start_time": 1.5, "end_time": 1}), 400)
    assert_error(compose(alice, {"upload_id": clip["id"], "start_time": 0, "end_time": 1},
                         {"upload_id": clip["id"], "start_time": 0, "end_time": 1},
                         transitions=[{"type": "fade", "duration": 1.5}]), 400, "INVALID_TRANSITIONS")
    assert_error(compose(alice, {"start_time": 0, "end_time": 1}), 422)
    assert_error(compose(alice, {"upload_id": None, "end_time": 1}), 422)
    assert_error(compose(alice), 422)
    assert_error(compose(alice, {"upload_id": clip["id"], "end_time": 1}, output_format="avi"), 422)
    assert compose_jobs(workspace) == 0


def test_an_output_over_the_size_cap_fails_and_leaves_no_file(client: FlaskClient, alice: Account,
                                                              workspace: Workspace, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_STUDIO_MAX_OUTPUT_BYTES", str(8 * 1024))
    clip = upload(client, alice, video_clip(tmp_path, "one.mp4", seconds=2, audio=True), "one.mp4")
    body = client.post(COMPOSE, headers=alice.headers, json={
        "clips": [{"upload_id": clip["id"], "start_time": 0, "end_time": 2}]}).get_json()
    assert body["status"] == "failed" and body["output"] == {}, body
    assert "would exceed" in body["error_message"], body
    job = jobs.get_job(workspace, body["job_id"])
    folder = workspace.files.local_path(f"{job.project_id}/studio/jobs/{job.id}")
    assert [path for path in folder.rglob("*") if path.is_file()] == []


def test_a_cancel_kills_ffmpeg_and_leaves_no_file(client: FlaskClient, alice: Account, workspace: Workspace,
                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = upload(client, alice, video_clip(tmp_path, "long.mp4", seconds=30, size="640x480", audio=True), "long.mp4")
    runner = InProcessRunner(1)
    monkeypatch.setattr(workspace, "runner", runner)
    monkeypatch.setenv("FINETUNE_STUDIO_X264_PRESET", "veryslow")  # minutes of work for 30 s of video
    try:
        body = client.post(COMPOSE, headers=alice.headers, json={
            "clips": [{"upload_id": clip["id"], "start_time": 0, "end_time": 30}]}).get_json()
        assert body["status"] in ("queued", "running"), body
        job_id = body["job_id"]

        def state() -> dict[str, Any]:
            answer: dict[str, Any] = client.get(f"/api/studio/jobs/{job_id}", headers=alice.headers).get_json()
            return answer

        wait_until(lambda: state()["progress_pct"] > 0)
        assert state()["status"] == "running" and state()["progress_pct"] < 100
        assert client.post(f"/api/jobs/{job_id}/cancel", headers=alice.headers).status_code == 200
        wait_until(lambda: state()["status"] == "cancelled", timeout=30)
        runner.wait(job_id, timeout=30)
    finally:
        runner.shutdown(wait=True)
    job = jobs.get_job(workspace, job_id)
    folder = workspace.files.local_path(f"{job.project_id}/studio/jobs/{job.id}")
    assert [path for path in folder.rglob("*") if path.is_file()] == []
    assert_error(client.get(f"/api/studio/outputs/{job_id}/video.mp4", headers=alice.headers), 404)


def test_ffmpeg_past_the_time_limit_is_killed_and_the_job_fails(client: FlaskClient, alice: Account,
                                                                workspace: Workspace, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    clip = upload(client, alice, video_clip(tmp_path, "long.mp4", seconds=30, size="640x480", audio=False), "long.mp4")
    monkeypatch.setenv("FINETUNE_STUDIO_X264_PRESET", "veryslow")
    monkeypatch.setenv("FINETUNE_STUDIO_TIMEOUT_S", "1")
    body = client.post(COMPOSE, headers=alice.headers, json={
        "clips": [{"upload_id": clip["id"], "start_time": 0, "end_time": 30}]}).get_json()
    assert body["status"] == "failed" and "ran past" in body["error_message"], body
    job = jobs.get_job(workspace, body["job_id"])
    folder = workspace.files.local_path(f"{job.project_id}/studio/jobs/{job.id}")
    assert [path for path in folder.rglob("*") if path.is_file()] == []
