"""A fake YouTube at the requests boundary (watch page, innertube player, timedtext), and a DNS stand-in.

A video may also have no captions, and audio streams in its player answer whose `url` points at `audio_host()`,
a real HTTP server on 127.0.0.1 (as googlevideo.com is reached: through the server's own HTTP fetch).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter

VIDEO = "dQw4w9WgXcQ"
_API_KEY = "fake-innertube-key"
TRANSCRIPT = [
    (0.0, 4.0, "Welcome back to the bakery school."),
    (4.0, 6.0, "Today we learn how to feed a sourdough starter."),
    (10.0, 8.0, "Discard all but fifty grams and add equal weights of flour and water."),
]


class FakeYouTube(BaseAdapter):
    """Answers the three requests youtube-transcript-api makes (watch page, innertube player, timedtext).

    `captions=False`: the player lists no caption track (the library's TranscriptsDisabled); `formats`: the
    entries of its `streamingData.adaptiveFormats` (none by default, as before).
    """

    def __init__(self, *, captions: bool = True, formats: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.captions = captions
        self.formats = list(formats)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        self.calls.append(url)
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if parts.path == "/watch":
            body = f'<html><script>ytcfg.set({{"INNERTUBE_API_KEY": "{_API_KEY}"}});</script></html>'
            return self._response(request, body, "text/html")
        if parts.path == "/youtubei/v1/player" and query.get("key") == [_API_KEY]:
            track = {"baseUrl": f"https://www.youtube.com/api/timedtext?v={VIDEO}&lang=en&fmt=srv3",
                     "name": {"runs": [{"text": "English"}]}, "languageCode": "en", "isTranslatable": False}
            player: dict[str, Any] = {"playabilityStatus": {"status": "OK"}}
            if self.captions:
                player["captions"] = {"playerCaptionsTracklistRenderer": {"captionTracks": [track],
                                                                          "translationLanguages": []}}
            if self.formats:
                player["videoDetails"] = {"videoId": VIDEO, "lengthSeconds": "3"}
                player["streamingData"] = {"expiresInSeconds": "21540", "adaptiveFormats": self.formats}
            return self._response(request, json.dumps(player), "application/json")
        if parts.path == "/api/timedtext":
            texts = "".join(f'<text start="{s}" dur="{d}">{t}</text>' for s, d, t in TRANSCRIPT)
            return self._response(request, f'<?xml version="1.0" encoding="utf-8" ?><transcript>{texts}</transcript>',
                                  "text/xml")
        return self._response(request, "not found", "text/plain", 404)

    @staticmethod
    def _response(request: requests.PreparedRequest, body: str, content_type: str,
                  status: int = 200) -> requests.Response:
        return requests_response(request, status, body, content_type)

    def close(self) -> None:
        pass


def requests_response(request: requests.PreparedRequest, status: int, body: str, content_type: str
                      ) -> requests.Response:
    """The answer a fake transport adapter gives `request`, as requests builds one from the wire."""
    response = requests.Response()
    response.status_code = status
    response._content = body.encode()
    response.headers["Content-Type"] = content_type
    response.url = request.url or ""
    response.request = request
    response.encoding = "utf-8"
    return response


def youtube_session(adapter: FakeYouTube) -> requests.Session:
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def public_resolver(seen: list[str]) -> Callable[[str, int], list[str]]:
    """A DNS stand-in answering a public address, so `add_url` needs no real DNS."""
    def resolve(host: str, port: int) -> list[str]:
        seen.append(host)
        return ["142.250.74.46"]

    return resolve


def audio_format(url: str, size: int, *, mime_type: str = 'audio/mp4; codecs="mp4a.40.2"', itag: int = 140,
                 duration_ms: int = 3000, bitrate: int = 130_000) -> dict[str, Any]:
    """An audio-only entry of `streamingData.adaptiveFormats`, as YouTube's player lists one, with a direct URL."""
    return {"itag": itag, "url": url, "mimeType": mime_type, "bitrate": bitrate, "averageBitrate": bitrate - 1000,
            "contentLength": str(size), "approxDurationMs": str(duration_ms), "audioQuality": "AUDIO_QUALITY_MEDIUM",
            "audioSampleRate": "44100", "audioChannels": 1, "lastModified": "1700000000000000"}


def video_format(url: str, size: int) -> dict[str, Any]:
    """A video-only entry (it has no audio: never the one to fetch)."""
    return {"itag": 160, "url": url, "mimeType": 'video/mp4; codecs="avc1.4d400c"', "bitrate": 100_000,
            "width": 256, "height": 144, "contentLength": str(size), "approxDurationMs": "3000", "quality": "tiny"}


def ciphered(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as YouTube lists it for most clients: its URL behind a signature cipher."""
    found = {key: value for key, value in entry.items() if key != "url"}
    found["signatureCipher"] = f"s=AOq0QJ8wRAIg&sp=sig&url={entry['url']}"
    return found


@dataclass
class AudioHost:
    """A real HTTP server on 127.0.0.1 serving `files` (path -> bytes); `endless` paths stream without end."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    endless: set[str] = field(default_factory=set)
    seen: list[str] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)  # path -> body bytes written before the client stopped


ENDLESS_LIMIT = 256 * 1024 * 1024  # where an endless body stops all the same, should the client read on


def _audio_handler(host: AudioHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path
            host.seen.append(path)
            host.sent[path] = 0
            if path in host.endless:
                self.send_response(200)
                self.send_header("Content-Type", "audio/mp4")
                self.end_headers()  # no Content-Length: the body ends when the connection does
                chunk = b"\0" * 65536
                try:
                    while host.sent[path] < ENDLESS_LIMIT:
                        self.wfile.write(chunk)
                        host.sent[path] += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading, as the test expects
                return
            body = host.files.get(path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "audio/mp4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            host.sent[path] = len(body)

    return Handler


@contextmanager
def audio_host() -> Iterator[AudioHost]:
    """An AudioHost on an ephemeral port, for the block."""
    host = AudioHost()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _audio_handler(host))
    server.daemon_threads = True
    host.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
