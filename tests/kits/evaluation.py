"""Pieces of the evaluation tests: a small project with an eval split, and a fake Chat Completions server's `decide`
for three models: `good` (answers each knowledge question with its reference, declines the held-out and invented
ones), `bad` (right on every other knowledge question, invents the rest), and `judge` (prefers the answer equal to
the reference).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from finetune_core import Workspace
from finetune_core.services import projects
from finetune_core.services.evaluation.question_sets import held_out_set, knowledge_set
from kits.chat_completions import Action, Call
from kits.pipeline import add_text_sources

WRONG = "Nothing is known about that."
INVENTED = "It opened in 1987 on the main square."
DECLINED = "I don't know: the documents do not say."


def evaluation_project(workspace: Workspace, name: str = "Evaluated", *, sources: int = 10,
                       owner_id: str | None = None) -> str:
    """A project of `sources` made-up notes, generated (extractive) and curated: half of them in the eval split."""
    project = projects.create_project(workspace, name, config={"train_eval_split": 0.5}, owner_id=owner_id)
    add_text_sources(workspace, project.id, sources)
    workspace.run_pipeline(project.id, ["load", "chunk", "generate", "curate"], generator="extractive", target=80)
    return project.id


def _tag(text: str, name: str) -> str:
    found = re.search(rf"<{name}>\n(.*?)\n</{name}>", text, re.DOTALL)
    assert found is not None, f"no <{name}> in the judge's prompt"
    return found.group(1)


@dataclass
class Models:
    """The answers of the fake models, from the knowledge set the evaluation will ask (it is deterministic)."""

    references: dict[str, str]
    bad_right: set[str] = field(default_factory=set)  # the knowledge questions `bad` answers right
    held_out: list[str] = field(default_factory=list)  # the eval split's questions, which neither model knows

    @classmethod
    def of(cls, workspace: Workspace, project_id: str, questions: int) -> Models:
        found = knowledge_set(workspace, project_id, questions)
        references = {question.question: question.reference or "" for question in found.questions}
        held_out = [question.question for question in held_out_set(workspace, project_id, questions)]
        return cls(references, set(sorted(references)[::2]), held_out)

    def decide(self, call: Call) -> Action:
        model = call.body.get("model")
        asked = next(m["content"] for m in call.body["messages"] if m["role"] == "user")
        if model == "judge":
            reference = _tag(asked, "reference")
            first_is_right = _tag(asked, "answer_a") == reference
            second_is_right = _tag(asked, "answer_b") == reference
            winner = "tie" if first_is_right == second_is_right else "A" if first_is_right else "B"
            return Action(text=json.dumps({"winner": winner}))
        if asked in self.references:
            right = model == "good" or (model == "bad" and asked in self.bad_right)
            return Action(text=self.references[asked] if right else WRONG)
        return Action(text=DECLINED if model == "good" else INVENTED)
