"""HTML pages: the main text without navigation, scripts, forms and cookie banners."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from finetune_core.domain import Document, SourceType
from finetune_core.errors import SourceLoadError
from finetune_core.sources.base import FileLoader, LoadOptions
from finetune_core.sources.sniff import HTML
from finetune_core.sources.text import DocumentBuilder

if TYPE_CHECKING:
    from selectolax.lexbor import LexborHTMLParser, LexborNode

BOILERPLATE = (
    "script, style, noscript, template, nav, footer, aside, form, iframe, object, embed, svg, canvas, "
    "button, input, select, textarea, dialog, menu, [role=navigation], [role=banner], "
    "[role=contentinfo], [role=complementary], [role=search], [aria-hidden=true], [hidden]"
)
COOKIE_BANNER_MAX_CHARS = 2000
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {
    "address", "article", "blockquote", "body", "caption", "center", "dd", "details", "dialog", "div", "dl",
    "dt", "fieldset", "figcaption", "figure", "header", "hr", "html", "legend", "main", "ol", "p", "section",
    "summary", "ul",
}
_CELLS = ("td", "th")
_WHITESPACE = re.compile(r"\s+")
_COOKIE = re.compile(r"cookie|consent|gdpr", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def decode_html(data: bytes, charset: str | None = None) -> str:
    """The text of an HTML page: declared charset, BOM, UTF-8, <meta charset>, then Windows-1252."""
    meta = _META_CHARSET.search(data[:4096])
    candidates = [charset, "utf-8-sig", meta.group(1).decode("ascii") if meta else None, "cp1252"]
    for encoding in candidates:
        if not encoding:
            continue
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def _drop(nodes: list[LexborNode], root: LexborNode) -> None:
    # Decomposing a node frees its subtree: each node is dropped once, and never one inside another.
    unique = {node.mem_id: node for node in nodes if node.mem_id != root.mem_id}
    for node in unique.values():
        parent = node.parent
        while parent is not None and parent.mem_id not in unique:
            parent = parent.parent
        if parent is None:
            node.decompose()


def _inside(node: LexborNode, tags: set[str], stop: LexborNode) -> bool:
    parent = node.parent
    while parent is not None and parent.mem_id != stop.mem_id:
        if parent.tag in tags:
            return True
        parent = parent.parent
    return stop.tag in tags


def _main_node(parser: LexborHTMLParser) -> LexborNode | None:
    main = parser.css_first("main, [role=main]")
    if main is not None:
        return main
    articles = parser.css("article")
    return articles[0] if len(articles) == 1 else parser.body


def _strip_boilerplate(root: LexborNode) -> None:
    doomed = root.css(BOILERPLATE)
    doomed += [node for node in root.css("header") if not _inside(node, {"article", "main"}, root)]
    doomed += [node for node in root.css("[id], [class]") if _is_cookie_banner(node)]
    _drop(doomed, root)


def _is_cookie_banner(node: LexborNode) -> bool:
    names = f"{node.attributes.get('id') or ''} {node.attributes.get('class') or ''}"
    # a short block: a page wrapper with a "cookies-accepted" class is not a banner
    return bool(_COOKIE.search(names)) and len(node.text()) < COOKIE_BANNER_MAX_CHARS


class _Walker:
    """Turns the element tree into blocks: one paragraph per block element, list item or table."""

    def __init__(self) -> None:
        self.builder = DocumentBuilder()
        self._buffer: list[str] = []
        self._list_item = False

    def flush(self) -> None:
        # Source newlines were collapsed on the way in; the ones left come from <br>.
        lines = (" ".join(line.split()) for line in "".join(self._buffer).split("\n"))
        text = "\n".join(line for line in lines if line)
        if self._list_item:
            self.builder.list_item(text)
        else:
            self.builder.paragraph(text)
        self._buffer.clear()
        self._list_item = False

    def walk(self, node: LexborNode) -> None:
        for child in node.iter(include_text=True):
            tag = child.tag or ""
            if child.is_text_node:
                self._buffer.append(_WHITESPACE.sub(" ", child.text_content or ""))
            elif not child.is_element_node:
                continue
            elif tag in _HEADINGS:
                self.flush()
                self.builder.heading(_HEADINGS[tag], child.text())
            elif tag == "br":
                self._buffer.append("\n")
            elif tag == "li":
                self.flush()
                self._list_item = True
                self.walk(child)
                self.flush()
            elif tag == "pre":
                self.flush()
                self.builder.paragraph(child.text())
            elif tag == "table":
                self.flush()
                self.builder.paragraph("\n".join(_table_rows(child)))
            elif tag in _BLOCKS:
                self.flush()
                self.walk(child)
                self.flush()
            else:
                self.walk(child)


def _table_rows(table: LexborNode) -> list[str]:
    rows = []
    for row in table.css("tr"):
        cells = [" ".join(cell.text(separator=" ").split()) for cell in row.iter() if cell.tag in _CELLS]
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def html_to_document(html: str) -> Document:
    """The main text of a page, its headings, title and declared language."""
    from selectolax.lexbor import LexborHTMLParser  # imported on first use, like every loader's library

    parser = LexborHTMLParser(html)
    title_node = parser.css_first("title")
    title = " ".join(title_node.text().split()) if title_node is not None else ""
    root_node = parser.css_first("html")
    language = (root_node.attributes.get("lang") or "").split("-")[0].lower() if root_node is not None else ""
    root = _main_node(parser)
    walker = _Walker()
    if root is not None:
        _strip_boilerplate(root)
        try:
            walker.walk(root)
        except RecursionError:
            raise SourceLoadError("the HTML page is nested too deeply to be read") from None
        walker.flush()
    builder = walker.builder
    if not builder.text.strip():
        raise SourceLoadError("the HTML page has no readable text")
    if not title:
        first = next((h for h in builder.headings if h.level == 1), None)
        title = first.title if first else ""
    return Document(text=builder.text, title=title or None, headings=builder.headings,
                    language=language or None)


def load_html(data: bytes, options: LoadOptions) -> Document:
    if not data.strip():
        raise SourceLoadError("the HTML file is empty")
    return html_to_document(decode_html(data))


html_loader = FileLoader(name="html", source_type=SourceType.HTML, mime_types=(HTML,), load=load_html)
