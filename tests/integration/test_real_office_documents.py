"""Files written by pandoc and LibreOffice (tests/fixtures/office) ingest with their text intact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from finetune_core import Workspace

OFFICE = Path(__file__).resolve().parents[1] / "fixtures" / "office"
SENTENCES = [
    "The bakery kitchen is a shared workspace.",
    "Every baker is responsible for keeping it safe for the next shift.",
    "A deck oven is an oven whose baking chamber has a stone or steel floor.",
    "Always wear long oven gloves when loading the deck, and never reach across an open door.",
    "Preheat the deck oven for at least forty-five minutes.",
    "Report any cracked stone to the head baker.",
    "Cross-contamination is the transfer of an allergen from one food to another.",
    "La sécurité passe avant la vitesse : un four mal fermé fait perdre plus de temps qu'il n'en fait gagner.",
]


def normalised(text: str) -> str:
    """Whitespace runs to one space and typographic apostrophes to ASCII (pandoc makes them curly)."""
    return re.sub(r"\s+", " ", text.replace("\u2019", "'")).strip()


@pytest.mark.parametrize("name", ["pandoc.docx", "libreoffice.docx", "libreoffice.pdf", "pandoc.html"])
def test_office_tool_output_keeps_every_sentence(finetune_workspace: Workspace, name: str) -> None:
    project = finetune_workspace.create_project(name)
    source = finetune_workspace.add_file(project.id, OFFICE / name)
    finetune_workspace.ingest(project.id)
    with finetune_workspace.unit_of_work() as uow:
        loaded = uow.sources.get(source.id)
        document = uow.documents.get(source.id)
    assert loaded.status.value == "ready", loaded.error_message
    assert document is not None
    text = normalised(document.text)
    for sentence in SENTENCES:
        assert sentence in text
    assert "Nuts | green | twice a day" in text or "Nuts green twice a day" in text  # the table's row


@pytest.mark.parametrize("name", ["pandoc.docx", "libreoffice.docx", "pandoc.html"])
def test_office_tool_headings_are_structure(finetune_workspace: Workspace, name: str) -> None:
    project = finetune_workspace.create_project(name)
    source = finetune_workspace.add_file(project.id, OFFICE / name)
    finetune_workspace.ingest(project.id)
    with finetune_workspace.unit_of_work() as uow:
        document = uow.documents.get(source.id)
    assert document is not None
    titles = [(heading.level, heading.title) for heading in document.headings]
    assert (2, "Ovens") in titles and (2, "Allergens") in titles
    for heading in document.headings:
        assert document.text[heading.offset :].startswith(heading.title)


def test_pandoc_html_drops_its_title_block_and_table_of_contents(finetune_workspace: Workspace) -> None:
    project = finetune_workspace.create_project("html")
    source = finetune_workspace.add_file(project.id, OFFICE / "pandoc.html")
    finetune_workspace.ingest(project.id)
    with finetune_workspace.unit_of_work() as uow:
        document = uow.documents.get(source.id)
    assert document is not None
    assert document.title == "Harbour Street Bakery – Kitchen Safety Guide"
    # the <nav> TOC would repeat every heading, the <header> would repeat the title
    assert document.text.count("Allergens") == 1
    assert "Kitchen Safety Guide" not in document.text
