"""YouTube loader against a fake YouTube served at the HTTP boundary of youtube-transcript-api.

The library (1.2.x) makes three requests: GET the watch page (it reads INNERTUBE_API_KEY from it),
POST the innertube player endpoint (caption tracks and playability), GET the track's timedtext XML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import requests
from finetune_core.errors import SourceLoadError
from finetune_core.sources.base import FetchContext
from finetune_core.sources.fetch import SafeFetcher
from finetune_core.sources.youtube import fetch_youtube, matches, paragraphs, video_id
from kits.fake_youtube import requests_response
from requests.adapters import BaseAdapter
from youtube_transcript_api import FetchedTranscriptSnippet

VIDEO = "dQw4w9WgXcQ"
API_KEY = "fake-innertube-key"
TRACK_URL = "https://www.youtube.com/api/timedtext?v={video}&lang={lang}"


def _track(lang: str, name: str, *, generated: bool = False) -> dict[str, Any]:
    track: dict[str, Any] = {
        "baseUrl": TRACK_URL.format(video=VIDEO, lang=lang) + "&fmt=srv3",
        "name": {"runs": [{"text": name}]},
        "languageCode": lang,
        "isTranslatable": False,
    }
    if generated:
        track["kind"] = "asr"
    return track


def _timedtext(lines: list[tuple[float, float, str]]) -> str:
    texts = "".join(f'<text start="{start}" dur="{dur}">{text}</text>' for start, dur, text in lines)
    return f'<?xml version="1.0" encoding="utf-8" ?><transcript>{texts}</transcript>'


EN_LINES = [
    (0.0, 4.0, "Welcome back to the bakery."),
    (4.0, 5.0, "Today we feed the starter &amp;amp; mix the dough"),
    (30.0, 20.0, "and we wait."),
    (50.0, 15.0, "It should double in about six hours."),
    (65.0, 5.0, "Then we shape it."),
    (70.0, 5.0, "Thanks for watching!"),
]
FR_LINES = [(0.0, 3.0, "Bonjour et bienvenue."), (3.0, 3.0, "Aujourd'hui, le levain.")]


class FakeYouTube(BaseAdapter):
    """Answers the requests youtube-transcript-api makes, like YouTube would."""

    def __init__(self, player: dict[str, Any], transcripts: Mapping[str, str] | None = None,
                 watch_status: int = 200) -> None:
        super().__init__()
        self.player = player
        self.transcripts = transcripts or {}
        self.watch_status = watch_status
        self.calls: list[tuple[str, str]] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        self.calls.append((request.method or "", url))
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if parts.path == "/watch":
            body = f'<html><script>ytcfg.set({{"INNERTUBE_API_KEY": "{API_KEY}"}});</script></html>'
            return self._response(request, self.watch_status, body, "text/html")
        if parts.path == "/youtubei/v1/player" and query.get("key") == [API_KEY]:
            assert isinstance(request.body, bytes)
            payload = json.loads(request.body)
            assert payload["videoId"] == VIDEO
            return self._response(request, 200, json.dumps(self.player), "application/json")
        if parts.path == "/api/timedtext":
            return self._response(request, 200, self.transcripts[query["lang"][0]], "text/xml")
        return self._response(request, 404, "not found", "text/plain")

    @staticmethod
    def _response(request: requests.PreparedRequest, status: int, body: str, content_type: str
                  ) -> requests.Response:
        return requests_response(request, status, body, content_type)

    def close(self) -> None:
        pass


def _player(*tracks: dict[str, Any], status: str = "OK", reason: str | None = None) -> dict[str, Any]:
    player: dict[str, Any] = {"playabilityStatus": {"status": status}}
    if reason:
        player["playabilityStatus"]["reason"] = reason
    if tracks:
        player["captions"] = {"playerCaptionsTracklistRenderer": {"captionTracks": list(tracks),
                                                                   "translationLanguages": []}}
    return player


def _context(adapter: BaseAdapter, languages: tuple[str, ...] = ("en", "fr")) -> FetchContext:
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)

    def no_network(request: httpx.Request) -> httpx.Response:
        raise AssertionError("the YouTube loader must not use the generic fetcher")

    return FetchContext(fetcher=SafeFetcher(transport=httpx.MockTransport(no_network)), languages=languages,
                        requests_session=session)


@pytest.mark.parametrize(
    "url",
    [
        f"https://www.youtube.com/watch?v={VIDEO}",
        f"https://youtube.com/watch?v={VIDEO}&t=42s&list=PL123",
        f"https://m.youtube.com/watch?feature=share&v={VIDEO}",
        f"https://youtu.be/{VIDEO}?si=abc",
        f"https://www.youtube.com/shorts/{VIDEO}",
        f"https://www.youtube.com/embed/{VIDEO}",
        f"http://www.youtube.com/live/{VIDEO}",
    ],
)
def test_video_urls_are_recognised(url: str) -> None:
    assert video_id(url) == VIDEO
    assert matches(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/",
        "https://www.youtube.com/watch?v=short",
        "https://www.youtube.com/@somechannel",
        f"https://www.youtube.com.evil.example/watch?v={VIDEO}",
        f"https://notyoutube.com/watch?v={VIDEO}",
        f"ftp://youtu.be/{VIDEO}",
        "https://example.org/page",
    ],
)
def test_other_urls_are_not_videos(url: str) -> None:
    assert not matches(url)


def test_transcript_becomes_paragraphs() -> None:
    fake = FakeYouTube(_player(_track("en", "English")), {"en": _timedtext(EN_LINES)})
    document = fetch_youtube(f"https://youtu.be/{VIDEO}", _context(fake))
    assert document.text == (
        "Welcome back to the bakery. Today we feed the starter & mix the dough and we wait. "
        "It should double in about six hours.\n\n"
        "Then we shape it. Thanks for watching!"
    )
    assert document.language == "en"
    assert document.metadata == {
        "url": f"https://youtu.be/{VIDEO}",
        "video_id": VIDEO,
        "transcript_language": "English",
        "transcript_language_code": "en",
        "transcript_generated": False,
        "duration_s": 75.0,
    }
    assert [method for method, _ in fake.calls] == ["GET", "POST", "GET"]
    assert fake.calls[2][1] == TRACK_URL.format(video=VIDEO, lang="en")  # the library drops &fmt=srv3


def test_language_preference_follows_the_context() -> None:
    fake = FakeYouTube(_player(_track("en", "English"), _track("fr", "Français", generated=True)),
                       {"en": _timedtext(EN_LINES), "fr": _timedtext(FR_LINES)})
    document = fetch_youtube(f"https://www.youtube.com/watch?v={VIDEO}", _context(fake, ("fr", "en")))
    assert document.text == "Bonjour et bienvenue. Aujourd'hui, le levain."
    assert document.language == "fr"
    assert document.metadata["transcript_generated"] is True


@pytest.mark.parametrize(
    ("player", "message"),
    [
        (_player(_track("de", "Deutsch")), "no transcript in en, fr"),
        (_player(), "subtitles are disabled"),
        (_player(status="ERROR", reason="This video is unavailable"), "unavailable"),
        (_player(status="LOGIN_REQUIRED", reason="This video may be inappropriate for some users."),
         "age-restricted"),
        (_player(status="LOGIN_REQUIRED", reason="Sign in to confirm you’re not a bot"), "refusing requests"),
        (_player(status="UNPLAYABLE", reason="Video is private"), "cannot be played: Video is private"),
    ],
)
def test_library_errors_become_clear_messages(player: dict[str, Any], message: str) -> None:
    fake = FakeYouTube(player, {"de": _timedtext(FR_LINES)})
    with pytest.raises(SourceLoadError, match=message):
        fetch_youtube(f"https://youtu.be/{VIDEO}", _context(fake))


def test_http_failures() -> None:
    with pytest.raises(SourceLoadError, match="refusing requests"):
        fetch_youtube(f"https://youtu.be/{VIDEO}", _context(FakeYouTube(_player(), watch_status=429)))
    with pytest.raises(SourceLoadError, match="request to YouTube failed"):
        fetch_youtube(f"https://youtu.be/{VIDEO}", _context(FakeYouTube(_player(), watch_status=500)))

    class Offline(BaseAdapter):
        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
            raise requests.ConnectionError("network is unreachable")

        def close(self) -> None:
            pass

    with pytest.raises(SourceLoadError, match="could not reach YouTube"):
        fetch_youtube(f"https://youtu.be/{VIDEO}", _context(Offline()))


def test_empty_or_broken_transcripts() -> None:
    empty = FakeYouTube(_player(_track("en", "English")), {"en": _timedtext([])})
    with pytest.raises(SourceLoadError, match="transcript of this YouTube video is empty"):
        fetch_youtube(f"https://youtu.be/{VIDEO}", _context(empty))
    broken = FakeYouTube(_player(_track("en", "English")), {"en": "<transcript><text start="})
    with pytest.raises(SourceLoadError, match="could not be read"):
        fetch_youtube(f"https://youtu.be/{VIDEO}", _context(broken))


def test_not_a_video_url() -> None:
    with pytest.raises(SourceLoadError, match="not a YouTube video URL"):
        fetch_youtube("https://www.youtube.com/feed/trending", _context(FakeYouTube(_player())))


def test_paragraph_breaks() -> None:
    def snippet(start: float, text: str, duration: float = 5.0) -> FetchedTranscriptSnippet:
        return FetchedTranscriptSnippet(text=text, start=start, duration=duration)

    # no punctuation at all (auto captions): a hard break after 90 s
    unpunctuated = [snippet(t, f"word{t}") for t in range(0, 210, 10)]
    found = paragraphs(unpunctuated)
    assert [(p.split()[0], p.split()[-1]) for p in found] == [("word0", "word90"), ("word100", "word190"),
                                                              ("word200", "word200")]
    # a sentence end after a minute closes the paragraph; before a minute it does not
    punctuated = [snippet(0, "One."), snippet(30, "Two."), snippet(61, "Three."), snippet(70, "Four.")]
    assert paragraphs(punctuated) == ["One. Two. Three.", "Four."]
    assert paragraphs([snippet(0, "  \n "), snippet(5, "line\nbreak")]) == ["line break"]
