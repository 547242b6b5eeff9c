"""Studio uploads through the REST app: types read from the bytes (415 otherwise), 100 MB (413 before the body is
read), the owner's only, and usable for subtitles."""

from __future__ import annotations

import io
import subprocess

import pytest
from flask.testing import FlaskClient
from kits.fake_openai_media import sine_mp3, tiny_png
from kits.web_api import Account, assert_error
from kits.web_uploads import upload_one

pytestmark = pytest.mark.skipif(subprocess.run(["which", "ffmpeg"], capture_output=True).returncode != 0,
                                reason="needs ffmpeg (apt-get install ffmpeg)")
MB = 1024 * 1024


def test_an_upload_is_typed_by_its_bytes_and_only_its_owner_sees_it(client: FlaskClient, alice: Account,
                                                                     bob: Account) -> None:
    mp3 = sine_mp3(0.5)
    response = upload_one(client, alice, "/api/studio/upload", mp3, "../../music.mp4")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["mime_type"] == "audio/mpeg" and body["size"] == len(mp3) and body["filename"] == "music.mp4"
    assert body["url"] == f"/api/studio/uploads/{body['id']}"
    download = client.get(body["url"], headers=alice.headers)
    assert download.status_code == 200 and download.data == mp3 and download.mimetype == "audio/mpeg"
    assert_error(client.get(body["url"], headers=bob.headers), 404)
    assert_error(client.get("/api/studio/uploads/..%2F..%2Fsecret", headers=alice.headers), 404)
    png = upload_one(client, alice, "/api/studio/upload", tiny_png(), "picture.mp4").get_json()
    assert png["mime_type"] == "image/png"
    # Bob may not name Alice's upload for subtitles either (checked before the model setting)
    assert_error(client.post("/api/ai/subtitles", json={"file_id": body["id"]}, headers=bob.headers), 503)


def test_bytes_that_are_not_media_answer_415(client: FlaskClient, alice: Account) -> None:
    for data, name in ((b"<html><script>alert(1)</script></html>", "clip.mp4"), (b"MZ\x90\x00" * 100, "song.mp3"),
                       (b"%PDF-1.7\n", "image.png")):
        assert_error(upload_one(client, alice, "/api/studio/upload", data, name), 415, "UNSUPPORTED_FILE_TYPE")
    assert_error(client.post("/api/studio/upload", data={}, content_type="multipart/form-data",
                             headers=alice.headers), 422)


class Unread(io.BytesIO):
    def read(self, *_args: object) -> bytes:
        raise AssertionError("the body was read")


class Counting:
    """A body of `size` bytes made on demand (a multipart file part), counting what the server reads."""

    HEAD = (b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'
            b"\x00\x00\x00\x18ftypmp42")

    def __init__(self, size: int) -> None:
        self.size, self.position, self.read_bytes = size, 0, 0

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = offset if whence == 0 else self.size + offset if whence == 2 else self.position + offset
        return self.position

    def read(self, count: int = -1) -> bytes:
        count = self.size - self.position if count < 0 else min(count, self.size - self.position)
        start = self.position
        chunk = (self.HEAD[start:start + count] if start < len(self.HEAD) else b"").ljust(count, b"\x00")
        self.position += count
        self.read_bytes += count
        return chunk

    def readline(self, limit: int = -1) -> bytes:
        return self.read(limit if limit > 0 else 65536)


def test_a_101_mb_upload_is_refused_before_it_is_read(client: FlaskClient, alice: Account) -> None:
    announced = client.post("/api/studio/upload", input_stream=Unread(), headers=alice.headers,
                            content_type="multipart/form-data; boundary=x",
                            environ_overrides={"CONTENT_LENGTH": str(101 * MB)})
    assert_error(announced, 413, "PAYLOAD_TOO_LARGE")
    body = Counting(101 * MB)  # streamed, with no Content-Length: read up to the limit, no further
    streamed = client.post("/api/studio/upload", input_stream=body, headers={
        **alice.headers, "Transfer-Encoding": "chunked"}, content_type="multipart/form-data; boundary=x",
        environ_overrides={"wsgi.input_terminated": True})
    assert streamed.status_code == 413, streamed.get_json()
    assert body.read_bytes <= 100 * MB + 128 * 1024 < 101 * MB  # the limit (and a buffer), not the whole body
    assert client.get("/api/projects", headers=alice.headers).get_json()["total"] == 0
