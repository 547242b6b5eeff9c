"""Prompts for LLM generators: per task type and language, with the count, passage and schema."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from finetune_core.domain import TaskType
from finetune_core.generation.base import GenerationRequest
from finetune_core.generation.prompts import SCHEMAS, base_language, render_prompt, summary_user_content

MakeRequest = Callable[..., GenerationRequest]

FIELDS = {
    TaskType.QA: {"question", "answer", "evidence"},
    TaskType.INSTRUCTION: {"instruction", "input", "output", "evidence"},
    TaskType.CONVERSATION: {"messages", "evidence"},
    TaskType.SUMMARIZATION: {"summary", "evidence"},
    TaskType.REASONING: {"question", "reasoning", "answer", "evidence"},
    TaskType.PREFERENCE: {"question", "answer_a", "answer_b", "evidence"},
}
COUNT = {"en": "exactly 4", "fr": "exactement 4", "es": "exactly 4"}


@pytest.mark.parametrize("language", ["en", "fr", "es"])
@pytest.mark.parametrize("task_type", list(TaskType))
def test_prompt_has_count_passage_schema_and_context(
    make_request: MakeRequest, passages: dict[str, str], task_type: TaskType, language: str
) -> None:
    content = passages["fr-handbook" if language == "fr" else "en-handbook"]
    request = make_request(content, task_type, n_examples=4, language=language, heading="Leave")
    system, user = render_prompt(request)
    assert (system.role, user.role) == ("system", "user")
    assert "JSON" in system.content
    assert COUNT[language] in user.content
    assert content.strip() in user.content
    assert SCHEMAS[task_type] in user.content
    assert "employee_handbook.pdf" in user.content and "Leave" in user.content
    assert "evidence" in user.content
    schema_item = json.loads(SCHEMAS[task_type])["examples"][0]
    assert set(schema_item) == FIELDS[task_type]


def test_languages_other_than_english_and_french_use_english_but_ask_for_the_source_language(
    make_request: MakeRequest,
) -> None:
    _, user = render_prompt(make_request("El contrato es un acuerdo.", language="es"))
    assert "Write exactly" in user.content and "Spanish" in user.content
    _, user = render_prompt(make_request("Der Vertrag ist eine Vereinbarung.", language="de-AT"))
    assert "German" in user.content


def test_french_prompt_is_in_french(make_request: MakeRequest, passages: dict[str, str]) -> None:
    system, user = render_prompt(make_request(passages["fr-article"], TaskType.CONVERSATION, language="fr"))
    assert "Vous rédigez" in system.content
    assert "Rédigez exactement 5 conversations" in user.content
    assert "Rédigez les exemples en français." in user.content


def test_later_rounds_ask_for_different_examples(make_request: MakeRequest, passages: dict[str, str]) -> None:
    _, first = render_prompt(make_request(passages["en-article"], round=0))
    _, third = render_prompt(make_request(passages["en-article"], round=2))
    assert "round" not in first.content
    assert "round 3" in third.content and "different" in third.content
    _, french = render_prompt(make_request(passages["fr-article"], round=1, language="fr"))
    assert "tour 2" in french.content


def test_singular_count_and_optional_context(make_request: MakeRequest) -> None:
    _, user = render_prompt(make_request("A token is a unit of text.", n_examples=1, source_name=None))
    assert "exactly 1 question-answer pair " in user.content
    assert "Source:" not in user.content and "Section:" not in user.content


def test_the_projects_system_prompt_is_given_as_the_assistants_role(make_request: MakeRequest) -> None:
    _, user = render_prompt(
        make_request("A token is a unit of text.", system_prompt="You are a terse HR bot.")
    )
    assert "You are a terse HR bot." in user.content


def test_summary_user_content() -> None:
    assert summary_user_content("Text.") == "Summarize the following passage.\n\nText."
    assert (
        summary_user_content("Texte.", "fr", "one_sentence")
        == "Résumez le passage suivant en une phrase.\n\nTexte."
    )
    assert summary_user_content("Text.", "ja").startswith("Summarize the following passage.")


def test_base_language() -> None:
    assert [base_language(code) for code in ("fr-FR", "en_GB", "", None, "ES")] == [
        "fr",
        "en",
        "en",
        "en",
        "es",
    ]
