"""Offline language detection, and the sentence analysis the extractive generator relies on."""

from __future__ import annotations

import pytest
from finetune_core.generation.language import Passage, detect_language, elide, source_label


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


def test_french_elision() -> None:
    assert elide("que", "un jeton") == "qu'un jeton"
    assert elide("que", "le RGPD") == "que le RGPD"


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("employee_handbook.pdf", "employee handbook"),
        ("docs/guides/Onboarding Guide.docx", "Onboarding Guide"),
        ("https://example.com/help/faq/", "example.com/help/faq"),
        ("", None),
        (None, None),
    ],
)
def test_source_label(name: str | None, label: str | None) -> None:
    assert source_label(name) == label


def test_sentences_are_exact_spans_of_the_passage(passages: dict[str, str]) -> None:
    for content in passages.values():
        passage = Passage(content, language=detect_language(content))
        assert passage.sentences
        for sentence in passage.sentences:
            span = content[sentence.start : sentence.end]
            assert span == span.strip()
            assert " ".join(span.split()) == sentence.text


def test_splitting_keeps_abbreviations_and_decimals_inside_sentences() -> None:
    content = (
        "Mr. Smith leads the team, e.g. on audits. The rate is 3.5 percent for new contracts. "
        "M. Dupont signe le contrat."
    )
    texts = [s.text for s in Passage(content).sentences]
    assert texts == [
        "Mr. Smith leads the team, e.g. on audits.",
        "The rate is 3.5 percent for new contracts.",
        "M. Dupont signe le contrat.",
    ]


def test_headings_bullets_and_fragments() -> None:
    content = (
        "ending a sentence cut by the chunker.\n\n"
        "## Security rules\n\n"
        "- Passwords must be changed every ninety days by every user\n"
        "- Shared accounts are forbidden for all members of staff\n\n"
        "The last sentence of this chunk was cut by the chunker right in the middle of"
    )
    passage = Passage(content)
    by_text = {s.text: s for s in passage.sentences}
    assert not by_text["ending a sentence cut by the chunker."].usable  # starts mid-sentence
    assert not by_text["The last sentence of this chunk was cut by the chunker right in the middle of"].usable
    bullet = by_text["Passwords must be changed every ninety days by every user"]
    assert bullet.usable and bullet.bullet and bullet.section == "Security rules"
    assert [title for title, _ in passage.section_leads()] == ["Security rules"]


def test_definitions_subjects_and_obligations(passages: dict[str, str]) -> None:
    english = Passage(passages["en-handbook"], language="en")
    infos = {s.text: english.info(s) for s in english.usable}
    definition = infos[
        "Annual leave is the paid time off that every employee accrues during the year."
    ].definition
    assert definition is not None and definition.question == "What is annual leave?"
    obligation = infos[
        "Employees must submit leave requests through the HR portal at least 14 days before the first day of "
        "absence."
    ]
    assert obligation.subject == "employees" and obligation.modal_question == "What must employees do?"

    french = Passage(passages["fr-handbook"], language="fr")
    infos = {s.text: french.info(s) for s in french.usable}
    definition = infos[
        "Le solde de congés désigne le nombre de jours qu'un salarié peut encore poser sur l'année en cours."
    ].definition
    assert definition is not None and definition.question == "Que désigne le solde de congés ?"
    obligation = infos["L'employeur doit répondre à la demande dans un délai de cinq jours ouvrés."]
    assert obligation.modal_question == "Que doit faire l'employeur ?"


def test_pronoun_led_sentences_are_continuations(passages: dict[str, str]) -> None:
    passage = Passage(passages["en-handbook"], language="en")
    balance = next(s for s in passage.sentences if s.text.startswith("A leave balance"))
    assert [s.text for s in passage.answer_sentences(balance)] == [
        balance.text,
        "It is shown on the payslip every month.",
    ]
    assert passage.info(passage.sentences[balance.index + 1]).topic is None
