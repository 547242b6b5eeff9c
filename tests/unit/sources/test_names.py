"""Uploaded file names become safe basenames: no path, no `..`, only `[A-Za-z0-9._-]`."""

from __future__ import annotations

import re

import pytest
from finetune_core.sources.names import sanitize_filename


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/var/www/../../secret.pdf", "secret.pdf"),
        ("C:\\Users\\me\\report.docx", "report.docx"),
        ("résumé final (v2).pdf", "resume_final_v2.pdf"),
        ("Ünïcödé.md", "Unicode.md"),
        ("日本語.pdf", "file.pdf"),
        ("a..b.txt", "a.b.txt"),
        ("..", "file"),
        ("...", "file"),
        ("", "file"),
        (".htaccess", "file.htaccess"),
        ("evil\x00.pdf", "evil.pdf"),
        ("-rf --no-preserve-root.txt", "rf_--no-preserve-root.txt"),
        ("CON.txt", "CON_.txt"),
        ("report.tar.gz", "report.tar.gz"),
        ("Handbook.PDF", "Handbook.PDF"),
        ("folder/", "file"),
    ],
)
def test_sanitize_filename(name: str, expected: str) -> None:
    assert sanitize_filename(name) == expected


@pytest.mark.parametrize("name", ["../" * 50 + "x", "a/b\\c/../d..e", "%2e%2e%2f", "<x>.html", "a" * 1000])
def test_result_is_always_a_safe_basename(name: str) -> None:
    safe = sanitize_filename(name)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", safe)
    assert ".." not in safe
    assert not safe.startswith(".")
    assert 0 < len(safe) <= 255


def test_long_names_keep_their_extension() -> None:
    safe = sanitize_filename("x" * 400 + ".docx")
    assert len(safe) == 255
    assert safe.endswith(".docx")
