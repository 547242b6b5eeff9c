"""A YouTube video's audio, for speech-to-text: the smallest audio-only stream its innertube player answer lists.

The player answer is the one youtube-transcript-api reads captions from: the same watch page and request (the
library's own constants), on the same `requests` session, so a test's fake YouTube answers both. Only streams
with a direct `url` can be fetched: those behind `signatureCipher` need YouTube's player script to decipher,
which is not done here. The stream is fetched through the SSRF-safe fetcher, its size capped while it streams.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import requests
from youtube_transcript_api._settings import INNERTUBE_API_URL, INNERTUBE_CONTEXT, WATCH_URL

from finetune_core.errors import SourceLoadError, UrlNotAllowedError
from finetune_core.sources.fetch import MB, SafeFetcher

SUFFIXES = {"audio/mp4": ".m4a", "audio/webm": ".webm", "audio/mpeg": ".mp3", "audio/ogg": ".ogg"}
_API_KEY = re.compile(r'"INNERTUBE_API_KEY":\s*"([a-zA-Z0-9_-]+)"')


@dataclass(frozen=True)
class AudioStream:
    """One audio-only stream of a video, fetchable at `url`."""

    url: str
    mime_type: str  # without its codecs: audio/mp4, audio/webm
    size_bytes: int | None  # contentLength, else estimated from the bitrate and the duration
    duration_s: float | None
    language: str | None  # of its audio track, listed only when a video has several

    @property
    def suffix(self) -> str:
        """The file name ending a transcription API recognises the container by."""
        return SUFFIXES.get(self.mime_type, ".webm")


@dataclass(frozen=True)
class VideoAudio:
    stream: AudioStream
    content: bytes


def player_answer(video_id: str, session: requests.Session) -> dict[str, Any]:
    """YouTube's innertube player answer for the video, asked as youtube-transcript-api asks it."""
    try:
        page = session.get(WATCH_URL.format(video_id=video_id))
        page.raise_for_status()
        key = _API_KEY.search(html.unescape(page.text))
        if key is None:
            raise SourceLoadError("YouTube's watch page gave no player key, so the video's audio cannot be found",
                                  video_id=video_id)
        answer = session.post(INNERTUBE_API_URL.format(api_key=key.group(1)),
                              json={"context": INNERTUBE_CONTEXT, "videoId": video_id})
        answer.raise_for_status()
        data = answer.json()
    except requests.JSONDecodeError:
        raise SourceLoadError("YouTube's player answer is not JSON", video_id=video_id) from None
    except requests.RequestException as exc:
        raise SourceLoadError(f"could not reach YouTube: {exc}", video_id=video_id) from None
    if not isinstance(data, dict):
        raise SourceLoadError("YouTube's player answer is not a JSON object", video_id=video_id)
    playability = data.get("playabilityStatus") or {}
    if playability.get("status", "OK") != "OK":
        raise SourceLoadError(f"the YouTube video cannot be played: {playability.get('reason') or 'no reason given'}",
                              video_id=video_id)
    return data


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _stream(entry: dict[str, Any], video_seconds: float | None) -> AudioStream:
    duration_ms = _number(entry.get("approxDurationMs"))
    duration = duration_ms / 1000 if duration_ms is not None else video_seconds
    size = _number(entry.get("contentLength"))
    bitrate = _number(entry.get("averageBitrate")) or _number(entry.get("bitrate"))
    if size is None and bitrate is not None and duration is not None:
        size = bitrate * duration / 8
    track = entry.get("audioTrack") or {}
    language = str(track.get("id", "")).split(".")[0].split("-")[0].lower() or None
    mime_type = str(entry.get("mimeType", "")).split(";")[0].strip().lower()
    return AudioStream(url=str(entry["url"]), mime_type=mime_type, size_bytes=None if size is None else int(size),
                       duration_s=duration, language=language)


def audio_streams(player: dict[str, Any]) -> tuple[list[AudioStream], int]:
    """The audio-only streams with a direct URL, and how many more there are behind a signature cipher."""
    streaming = player.get("streamingData") or {}
    video_seconds = _number((player.get("videoDetails") or {}).get("lengthSeconds"))
    streams: list[AudioStream] = []
    ciphered = 0
    for entry in [*(streaming.get("formats") or []), *(streaming.get("adaptiveFormats") or [])]:
        if not isinstance(entry, dict) or not str(entry.get("mimeType", "")).lower().startswith("audio/"):
            continue
        if isinstance(entry.get("url"), str) and entry["url"]:
            streams.append(_stream(entry, video_seconds))
        elif entry.get("signatureCipher") or entry.get("cipher"):
            ciphered += 1
    return streams, ciphered


def _megabytes(size: float) -> str:
    return f"{size / MB:.1f} MB"


def smallest_stream(player: dict[str, Any], video_id: str, *, max_bytes: int, max_seconds: float) -> AudioStream:
    """The smallest fetchable audio-only stream; SourceLoadError when there is none, or it is too long or large."""
    streams, ciphered = audio_streams(player)
    if not streams:
        raise SourceLoadError(
            f"the {ciphered} audio stream(s) of this video are signature-protected (signatureCipher) and cannot be "
            "fetched directly" if ciphered else "YouTube lists no audio stream for this video", video_id=video_id)
    stream = min(streams, key=lambda item: (item.size_bytes is None, item.size_bytes or 0))
    if stream.duration_s is not None and stream.duration_s > max_seconds:
        raise SourceLoadError(f"the video lasts {stream.duration_s / 60:.0f} min, longer than the "
                              f"{max_seconds / 60:g} min speech-to-text is done for", video_id=video_id,
                              duration_s=stream.duration_s, max_seconds=max_seconds)
    if stream.size_bytes is not None and stream.size_bytes > max_bytes:
        raise SourceLoadError(f"the smallest audio stream of this video is {_megabytes(stream.size_bytes)}, more "
                              f"than the {_megabytes(max_bytes)} the transcription model takes", video_id=video_id,
                              size_bytes=stream.size_bytes, max_bytes=max_bytes)
    return stream


def fetch_audio(video_id: str, session: requests.Session, fetcher: SafeFetcher, *, max_seconds: float) -> VideoAudio:
    """The smallest audio stream of the video, at most `fetcher.max_bytes` (checked while it streams)."""
    stream = smallest_stream(player_answer(video_id, session), video_id, max_bytes=fetcher.max_bytes,
                             max_seconds=max_seconds)
    try:
        result = fetcher.get(stream.url)
    except UrlNotAllowedError as error:
        raise SourceLoadError(f"YouTube's audio stream URL was refused: {error.context.get('reason')}",
                              video_id=video_id) from None
    except SourceLoadError as error:
        if "max_bytes" in error.context:
            raise SourceLoadError(f"the audio of this video is larger than the {_megabytes(fetcher.max_bytes)} the "
                                  "transcription model takes", video_id=video_id, max_bytes=fetcher.max_bytes) from None
        # the stream URL is long and says nothing to the caller
        raise SourceLoadError(f"the video's audio stream could not be fetched: "
                              f"{error.message.replace(stream.url, 'it')}", video_id=video_id) from None
    return VideoAudio(stream=stream, content=result.content)
