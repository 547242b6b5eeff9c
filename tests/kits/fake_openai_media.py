"""A fake OpenAI media API on 127.0.0.1, in OpenAI's documented wire format, for the SDK's real HTTP calls.

    POST /v1/images/generations      JSON in; `{"created", "data": [{"b64_json", "revised_prompt"}]}` out
    POST /v1/audio/speech            JSON in; MP3 bytes out (made by ffmpeg's lavfi sine)
    POST /v1/audio/transcriptions    multipart in (`file`, `model`, `response_format`, `language`...);
                                     `verbose_json` out: task, language, duration, text, segments
    GET  /files/{name}               bytes put in `files` (an audio URL to fetch)

Every request is kept in `requests` (path, headers, JSON body or form fields, files: sizes, bytes and names).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SEGMENTS = [{"id": 0, "seek": 0, "start": 0.0, "end": 1.52, "text": " Bonjour, bienvenue sur Créalia.",
             "tokens": [50364, 2], "temperature": 0.0, "avg_logprob": -0.21, "compression_ratio": 1.1,
             "no_speech_prob": 0.01},
            {"id": 1, "seek": 0, "start": 1.52, "end": 3725.25, "text": " Une heure plus tard --> fin.",
             "tokens": [50440, 3], "temperature": 0.0, "avg_logprob": -0.3, "compression_ratio": 1.2,
             "no_speech_prob": 0.02}]


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """A real PNG of a red rectangle."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def sine_mp3(seconds: float = 1.0) -> bytes:
    return subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                           f"sine=frequency=440:duration={seconds}", "-f", "mp3", "pipe:1"],
                          capture_output=True, check=True, timeout=60).stdout


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    file_sizes: dict[str, int] = field(default_factory=dict)
    file_contents: dict[str, bytes] = field(default_factory=dict)
    file_names: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeOpenAIMedia:
    url: str = ""
    png: bytes = field(default_factory=tiny_png)
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    status: int = 200  # another status answers every API call with OpenAI's error body

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


def _handler(fake: FakeOpenAIMedia) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, value: Any) -> None:
            self._send(status, json.dumps(value).encode(), "application/json")

        def do_GET(self) -> None:
            name = self.path.removeprefix("/files/")
            if self.path.startswith("/files/") and name in fake.files:
                self._send(200, fake.files[name], "audio/mpeg")
            else:
                self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen = Seen("POST", self.path, {key.lower(): value for key, value in self.headers.items()})
            content_type = self.headers.get("Content-Type", "")
            if content_type.startswith("application/json"):
                seen.json = json.loads(body)
            elif content_type.startswith("multipart/form-data"):
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
                for part in message.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    payload = part.get_payload(decode=True) or b""
                    if part.get_filename():
                        seen.file_sizes[str(name)] = len(payload)
                        seen.file_contents[str(name)] = payload
                        seen.file_names[str(name)] = str(part.get_filename())
                    else:
                        seen.form[str(name)] = payload.decode()
            fake.requests.append(seen)
            if fake.status != 200:
                self._json(fake.status, {"error": {"message": "refused by the fake", "type": "invalid_request_error",
                                                   "code": None, "param": None}})
            elif self.path == "/v1/images/generations":
                self._json(200, {"created": 1700000000, "data": [
                    {"b64_json": base64.b64encode(fake.png).decode(), "revised_prompt": seen.json["prompt"]}]})
            elif self.path == "/v1/audio/speech":
                self._send(200, sine_mp3(), "audio/mpeg")
            elif self.path == "/v1/audio/transcriptions":
                self._json(200, {"task": "transcribe", "language": "french", "duration": 3725.25,
                                 "text": " ".join(item["text"].strip() for item in SEGMENTS), "segments": SEGMENTS})
            else:
                self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

    return Handler


@contextmanager
def fake_openai_media() -> Iterator[FakeOpenAIMedia]:
    fake = FakeOpenAIMedia()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
