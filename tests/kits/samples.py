"""The sample documents of the repository (samples/), as the tests name them."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SAMPLE_FILES = {
    "pdf": SAMPLES / "sourdough-handbook.pdf",
    "docx": SAMPLES / "starter-care-sheet.docx",
    "html": SAMPLES / "shaping-and-scoring.html",
    "markdown": SAMPLES / "guide-du-levain.md",
    "csv": SAMPLES / "sourdough-faq.csv",
}
