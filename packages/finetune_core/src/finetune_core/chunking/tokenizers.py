"""Exact, offline tokenizers by name: OpenAI vocabularies, local Hugging Face files, whitespace."""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from finetune_core.chunking.base import Tokenizer
from finetune_core.errors import InvalidInputError, UnknownPluginError

DEFAULT_TOKENIZER = "o200k_base"
OPENAI_ENCODINGS = ("o200k_base", "cl100k_base")
KNOWN_TOKENIZERS = (*OPENAI_ENCODINGS, "whitespace", "hf:<path to tokenizer.json or its folder>")

# bpe-openai refuses calls of >= 1,000,000 characters or > 200,000 tokens. A character is at most
# 4 UTF-8 bytes and a token at least one byte, so 50,000 characters can never reach either limit.
MAX_PIECE_CHARS = 50_000

# A letter or digit followed by whitespace or punctuation that never continues a pre-token. No
# pre-tokenizer pattern of o200k_base or cl100k_base lets a token that holds a letter or digit run on
# into such a character (only marks and ASCII contractions like 's do), so a cut there falls between
# pre-tokens and the pieces' counts add up to the whole text's count exactly.
_SEAM = re.compile(r"(?<=[^\W_])[\s.,;:!?()\[\]{}\"«»“”。，、！？：；]")


class WhitespaceTokenizer:
    """One token per run of non-whitespace; an id is the word's UTF-8 bytes, so no vocabulary is needed."""

    name = "whitespace"

    def encode(self, text: str) -> list[int]:
        # the leading 0x01 keeps a word's leading NUL bytes through the int round trip
        words = (b"\x01" + word.encode("utf-8", "surrogatepass") for word in text.split())
        return [int.from_bytes(word, "big") for word in words]

    def decode(self, ids: Sequence[int]) -> str:
        words = (i.to_bytes((i.bit_length() + 7) // 8, "big")[1:].decode("utf-8", "replace") for i in ids)
        return " ".join(words)

    def count(self, text: str) -> int:
        return len(text.split())


def split_at_seams(text: str, limit: int = MAX_PIECE_CHARS) -> Iterator[str]:
    """Pieces of at most `limit` characters, cut where the OpenAI pre-tokenizers cut anyway."""
    start, end = 0, len(text)
    while end - start > limit:
        cut = _last_seam(text, start + limit // 2, start + limit) or start + limit
        yield text[start:cut]
        start = cut
    yield text[start:]


def _letter_or_digit(char: str) -> bool:
    return unicodedata.category(char)[0] in "LN"


def _last_seam(text: str, lo: int, hi: int) -> int | None:
    width = 256  # a seam is nearly always a few characters away: look near the end first
    while True:
        window = max(lo, hi - width)
        seams = [m.start() for m in _SEAM.finditer(text, window, hi) if _letter_or_digit(text[m.start() - 1])]
        if seams:
            return seams[-1]
        if window == lo:
            # No seam (e.g. 25,000 CJK characters without punctuation): the hard cut may shift the
            # count of such a huge text by a token.
            return None
        width *= 16


class OpenAITokenizer:
    """o200k_base or cl100k_base through bpe-openai's Rust BPE, with its vocabulary bundled."""

    def __init__(self, name: str) -> None:
        self.name = name
        with warnings.catch_warnings():  # bpe-openai reads its bundled vocabularies with a deprecated call
            warnings.simplefilter("ignore", DeprecationWarning)
            import bpe_openai

            self._encoding: Any = bpe_openai.get_encoding(name)
        # The Rust object counts without building a list; the wrapper exposes only encode.
        backend = getattr(self._encoding, "_backend", None)
        self._count: Callable[[str], int] = getattr(backend, "count", None) or self._count_by_encoding

    def _count_by_encoding(self, text: str) -> int:
        return len(self._encoding.encode_ordinary(text))

    def encode(self, text: str) -> list[int]:
        if len(text) <= MAX_PIECE_CHARS:
            return list(self._encoding.encode_ordinary(text))
        ids: list[int] = []
        for piece in split_at_seams(text):
            ids.extend(self._encoding.encode_ordinary(piece))
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._encoding.decode(list(ids)))

    def count(self, text: str) -> int:
        if len(text) > MAX_PIECE_CHARS:
            return sum(self._count_piece(piece) for piece in split_at_seams(text))
        return self._count_piece(text)

    def _count_piece(self, text: str) -> int:
        try:
            return self._count(text)
        except UnicodeEncodeError:  # lone surrogates: count them as U+FFFD, as encode_ordinary does
            return self._count(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))


class HuggingFaceTokenizer:
    """A `tokenizer.json` read from a local file or folder with the optional `tokenizers` package."""

    def __init__(self, path: str) -> None:
        try:
            from tokenizers import Tokenizer as HFTokenizer
        except ImportError:
            raise InvalidInputError(
                "the 'hf:' tokenizers need the 'tokenizers' package: pip install 'finetune-core[hf]'"
            ) from None
        file = Path(path).expanduser()
        try:
            if file.is_dir():
                file = file / "tokenizer.json"
            found = file.is_file()
        except OSError:  # a name the system cannot look up (too long...)
            found = False
        if not found:
            raise InvalidInputError(f"no tokenizer.json at '{path}'", path=path)
        self.name = f"hf:{path}"
        self._tokenizer = HFTokenizer.from_file(str(file))

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(list(ids))

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids) if text else 0


def get_tokenizer(name: str = DEFAULT_TOKENIZER) -> Tokenizer:
    """The tokenizer called `name`, built once per process."""
    return _build(name)


@lru_cache(maxsize=32)
def _build(name: str) -> Tokenizer:
    if name in OPENAI_ENCODINGS:
        return OpenAITokenizer(name)
    if name == "whitespace":
        return WhitespaceTokenizer()
    if name.startswith("hf:") and len(name) > 3:
        return HuggingFaceTokenizer(name[3:])
    raise UnknownPluginError(f"no tokenizer named '{name}' (known: {', '.join(KNOWN_TOKENIZERS)})", name=name)
