"""A fake YouTube at the requests boundary (watch page, innertube player, timedtext), and a DNS stand-in."""

from __future__ import annotations

import json
from collections.abc import Callable
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
    """Answers the three requests youtube-transcript-api makes (watch page, innertube player, timedtext)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

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
            player = {"playabilityStatus": {"status": "OK"},
                      "captions": {"playerCaptionsTracklistRenderer": {"captionTracks": [track],
                                                                        "translationLanguages": []}}}
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
