"""The judge through the core: scores and reasons kept on examples, the threshold filtering exports, resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest
from finetune_core import Workspace, hookimpl
from finetune_core.chat import ChatModel, ChatReply
from finetune_core.curation.judge import CRITERIA, judge_prompt, parse_verdict
from finetune_core.domain import Example, Message
from finetune_core.errors import GenerationError
from finetune_core.services import judging


class Verdicts:
    asked: ClassVar[list[str]] = []
    garbled: ClassVar[set[str]] = set()
    refuse = False


class RuleJudge(ChatModel):
    """Scores 5 on every criterion, but 2 for answers mentioning 'wrong'; garbles chosen questions."""

    name: ClassVar[str] = "rule-judge"

    async def complete(self, messages: list[Message]) -> ChatReply:
        if Verdicts.refuse:
            raise GenerationError("the Rule key was refused (401)", error_code="PROVIDER_AUTH")
        user = messages[-1].content
        question = next(line for line in user.splitlines() if line.startswith("user: "))
        Verdicts.asked.append(question)
        if question in Verdicts.garbled:
            return ChatReply(text="I'd rather not say.", usage={"requests": 1.0})
        score = 2 if "wrong" in user.split("Example:")[-1] else 5
        body = {name: score for name in CRITERIA} | {"reason": "wrong claim" if score == 2 else "fine"}
        return ChatReply(text=f"```json\n{json.dumps(body)}\n```", usage={"requests": 1.0, "input_tokens": 10.0})


class Plugin:
    @hookimpl
    def finetune_register_chat_models(self, register):  # type: ignore[no-untyped-def]
        register(RuleJudge)


@pytest.fixture
def ws(finetune_workspace: Workspace, register_finetune_plugin) -> Workspace:  # type: ignore[no-untyped-def]
    Verdicts.asked, Verdicts.garbled, Verdicts.refuse = [], set(), False
    register_finetune_plugin(Plugin(), name="rule-judge")
    return finetune_workspace


def _project(ws: Workspace) -> str:
    project = ws.create_project("judged")
    answers = ["Paris is the capital of France.", "This one is wrong about everything.",
               "Water boils at 100 degrees Celsius at sea level.", "Another wrong statement here."]
    with ws.unit_of_work() as uow:
        uow.examples.add([Example(project_id=project.id, request_key=f"m:{i}", split="train",
                                   messages=[Message(role="user", content=f"Question {i}?"),
                                             Message(role="assistant", content=answer)])
                           for i, answer in enumerate(answers)])
    return project.id


def test_scores_and_reasons_are_kept_and_the_threshold_filters_the_export(ws: Workspace, tmp_path: Path) -> None:
    project_id = _project(ws)
    summary = judging.judge(ws, project_id, chat_model_name="rule-judge", threshold=3.0)
    assert (summary["judged"], summary["below_threshold"], summary["valid"]) == (4, 2, 2)
    assert summary["mean_score"] == 3.5 and summary["usage"] == {"requests": 4.0, "input_tokens": 40.0}
    examples = {e.question: e for e in ws.examples(project_id)}
    wrong = examples["Question 1?"]
    assert wrong.judge_score == 2.0 and wrong.judge_reason == "wrong claim" and not wrong.is_valid
    assert wrong.validation_errors == ["judge_below_threshold"]
    assert wrong.metadata["judge"]["scores"] == {name: 2.0 for name in CRITERIA}
    exported = ws.export(project_id, "openai", out=tmp_path / "train.jsonl")
    assert exported.count == 2
    assert "wrong" not in (tmp_path / "train.jsonl").read_text()
    assert ws.stats(project_id)["validation_errors"] == {"judge_below_threshold": 2}


def test_a_rerun_judges_only_what_is_left_and_a_lower_threshold_restores_examples(ws: Workspace) -> None:
    project_id = _project(ws)
    Verdicts.garbled = {"user: Question 2?"}
    first = judging.judge(ws, project_id, chat_model_name="rule-judge", threshold=3.0)
    assert (first["judged"], first["unparsed"]) == (3, 1)
    Verdicts.asked, Verdicts.garbled = [], set()
    second = judging.judge(ws, project_id, chat_model_name="rule-judge")
    assert Verdicts.asked == ["user: Question 2?"] and second["judged"] == 1
    third = judging.judge(ws, project_id, chat_model_name="rule-judge", threshold=2.0)
    assert third["to_judge"] == 0 and third["below_threshold"] == 0 and third["valid"] == 4


def test_a_refused_key_stops_the_judge_and_keeps_what_was_scored(ws: Workspace) -> None:
    project_id = _project(ws)
    Verdicts.refuse = True
    with pytest.raises(GenerationError, match="refused"):
        judging.judge(ws, project_id, chat_model_name="rule-judge")
    assert all(e.judge_score is None and e.is_valid for e in ws.examples(project_id))


def test_the_prompt_speaks_the_source_language_and_carries_the_passage() -> None:
    example = Example(project_id="p", metadata={"language": "fr"},
                      messages=[Message(role="user", content="Q ?"), Message(role="assistant", content="R.")])
    system, user = judge_prompt(example, "Le levain se nourrit de farine.")
    assert "Vous évaluez" in system.content and "Passage source" in user.content
    assert "Le levain se nourrit de farine." in user.content and "user: Q ?" in user.content


@pytest.mark.parametrize(("text", "score"), [
    ('{"accuracy": 5, "relevance": 4, "clarity": 5, "usefulness": 4, "grounding": 5, "reason": "ok"}', 4.6),
    ('Here: {"scores": {"accuracy": "4/5", "relevance": 4, "clarity": 4, "usefulness": 4, "grounding": 4}}', 4.0),
    ('{"accuracy": 9, "relevance": 4, "clarity": 4, "usefulness": 4, "grounding": 4}', None),  # out of range
    ('{"accuracy": 5, "relevance": 5}', None),  # criteria missing
    ("no json at all", None),
])
def test_verdicts_are_read_from_tolerant_json_and_refused_when_incomplete(text: str, score: float | None) -> None:
    verdict = parse_verdict(text)
    assert (verdict.score if verdict else None) == score
