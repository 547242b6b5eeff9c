"""Evaluation: two models answering through the real openai-compatible chat model (a fake Chat Completions server),
on a small extractive project with an eval split; scores, intervals, the judge, the disjointness check, the report,
and the figures recorded on a model."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from finetune_core import FineTune, FinetuneError, FineTuneStatus, InvalidInputError, JobStatus, TrainedModel, Workspace
from finetune_core.cli import cli
from finetune_core.domain import Example, Message
from finetune_core.services import evaluation, jobs, trained_models
from finetune_core.services.evaluation.question_sets import held_out_set, knowledge_set
from finetune_core.services.evaluation.scoring import (
    abstains,
    exact_match,
    key_fact,
    mean_interval,
    rouge_l,
    token_f1,
    win_tie_loss,
)
from kits.chat_completions import chat_server
from kits.evaluation import DECLINED, INVENTED, Models, evaluation_project
from kits.pipeline import add_text_sources

QUESTIONS = 8


def _flat(text: str | None) -> str:
    return " ".join((text or "").split()).lower()


def test_scores_on_known_strings() -> None:
    # tokens: [cat, sat] against [cat, sat, down] (articles dropped): precision 1, recall 2/3
    assert token_f1("The cat sat", "the cat sat down") == pytest.approx(0.8)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0 and token_f1("dog", "cat") == 0.0
    # LCS of [cat, sat] and [cat, down, sat] is 2: precision 1, recall 2/3
    assert rouge_l("the cat sat", "the cat down sat") == pytest.approx(0.8)
    # token F1 ignores order, ROUGE-L does not: [a b c d] against [d c b a] share 4 tokens but an LCS of 1
    assert token_f1("w x y z", "z y x w") == 1.0
    assert rouge_l("w x y z", "z y x w") == pytest.approx(0.25)
    assert key_fact("The bakery opened in 1987, with 12 ovens.") == "1987"
    assert key_fact("It was founded by Mara Quill in Lisbon.") == "Mara Quill"
    assert key_fact("zebras graze slowly") == "zebras"
    assert exact_match("They opened in 1987 I think.", "1987") == 1.0
    assert exact_match("They opened in 1988.", "1987") == 0.0
    assert abstains(DECLINED) and abstains("That is not in the documents.") and not abstains(INVENTED)
    assert mean_interval([1.0, 1.0, 1.0]) == (1.0, 1.0, 1.0)
    mean, low, high = mean_interval([1.0, 0.0] * 4, seed=3)
    assert mean == 0.5 and 0.0 < low < 0.5 < high < 1.0
    assert mean_interval([1.0, 0.0] * 4, seed=3) == (mean, low, high)  # seeded
    assert win_tie_loss([1.0, 0.5, 0.0], [0.5, 0.5, 0.5]) == (1, 1, 1)


def test_the_good_model_wins_and_its_figures_are_recorded(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = evaluation_project(ws)
    answers = Models.of(ws, project_id, QUESTIONS)
    assert len(answers.references) == QUESTIONS
    recorded = trained_models.create_model(ws, name="good", base_model="bad", provider="openai-compatible",
                                           provider_model_id="good", project_id=project_id, metrics={"loss": 0.3})
    with chat_server(answers.decide) as server:
        good, bad = f"openai-compatible:good@{server.url}", f"openai-compatible:bad@{server.url}"
        job = evaluation.start_evaluation(ws, project_id, models=[good, bad],
                                          judge=f"openai-compatible:judge@{server.url}", questions=QUESTIONS,
                                          abstention=4, model_id=recorded.id)
    job = jobs.get_job(ws, job.id)
    assert job.status is JobStatus.SUCCESS, job.error_message
    result = evaluation.EvaluationResult.model_validate(job.result_summary)
    assert result.knowledge_source == "training_chunks" and result.dropped_near_duplicates == 0
    assert result.candidates >= QUESTIONS
    assert [found.name for found in result.sets] == ["knowledge", "held_out", "abstention"]

    knowledge_good, knowledge_bad = result.scores("knowledge", good), result.scores("knowledge", bad)
    for metric in ("token_f1", "rouge_l", "exact_match"):
        assert knowledge_good.metrics[metric].model_dump() == {"mean": 1.0, "low": 1.0, "high": 1.0, "n": QUESTIONS}
        interval = knowledge_bad.metrics[metric]  # right on 4 of the 8 questions, nothing in common on the others
        assert interval.mean == 0.5 and 0.0 < interval.low < 0.5 < interval.high < 1.0, interval
    # bad against good: never better, equal where it is right; the judge agrees in both orders
    assert knowledge_bad.versus_first["token_f1"].model_dump() == {"wins": 0, "ties": 4, "losses": 4}
    assert knowledge_bad.versus_first["judge"].model_dump() == {"wins": 0, "ties": 4, "losses": 4}
    assert result.scores("abstention", good).metrics["abstained"].mean == 1.0
    assert result.scores("abstention", bad).metrics["abstained"].model_dump() == {"mean": 0.0, "low": 0.0,
                                                                                    "high": 0.0, "n": 4}
    assert result.scores("abstention", bad).versus_first["abstained"].losses == 4
    # the held-out questions are the eval split's, which neither fake model knows: good declines, bad invents
    held_out = next(found for found in result.sets if found.name == "held_out")
    assert {row.question for row in held_out.questions} == set(answers.held_out)
    assert result.scores("held_out", good).metrics["abstained"].mean == 1.0
    assert result.scores("held_out", bad).metrics["abstained"].mean == 0.0

    report = (ws.files.root / result.report_path).read_text(encoding="utf-8")
    assert result.report_path == f"{project_id}/evaluations/{job.id}/report.md"
    assert "| token F1 | ROUGE-L | key fact (exact match) |" in report and "0 / 4 / 4" in report
    assert "1.000 [1.000, 1.000]" in report and "## Side by side" in report and "Held-out set" in report
    assert next(iter(answers.references)) in report and "![chart](chart.png)" in report
    chart = (ws.files.root / result.chart_path).read_bytes()
    assert result.chart_path == f"{project_id}/evaluations/{job.id}/chart.png"
    assert chart.startswith(b"\x89PNG\r\n\x1a\n") and len(chart) > 2000

    with ws.unit_of_work() as uow:
        stored = uow.models.get(recorded.id)
    assert stored.metrics["accuracy"] == 1.0 and stored.metrics["f1_score"] == 1.0
    assert stored.metrics["loss"] == 0.3  # the figures already there stay
    assert stored.metrics["evaluation"]["id"] == job.id
    assert stored.metrics["evaluation"]["versus"][bad]["judge"]["losses"] == 4
    assert stored.metrics["evaluation"]["held_out"]["abstained"]["mean"] == 1.0
    listed, total = evaluation.list_evaluations(ws, project_id)
    assert total == 1 and listed[0].id == job.id


def test_a_question_near_a_training_one_is_dropped(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = evaluation_project(ws)
    before = knowledge_set(ws, project_id, QUESTIONS)
    assert not before.dropped
    planted = before.questions[0]
    with ws.unit_of_work() as uow:  # a training example asking the same, but for a trailing "?"
        uow.examples.add([Example(project_id=project_id, split="train", request_key="planted:0", messages=[
            Message(role="user", content=planted.question.rstrip("?")),
            Message(role="assistant", content=planted.reference or "")])])
    after = knowledge_set(ws, project_id, QUESTIONS)
    assert after.dropped == [planted.question]
    assert planted.question not in {question.question for question in after.questions}
    assert len(after.questions) == QUESTIONS  # the next candidates fill the set


def test_knowledge_questions_ask_about_the_facts_trained_on_in_new_words(finetune_workspace: Workspace) -> None:
    """The extractive generator words an evaluation's questions apart from its training ones ("What does X
    mean?"), over the chunks the training examples came from, and keeps only those whose evidence a training
    example holds: a fact of the document that no training example showed is not knowledge the fine-tune had."""
    ws = finetune_workspace
    project_id = evaluation_project(ws)
    with ws.unit_of_work() as uow:
        training = [e for e in uow.examples.iterate(project_id) if e.split == "train"]
    found = knowledge_set(ws, project_id, QUESTIONS)
    assert found.source == "training_chunks" and len(found.questions) == QUESTIONS and not found.dropped
    asked = {e.question for e in training}
    for question in found.questions:
        assert question.question not in asked
        assert any(_flat(question.evidence) in _flat(e.evidence) for e in training)
    with ws.unit_of_work() as uow:  # keep the training examples of one chunk only
        kept_chunk = training[0].chunk_id
        uow.examples.update({e.id: {"split": "unassigned"} for e in training if e.chunk_id != kept_chunk})
        kept = [e for e in training if e.chunk_id == kept_chunk]
        uow.examples.update({e.id: {"evidence": kept[0].evidence} for e in kept})  # one fact taught, many times
    narrow = knowledge_set(ws, project_id, QUESTIONS)
    assert narrow.questions and all(_flat(q.evidence) in _flat(kept[0].evidence) for q in narrow.questions)
    assert narrow.off_training > 0


def test_the_held_out_set_is_the_eval_splits_examples(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = evaluation_project(ws)
    with ws.unit_of_work() as uow:
        held = [e for e in uow.examples.iterate(project_id, split="eval") if e.is_valid]
        sources = {s.id: s.name for s in uow.sources.search(project_id, limit=None)[0]}
    found = held_out_set(ws, project_id, 100)
    assert sorted(q.question for q in found) == sorted(e.question for e in held) and found
    assert {q.source for q in found} <= {sources[e.source_id or ""] for e in held}
    assert len(held_out_set(ws, project_id, 2)) == 2 and held_out_set(ws, project_id, 2) == held_out_set(
        ws, project_id, 2)  # a seeded choice


def test_what_cannot_be_evaluated_is_refused(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    empty = ws.create_project("Empty")
    with pytest.raises(InvalidInputError, match="no chunks"):
        evaluation.start_evaluation(ws, empty.id, models=["embedded", "openai-compatible:x@http://127.0.0.1:9/v1"])
    with pytest.raises(InvalidInputError, match="no finished fine-tune"):
        evaluation.start_evaluation(ws, empty.id)
    chunked = ws.create_project("Chunked, no dataset")
    add_text_sources(ws, chunked.id, 2)
    ws.run_pipeline(chunked.id, ["load", "chunk"])
    with pytest.raises(InvalidInputError, match="no dataset to evaluate on: generate one first"):
        evaluation.start_evaluation(ws, chunked.id, models=["embedded", "openai-compatible:x@http://127.0.0.1:9/v1"])
    with pytest.raises(InvalidInputError, match="two or more"):
        evaluation.start_evaluation(ws, empty.id, models=["embedded", "embedded"])
    with pytest.raises(FinetuneError, match="no chat model 'nowhere'") as refused:
        evaluation.start_evaluation(ws, empty.id, models=["embedded", "nowhere"])
    assert refused.value.error_code == "MODEL_NOT_FOUND"
    assert evaluation.list_evaluations(ws, empty.id) == ([], 0)


def test_the_default_models_are_the_latest_fine_tune_and_its_base(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("Tuned")
    fine_tune = FineTune(project_id=project.id, name="run", trainer="local", base_model="SmolLM2-135M-Instruct",
                         status=FineTuneStatus.COMPLETED)
    model = TrainedModel(project_id=project.id, fine_tune_id=fine_tune.id, name="tuned", base_model="SmolLM2",
                         provider="local", artifact_path="fine_tunes/x/adapter")
    fine_tune.model_id = model.id
    with ws.unit_of_work() as uow:
        uow.fine_tunes.add(fine_tune)
        uow.models.add(model)
    assert evaluation.default_models(ws, project.id) == [model.id, ws.settings.default_chat_model]


def test_the_cli_prints_the_table_and_fails_with_status_1(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = evaluation_project(ws, "Cli")
    answers = Models.of(ws, project_id, 4)
    runner = CliRunner()
    with chat_server(answers.decide) as server:
        good, bad = f"openai-compatible:good@{server.url}", f"openai-compatible:bad@{server.url}"
        done = runner.invoke(cli, ["--workspace", str(ws.root), "evaluate", "--project", "Cli", "--model", good,
                                   "--model", bad, "--questions", "4"], env={"COLUMNS": "250"})
    assert done.exit_code == 0, done.output
    # one row per set and metric: the good model's figure, the bad one's, and bad's record against good
    assert re.search(r"knowledge \(4\)\s*│\s*token_f1\s*│\s*1\.000 \[1\.000, 1\.000\]\s*│\s*0\.500 \[[0-9., ]+\]\s*│"
                     r"\s*0/2/2\s*│", done.output), done.output
    assert "abstention (5)" in done.output and "report:" in done.output
    failed = runner.invoke(cli, ["--workspace", str(ws.root), "evaluate", "--project", "Cli"])
    assert failed.exit_code == 1 and "no finished fine-tune" in failed.output
