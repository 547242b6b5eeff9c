"""Offline language detection."""

from __future__ import annotations

import pytest
from finetune_core.generation.language import detect_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The employer must pay the salary at the end of each month, and the employee has to report "
            "any absence to the manager as soon as possible.",
            "en",
        ),
        (
            "L'employeur doit verser le salaire à la fin de chaque mois, et le salarié doit signaler toute "
            "absence à son responsable dès que possible.",
            "fr",
        ),
        (
            "El empleador debe pagar el salario al final de cada mes y el empleado tiene que avisar de "
            "cualquier ausencia a su responsable lo antes posible.",
            "es",
        ),
        (
            "Der Arbeitgeber muss das Gehalt am Ende jedes Monats zahlen, und der Arbeitnehmer muss jede "
            "Abwesenheit so schnell wie möglich dem Vorgesetzten melden.",
            "de",
        ),
    ],
    ids=["en", "fr", "es", "de"],
)
def test_detects_the_language_of_a_paragraph(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_detects_french_and_english_passages(passages: dict[str, str]) -> None:
    assert detect_language(passages["fr-handbook"]) == "fr"
    assert detect_language(passages["fr-article"]) == "fr"
    assert detect_language(passages["en-handbook"]) == "en"
    assert detect_language(passages["en-article"]) == "en"


@pytest.mark.parametrize("text", ["", "   ", "12 345 6789", "{}[]()", "x"], ids=repr)
def test_falls_back_to_english_when_there_is_nothing_to_go_on(text: str) -> None:
    assert detect_language(text) == "en"


def test_a_few_borrowed_words_do_not_flip_an_english_text() -> None:
    text = "The café served a crème brûlée and the menu was written in a déjà vu style for the tourists."
    assert detect_language(text) == "en"
