"""Web loader: any http(s) URL, fetched safely and read according to what it serves."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from finetune_core.errors import SourceLoadError, UrlNotAllowedError
from finetune_core.sources.base import FetchContext
from finetune_core.sources.fetch import SafeFetcher
from finetune_core.sources.web import fetch_web, matches
from kits.local_server import LocalServer


def _context(routes: dict[str, httpx.Response]) -> FetchContext:
    def handler(request: httpx.Request) -> httpx.Response:
        return routes.get(str(request.url), httpx.Response(404))

    return FetchContext(fetcher=SafeFetcher(transport=httpx.MockTransport(handler)))


def _ok(content: bytes, content_type: str | None) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return httpx.Response(200, headers=headers, content=content)


@pytest.mark.parametrize(("url", "expected"), [
    ("https://example.org/", True),
    ("http://blog.example.org/post?id=3", True),
    ("HTTPS://EXAMPLE.ORG/", True),
    ("ftp://example.org/file", False),
    ("file:///etc/passwd", False),
    ("https:///nohost", False),
    ("example.org", False),
])
def test_matches_http_urls(url: str, expected: bool) -> None:
    assert matches(url) is expected


def test_html_page() -> None:
    page = b"<html lang='en'><head><title>Proofing</title></head><body><nav>Menu</nav>" \
           b"<main><h1>Proofing</h1><p>Proof the loaf overnight.</p></main></body></html>"
    ctx = _context({"https://bakery.example/proof": _ok(page, "text/html; charset=utf-8")})
    document = fetch_web("https://bakery.example/proof", ctx)
    assert document.text == "Proofing\n\nProof the loaf overnight."
    assert document.title == "Proofing"
    assert document.metadata == {"url": "https://bakery.example/proof", "final_url": "https://bakery.example/proof",
                                 "content_type": "text/html"}


def test_declared_charset_is_used() -> None:
    page = "<p>Crème brûlée</p>".encode("latin-1")
    ctx = _context({"https://bakery.example/": _ok(page, "text/html; charset=ISO-8859-1")})
    assert fetch_web("https://bakery.example/", ctx).text == "Crème brûlée"


def test_plain_text_and_markdown() -> None:
    ctx = _context({
        "https://raw.example/notes.txt": _ok(b"Just notes.\n", "text/plain"),
        "https://raw.example/README.md": _ok(b"# Readme\n\nSee the [docs](https://x.example).\n",
                                             "text/plain; charset=utf-8"),
        "https://raw.example/guide": _ok(b"## Guide\n\nBody.\n", "text/markdown"),
    })
    assert fetch_web("https://raw.example/notes.txt", ctx).text == "Just notes.\n"
    readme = fetch_web("https://raw.example/README.md", ctx)
    assert readme.title == "Readme"
    assert [h.title for h in readme.headings] == ["Readme"]
    assert [h.level for h in fetch_web("https://raw.example/guide", ctx).headings] == [2]


def test_pdf_is_read_from_its_bytes(make_pdf: Callable[..., bytes]) -> None:
    pdf = make_pdf(["Page one about flour.", "Page two about water."], title="Flour and Water")
    ctx = _context({
        "https://files.example/handbook.pdf": _ok(pdf, "application/pdf"),
        "https://files.example/download?id=7": _ok(pdf, "application/octet-stream"),
    })
    for url in ("https://files.example/handbook.pdf", "https://files.example/download?id=7"):
        document = fetch_web(url, ctx)
        assert document.title == "Flour and Water"
        assert [page.number for page in document.pages] == [1, 2]


def test_redirect_is_recorded_in_metadata() -> None:
    ctx = _context({
        "https://old.example/": httpx.Response(301, headers={"Location": "https://new.example/page"}),
        "https://new.example/page": _ok(b"<p>Moved here.</p>", "text/html"),
    })
    document = fetch_web("https://old.example/", ctx)
    assert document.metadata["final_url"] == "https://new.example/page"
    assert document.text == "Moved here."


@pytest.mark.parametrize(("content", "content_type", "message"), [
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "image/png", "not a web page"),
    (b'{"a": 1}', "application/json", "not a web page"),
    (b"", "text/html", "empty"),
    (b"<html><body><script>app()</script></body></html>", "text/html", "no readable text"),
])
def test_unusable_responses(content: bytes, content_type: str, message: str) -> None:
    ctx = _context({"https://site.example/": _ok(content, content_type)})
    with pytest.raises(SourceLoadError, match=message):
        fetch_web("https://site.example/", ctx)


def test_refused_urls_never_reach_the_network() -> None:
    ctx = _context({})
    with pytest.raises(UrlNotAllowedError):
        fetch_web("http://169.254.169.254/latest/meta-data/", ctx)


def test_end_to_end_with_a_real_local_server(local_server: LocalServer) -> None:
    local_server.routes["/article"] = (
        200,
        {"Content-Type": "text/html; charset=utf-8"},
        "<html><body><header>Site</header><article><h1>Sourdough</h1>"
        "<p>Le levain est une culture.</p></article><footer>©</footer></body></html>".encode(),
    )
    ctx = FetchContext(fetcher=SafeFetcher(allow_loopback=True))
    document = fetch_web(local_server.url("/article"), ctx)
    assert document.text == "Sourdough\n\nLe levain est une culture."
    with pytest.raises(UrlNotAllowedError):
        fetch_web(local_server.url("/article"), FetchContext(fetcher=SafeFetcher()))
    assert len(local_server.seen) == 1
