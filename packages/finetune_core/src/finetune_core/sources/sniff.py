"""MIME types read from the bytes; the file name may only break ties between text types."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import PurePosixPath

import filetype

from finetune_core.domain import SourceType

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
JSON = "application/json"
JSONL = "application/jsonl"
CSV = "text/csv"
HTML = "text/html"
MARKDOWN = "text/markdown"
PLAIN = "text/plain"
ZIP = "application/zip"
EXECUTABLE = "application/x-executable"
OCTET_STREAM = "application/octet-stream"

_SOURCE_TYPES = {
    PDF: SourceType.PDF,
    DOCX: SourceType.DOCX,
    PLAIN: SourceType.TEXT,
    MARKDOWN: SourceType.MARKDOWN,
    HTML: SourceType.HTML,
    CSV: SourceType.CSV,
    JSONL: SourceType.JSONL,
    JSON: SourceType.JSON,
}

_EXTENSIONS = {
    ".json": JSON,
    ".jsonl": JSONL,
    ".ndjson": JSONL,
    ".csv": CSV,
    ".tsv": CSV,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".txt": PLAIN,
    ".text": PLAIN,
}

_CANONICAL_EXTENSIONS = {PDF: ".pdf", DOCX: ".docx", JSON: ".json", JSONL: ".jsonl", CSV: ".csv", HTML: ".html",
                         MARKDOWN: ".md", PLAIN: ".txt"}
_TEXT_MIMES = {JSON, JSONL, CSV, HTML, MARKDOWN, PLAIN}
MAX_NAME_LENGTH = 255

# One name for every executable format, as the upload spec reports it.
_EXECUTABLE_MIMES = {"application/x-executable", "application/x-msdownload", "application/x-mach-binary"}

_CSV_DELIMITERS = (",", ";", "\t")
_SNIFF_CHARS = 64 * 1024
_MAX_CONTROL_RATIO = 0.01
# C0 controls other than tab, LF, VT, FF, CR and ESC, plus DEL and the C1 block (a latin-1 decode of binary).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")

_MARKDOWN_SIGNS = (
    re.compile(r"^#{1,6}[ \t]+\S", re.MULTILINE),  # ATX heading
    re.compile(r"^(```|~~~)", re.MULTILINE),  # fenced code
    re.compile(r"\[[^\]\n]+\]\([^)\s]+\)"),  # link or image
    re.compile(r"^\|?[ \t]*:?-{3,}:?[ \t]*\|", re.MULTILINE),  # table separator row
    re.compile(r"^\S[^\n]*\n(=+|-+)[ \t]*$", re.MULTILINE),  # setext heading
)
_HTML_DOCUMENT = re.compile(
    r"^(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.DOTALL
)
_HTML_FRAGMENT = re.compile(
    r"</(p|div|span|body|html|h[1-6]|article|section|table|ul|ol|li|a)>", re.IGNORECASE
)


def decode_text(data: bytes) -> str | None:
    """The text of `data` (UTF-8, UTF-8 with BOM, else Windows-1252/latin-1), or None when it is binary."""
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    sample = text[:_SNIFF_CHARS]
    if sample and len(_CONTROL.findall(sample)) > _MAX_CONTROL_RATIO * len(sample):
        return None
    return text


def detect_mime(data: bytes, filename: str = "") -> str:
    """The MIME type of `data`, from its signature or, for text, its content."""
    binary = _binary_mime(data)
    if binary is not None:
        return binary
    text = decode_text(data)
    if text is None:
        # Weak signatures (e.g. "BM" for bitmaps) are only trusted for content that is not text.
        guess = filetype.guess(data)
        mime = guess.mime if guess is not None else OCTET_STREAM
        return EXECUTABLE if mime in _EXECUTABLE_MIMES else mime
    return _text_mime(text, _EXTENSIONS.get(PurePosixPath(filename.lower()).suffix))


def name_for_type(name: str, mime: str) -> str:
    """`name` ending in an extension of `mime`: `x.pdf.exe` holding a PDF is `x.pdf`, `notes` of text `notes.txt`.

    What a later download or a file manager reads from the name then says what the bytes are.
    """
    canonical = _CANONICAL_EXTENSIONS.get(mime)
    if canonical is None:
        return name
    kin = {JSON, JSONL} if mime in (JSON, JSONL) else {mime}
    accepted = {extension for extension, of_type in _EXTENSIONS.items() if of_type in kin or of_type == PLAIN} \
        if mime in _TEXT_MIMES else set()  # text of any kind may keep a plain-text name: no program runs it
    accepted |= {extension for extension, of_type in _EXTENSIONS.items() if of_type in kin} | {canonical}
    stem, dot, extension = name.rpartition(".")
    if dot and stem and f".{extension.lower()}" in accepted:
        return name
    base = stem if dot and stem else name
    if PurePosixPath(base.lower()).suffix in accepted:  # the type's extension sat before a wrong one
        return base
    return base[: MAX_NAME_LENGTH - len(canonical)] + canonical


def source_type_for_mime(mime: str) -> SourceType | None:
    """The SourceType a built-in loader gives this MIME type, or None when none does."""
    return _SOURCE_TYPES.get(mime.split(";", 1)[0].strip().lower())


def csv_delimiter(text: str) -> str | None:
    """The delimiter that splits the first rows of `text` into a consistent table, if any."""
    sample = text[:_SNIFF_CHARS]
    lines = sample.splitlines()
    if len(text) > len(sample) and len(lines) > 1:
        sample = "\n".join(lines[:-1])  # the last line may be cut in the middle
    for delimiter in _CSV_DELIMITERS:
        try:
            rows = [row for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if row]
        except csv.Error:
            continue
        rows = rows[:50]
        widths = {len(row) for row in rows}
        header_ok = bool(rows) and all(cell.strip() for cell in rows[0])
        if len(rows) >= 2 and len(widths) == 1 and widths.pop() >= 2 and header_ok:
            return delimiter
    return None


def _binary_mime(data: bytes) -> str | None:
    if data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            return ZIP
        if "word/document.xml" in names:
            return DOCX
        guess = filetype.guess(data)
        return guess.mime if guess is not None else ZIP
    return None


def _text_mime(text: str, hint: str | None) -> str:
    """Structured types (JSON, JSONL, an HTML document) win over the name; the name wins among the rest."""
    stripped = text.strip()
    strong = _structured_types(stripped)
    if strong:
        return hint if hint in strong else strong[0]
    weak = _loose_types(stripped)
    if hint in (MARKDOWN, PLAIN) or hint in weak:
        return hint or PLAIN  # plain text is valid Markdown too, so a .md name always wins here
    return weak[0] if weak else PLAIN


def _structured_types(text: str) -> list[str]:
    found = []
    if text.startswith(("{", "[")):
        if _is_json(text):
            found.append(JSON)
        if (found and "\n" not in text) or _is_jsonl(text):  # one line of JSON is JSONL too
            found.append(JSONL)
    if _HTML_DOCUMENT.match(text[:4096].lower()):
        found.append(HTML)
    return found


def _loose_types(text: str) -> list[str]:
    found = []
    if csv_delimiter(text) is not None:
        found.append(CSV)
    if text.startswith("<") and _HTML_FRAGMENT.search(text[:_SNIFF_CHARS]):
        found.append(HTML)
    if any(pattern.search(text[:_SNIFF_CHARS]) for pattern in _MARKDOWN_SIGNS):
        found.append(MARKDOWN)
    return found


def _is_json(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict | list)
    except ValueError:
        return False


def _is_jsonl(text: str) -> bool:
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            if not isinstance(json.loads(line), dict | list):
                return False
        except ValueError:
            return False
    return True

