"""The sentence analysis the extractive generator relies on: spans, sections, definitions, subjects."""

from __future__ import annotations

from finetune_core.generation.language import detect_language
from finetune_core.generation.passage import Passage
from finetune_core.generation.reading import elide


def test_french_elision() -> None:
    assert elide("que", "un jeton") == "qu'un jeton"
    assert elide("que", "le RGPD") == "que le RGPD"



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
