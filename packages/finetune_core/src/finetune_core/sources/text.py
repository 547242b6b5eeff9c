"""Plain-text and Markdown files, and the block builder the structured loaders share."""

from __future__ import annotations

import re

from finetune_core.domain import Document, Heading, SourceType
from finetune_core.errors import SourceLoadError
from finetune_core.sources.base import FileLoader, LoadOptions
from finetune_core.sources.sniff import MARKDOWN, PLAIN, decode_text

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_LIST_ITEM = re.compile(r"^ {0,3}([-*+]|\d+[.)])[ \t]")


class DocumentBuilder:
    """Paragraphs joined by blank lines, with headings recorded at their offsets."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._in_list = False
        self.headings: list[Heading] = []

    def _append(self, block: str, separator: str = "\n\n") -> int:
        if self._parts:
            self._parts.append(separator)
            self._length += len(separator)
        offset = self._length
        self._parts.append(block)
        self._length += len(block)
        self._in_list = False
        return offset

    def paragraph(self, text: str) -> None:
        block = text.strip()
        if block:
            self._append(block)

    def list_item(self, text: str) -> None:
        """A `- item` line; consecutive items form one block."""
        item = text.strip()
        if item:
            self._append(f"- {item}", "\n" if self._in_list else "\n\n")
            self._in_list = True

    def heading(self, level: int, title: str) -> None:
        title = " ".join(title.split())
        if title:
            offset = self._append(title)
            self.headings.append(Heading(level=max(1, min(level, 6)), title=title, offset=offset))

    @property
    def text(self) -> str:
        return "".join(self._parts)


def decode_or_fail(data: bytes, what: str = "file") -> str:
    """The text of `data`, with Unix newlines; SourceLoadError when empty or binary."""
    if not data.strip():
        raise SourceLoadError(f"the {what} is empty")
    text = decode_text(data)
    if text is None:
        raise SourceLoadError(f"the {what} is not readable text (binary data or an unknown encoding)")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise SourceLoadError(f"the {what} contains only whitespace")
    return text


def markdown_headings(text: str) -> list[Heading]:
    """ATX (`#`..`######`) and setext (`===`/`---` underline) headings outside fenced code blocks."""
    headings: list[Heading] = []
    offset = 0
    fence: str | None = None
    previous: tuple[int, str] | None = None  # a paragraph line a setext underline may turn into a heading
    for line in text.split("\n"):
        fenced = _FENCE.match(line)
        if fence is not None:
            if fenced and fenced.group(1) == fence:
                fence = None
        elif fenced:
            fence, previous = fenced.group(1), None
        elif atx := _ATX.match(line):
            headings.append(Heading(level=len(atx.group(1)), title=atx.group(2).strip(), offset=offset))
            previous = None
        elif (setext := _SETEXT.match(line)) and previous is not None:
            level = 1 if setext.group(1).startswith("=") else 2
            headings.append(Heading(level=level, title=previous[1], offset=previous[0]))
            previous = None
        elif line.strip() and not _LIST_ITEM.match(line) and not line.startswith((" " * 4, "\t", ">")):
            previous = (offset, line.strip())
        else:
            previous = None
        offset += len(line) + 1
    return headings


def load_text(data: bytes, options: LoadOptions) -> Document:
    return Document(text=decode_or_fail(data))


def load_markdown(data: bytes, options: LoadOptions) -> Document:
    text = decode_or_fail(data)
    headings = markdown_headings(text)
    title = next((h.title for h in headings if h.level == 1), headings[0].title if headings else None)
    return Document(text=text, title=title, headings=headings)


text_loader = FileLoader(name="text", source_type=SourceType.TEXT, mime_types=(PLAIN,), load=load_text)
markdown_loader = FileLoader(
    name="markdown", source_type=SourceType.MARKDOWN, mime_types=(MARKDOWN,), load=load_markdown
)
