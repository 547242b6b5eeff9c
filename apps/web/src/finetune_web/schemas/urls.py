"""URLs a request may name, documented with the form the server accepts (a pattern and `format: uri`).

The server's own check decides (`finetune_core.sources.fetch.check_url`: 400 URL_NOT_ALLOWED); the
patterns describe what it accepts without asking DNS, so that every URL they match is accepted:

- `PublicUrl`: http(s), a host name (at least one dot, a last label that starts with a letter, not
  localhost or a cloud metadata name), an optional port, printable ASCII after it. A name that resolves
  to a private address is refused by the server all the same (that, no pattern can tell).
- `VideoUrl`: a YouTube video in one of the forms the YouTube loader reads (watch, youtu.be, shorts,
  embed, live), with its 11-character id.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints, WithJsonSchema

MAX_URL = 2048

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_LAST_LABEL = r"[A-Za-z_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"  # not all digits: that would read as an IPv4 address
_PORT = r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?"
_CHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"  # RFC 3986: unreserved, sub-delims, ":", "@", %XX
_REST = rf"(?:/(?:{_CHAR}|/)*)?(?:\?(?:{_CHAR}|[/?])*)?(?:#(?:{_CHAR}|[/?])*)?"  # path, query, fragment
_END = r"(?:[:/?#]|$)"


def _any_case(text: str) -> str:
    """`text` as a pattern of any letter case (ECMA 262 patterns have no inline `(?i)`)."""
    return "".join(f"[{char.upper()}{char.lower()}]" if char.isalpha() else re.escape(char) for char in text)


# refused by name whatever they resolve to: the cloud metadata service and *.localhost
_REFUSED_NAMES = (rf"(?!{_any_case('metadata.goog')}(?:{_any_case('le.internal')})?{_END})"
                  rf"(?![^:/?#]*{_any_case('.localhost')}{_END})")
PUBLIC_URL_PATTERN = rf"^{_any_case('http')}[Ss]?://{_REFUSED_NAMES}(?:{_LABEL}\.)+{_LAST_LABEL}{_PORT}{_REST}$"

_VIDEO_ID = r"[A-Za-z0-9_-]{11}"
_QUERY_ON = rf"(?:&(?:{_CHAR}|[/?])*)?(?:#(?:{_CHAR}|[/?])*)?"  # more of the query after the id, a fragment
VIDEO_URL_PATTERN = (rf"^https?://(?:(?:(?:www|m|music)\.)?youtube\.com/(?:watch\?v={_VIDEO_ID}{_QUERY_ON}"
                     rf"|(?:shorts|embed|live|v)/{_VIDEO_ID}{_REST})|youtu\.be/{_VIDEO_ID}{_REST})$")


_LENGTH = StringConstraints(min_length=1, max_length=MAX_URL)


def _url_schema(pattern: str, description: str) -> WithJsonSchema:
    """Documented with its pattern; validated by length here, and by the server's URL check (see the module doc)."""
    return WithJsonSchema({"type": "string", "format": "uri", "pattern": pattern, "minLength": 1, "maxLength": MAX_URL,
                           "description": description})


PublicUrl = Annotated[str, _LENGTH, _url_schema(
    PUBLIC_URL_PATTERN, "an http(s) URL of a public host name; 400 URL_NOT_ALLOWED for a host on a private, loopback "
                        "or metadata address")]
VideoUrl = Annotated[str, _LENGTH, _url_schema(
    VIDEO_URL_PATTERN, "a YouTube video URL (watch, youtu.be, shorts, embed, live); 400 for another")]
ModelServerUrl = Annotated[str, _LENGTH, _url_schema(
    PUBLIC_URL_PATTERN, "an OpenAI-compatible server: an http(s) URL of a public host name, or of a host the operator "
                        "listed (FINETUNE_ALLOWED_MODEL_HOSTS); 400 URL_NOT_ALLOWED otherwise")]
