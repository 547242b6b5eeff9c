"""Safe file names: a basename of ASCII letters, digits and `._-`, never a path."""

from __future__ import annotations

import re
import unicodedata

MAX_LENGTH = 255
FALLBACK = "file"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DOTS = re.compile(r"\.{2,}")
_EXTENSION = re.compile(r"^[A-Za-z0-9]{1,16}$")
# Device names Windows refuses whatever the extension.
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"{port}{i}" for port in ("COM", "LPT") for i in range(1, 10))}


def _clean(part: str) -> str:
    ascii_part = unicodedata.normalize("NFKD", part).encode("ascii", "ignore").decode("ascii")
    cleaned = _DOTS.sub(".", _UNSAFE.sub("_", ascii_part))
    return re.sub(r"_{2,}", "_", cleaned).strip("._- ")


def sanitize_filename(name: str) -> str:
    """The last path component of `name`, reduced to `[A-Za-z0-9._-]`, keeping its extension."""
    base = re.split(r"[/\\]", name.replace("\x00", ""))[-1]
    stem, dot, extension = base.rpartition(".")
    if not dot or not _EXTENSION.match(_clean(extension)):
        stem, extension = base, ""
    suffix = f".{_clean(extension)}" if extension else ""
    stem = _clean(stem)[: MAX_LENGTH - len(suffix)].rstrip("._-") or FALLBACK
    if stem.upper() in _RESERVED:
        stem = f"{stem}_"
    return stem + suffix
