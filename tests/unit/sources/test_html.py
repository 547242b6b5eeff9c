"""HTML loader: the main text without boilerplate, headings, title and language."""

from __future__ import annotations

from pathlib import Path

import pytest
from finetune_core.errors import SourceLoadError
from finetune_core.sources.base import LoadOptions
from finetune_core.sources.html import decode_html, html_to_document, load_html

OPTIONS = LoadOptions()

PAGE = """<!DOCTYPE html>
<html lang="fr-CA"><head><title>  Levain |
 Boulangerie </title>
<style>p { color: red }</style><script>var tracking = "SCRIPT-TEXT";</script></head>
<body>
<div id="cookieConsent">We use cookies. <a href="#">Accept</a></div>
<header><nav><a href="/">Home</a> <a href="/shop">Shop</a></nav><p>SITE-HEADER</p></header>
<aside>SIDEBAR-TEXT</aside>
<main>
  <article>
    <header><h1>Le   levain</h1></header>
    <p>Le levain est une culture
       de levures sauvages.</p>
    <h2>Rafraîchi</h2>
    <p>Line one<br>Line two</p>
    <ul><li>Farine</li><li>Eau <ul><li>tiède</li></ul></li></ul>
    <table><tr><th>Jour</th><th>Farine</th></tr><tr><td>1</td><td>50 g</td></tr></table>
    <noscript>NOSCRIPT-TEXT</noscript>
    <form><label>FORM-TEXT</label><input></form>
    <footer>ARTICLE-FOOTER</footer>
  </article>
</main>
<footer>SITE-FOOTER &copy; 2024</footer>
</body></html>
"""


def test_main_text_without_boilerplate() -> None:
    document = html_to_document(PAGE)
    assert document.text == (
        "Le levain\n\n"
        "Le levain est une culture de levures sauvages.\n\n"
        "Rafraîchi\n\n"
        "Line one\nLine two\n\n"
        "- Farine\n- Eau\n- tiède\n\n"
        "Jour | Farine\n1 | 50 g"
    )
    for noise in ("SCRIPT", "SITE-HEADER", "SIDEBAR", "NOSCRIPT", "FORM-TEXT", "FOOTER", "cookies", "Home"):
        assert noise not in document.text


def test_headings_title_and_language() -> None:
    document = html_to_document(PAGE)
    assert [(h.level, h.title) for h in document.headings] == [(1, "Le levain"), (2, "Rafraîchi")]
    for heading in document.headings:
        assert document.text[heading.offset:].startswith(heading.title)
    assert document.title == "Levain | Boulangerie"
    assert document.language == "fr"


def test_without_main_or_article_the_body_is_used_and_h1_gives_the_title() -> None:
    html = "<html><body><nav>MENU</nav><h1>Opening hours</h1><div>Nine <b>to</b> five.</div></body></html>"
    document = html_to_document(html)
    assert document.text == "Opening hours\n\nNine to five."
    assert document.title == "Opening hours"
    assert document.language is None


def test_a_page_wrapper_with_a_cookie_class_is_not_a_banner() -> None:
    story = "The loaf rose beautifully overnight. " * 80
    # the footer matches twice (as a footer and as "cookie"): it must be dropped once, safely
    html = (f'<body class="cookie-consent-open"><div id="cookie-bar">Accept cookies?</div>'
            f'<div class="page cookies-accepted"><footer class="cookie">x</footer>'
            f'<p>{story}</p></div></body>')
    assert html_to_document(html).text == story.strip()


def test_several_articles_are_all_kept() -> None:
    html = "<body><article><p>First post.</p></article><article><p>Second post.</p></article></body>"
    assert html_to_document(html).text == "First post.\n\nSecond post."


def test_pre_keeps_its_whitespace() -> None:
    html = "<main><p>Recipe:</p><pre>flour  500 g\nwater  375 g</pre></main>"
    assert html_to_document(html).text == "Recipe:\n\nflour  500 g\nwater  375 g"


def test_charsets() -> None:
    latin = '<html><head><meta charset="windows-1252"></head><body><p>Crème brûlée</p></body></html>'
    assert load_html(latin.encode("cp1252"), OPTIONS).text == "Crème brûlée"
    assert decode_html("é".encode("latin-1"), "iso-8859-1") == "é"
    assert decode_html("é".encode(), "no-such-charset") == "é"


def test_sample_page(samples_dir: Path) -> None:
    document = load_html((samples_dir / "shaping-and-scoring.html").read_bytes(), OPTIONS)
    assert document.text.startswith("Shaping and Scoring Sourdough\n\n")
    assert "Scoring is the cut made in the surface of a loaf" in document.text
    assert "Single long slash | Batards" in document.text
    for noise in ("cookies", "Courses", "newsletter", "Related courses", "Portmere", "dataLayer"):
        assert noise not in document.text
    assert [h.title for h in document.headings] == ["Shaping and Scoring Sourdough", "Pre-shaping",
                                                    "Final shaping", "Scoring"]


@pytest.mark.parametrize("data", [b"", b"<html><body><nav>a menu</nav><script>x()</script></body></html>"])
def test_pages_without_text(data: bytes) -> None:
    with pytest.raises(SourceLoadError):
        load_html(data, OPTIONS)


def test_nesting_is_read_until_it_is_absurd() -> None:
    assert html_to_document("<div>" * 300 + "deep" + "</div>" * 300).text == "deep"
    with pytest.raises(SourceLoadError, match="nested too deeply"):
        html_to_document("<div>" * 5000 + "deep" + "</div>" * 5000)
