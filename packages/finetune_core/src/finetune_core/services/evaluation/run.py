"""An evaluation of two or more chat models on the project's own documents (see the package doc): the question sets,
the answers, their scores and comparisons, the report and chart in the file store, and the first model's figures on
its TrainedModel (`metrics`: `accuracy`, `f1_score`, `evaluation`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from finetune_core.domain import FineTuneStatus, Job, new_id
from finetune_core.errors import InvalidInputError, NotFoundError, NothingProducedError
from finetune_core.services import chat_targets
from finetune_core.services import jobs as jobs_service
from finetune_core.services.evaluation import asking, report
from finetune_core.services.evaluation.question_sets import (
    Question,
    abstention_set,
    documents_text,
    held_out_set,
    knowledge_material,
    knowledge_set,
)
from finetune_core.services.evaluation.results import (
    Answered,
    EvaluationResult,
    Interval,
    ModelScores,
    Record,
    SetResult,
)
from finetune_core.services.evaluation.scoring import (
    abstains,
    document_frequencies,
    exact_match,
    key_fact,
    mean_interval,
    rouge_l,
    token_f1,
    win_tie_loss,
)
from finetune_core.services.model_access import Origin

if TYPE_CHECKING:
    from finetune_core.domain import Project, TrainedModel
    from finetune_core.jobs.context import JobContext
    from finetune_core.ports import WorkspacePort

EVALUATE_JOB = "evaluate"
DEFAULT_QUESTIONS = 20
DEFAULT_ABSTENTION = 5
MAX_QUESTIONS = 200
ANSWER_CHARS = 2000  # what the result keeps of an answer
DEFAULT_MAX_TOKENS = 512
MAX_ANSWER_TOKENS = 4096


def default_models(workspace: WorkspacePort, project_id: str) -> list[str]:
    """The project's latest finished fine-tune's model, and its base as a chat model (a local fine-tune's base is
    the embedded model); InvalidInputError when the project has none."""
    with workspace.unit_of_work() as uow:
        finished, _ = uow.fine_tunes.search(project_id=project_id, statuses=[FineTuneStatus.COMPLETED.value],
                                            limit=None)
        model = next((uow.models.get(item.model_id) for item in finished if item.model_id), None)
    if model is None:
        raise InvalidInputError("the project has no finished fine-tune to evaluate: name two or more models to "
                                "compare (`--model REF`, or `models` in the body)", project_id=project_id)
    if model.provider == chat_targets.LOCAL_PROVIDER:
        return [model.id, workspace.settings.default_chat_model]
    if model.provider in workspace.plugins.chat_models:
        return [model.id, f"{model.provider}:{model.base_model}"]
    raise InvalidInputError(f"no chat model answers as the base of model '{model.id}' (provider '{model.provider}'): "
                            "name the models to compare", model_id=model.id)


def _record_model(workspace: WorkspacePort, reference: str, model_id: str | None,
                  owner_id: str | None) -> TrainedModel | None:
    """The TrainedModel the first model's figures go on: `model_id`, else the first reference when it is one."""
    with workspace.unit_of_work() as uow:
        try:
            found = uow.models.get(model_id or reference)
        except NotFoundError:
            if model_id is None:
                return None
            raise
    if owner_id is not None and found.owner_id != owner_id:
        raise NotFoundError(f"model '{found.id}' not found", model_id=found.id)
    return found


def check_request(workspace: WorkspacePort, project_id: str, models: list[str] | None, judge: str | None,
                  questions: int, model_id: str | None = None,
                  max_tokens: int = DEFAULT_MAX_TOKENS) -> tuple[Project, list[str]]:
    """The project and the model references, once everything the evaluation needs is there (InvalidInputError
    saying what to do otherwise): two or more models that resolve, a judge that does, chunks to ask about."""
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
    if not 1 <= questions <= MAX_QUESTIONS:
        raise InvalidInputError(f"questions is a count from 1 to {MAX_QUESTIONS}, not {questions}")
    if not 1 <= max_tokens <= MAX_ANSWER_TOKENS:
        raise InvalidInputError(f"max_tokens is a count from 1 to {MAX_ANSWER_TOKENS}, not {max_tokens}")
    references = list(dict.fromkeys(ref.strip() for ref in models if ref.strip())) if models else \
        default_models(workspace, project.id)
    if len(references) < 2:
        raise InvalidInputError("an evaluation compares two or more different models: name at least two")
    for reference in [*references, *([judge] if judge else [])]:
        chat_targets.resolve(workspace, reference, project.owner_id)
    _record_model(workspace, references[0], model_id, project.owner_id)
    knowledge_material(workspace, project.id)  # the project has chunks to ask about
    return project, references


def start_evaluation(workspace: WorkspacePort, project_id: str, *, models: list[str] | None = None,
                     judge: str | None = None, questions: int = DEFAULT_QUESTIONS,
                     abstention: int = DEFAULT_ABSTENTION, model_id: str | None = None,
                     max_tokens: int = DEFAULT_MAX_TOKENS, origin: Origin = Origin.LOCAL) -> Job:
    """Check the request (see `check_request`), then queue the `evaluate` job; its result summary is the
    EvaluationResult."""
    project, references = check_request(workspace, project_id, models, judge, questions, model_id, max_tokens)
    params: dict[str, Any] = {"models": references, "judge": judge, "questions": questions,
                              "abstention": abstention, "model_id": model_id}
    if max_tokens != DEFAULT_MAX_TOKENS:
        params["max_tokens"] = max_tokens
    if origin is not Origin.LOCAL:
        params["origin"] = origin.value
    return jobs_service.enqueue(workspace, EVALUATE_JOB, project_id=project.id,
                                **{key: value for key, value in params.items() if value is not None})


def _knowledge_rows(questions: list[Question], answers: dict[str, list[str | None]], *,
                    abstention: bool = False) -> list[Answered]:
    """Scored against the references; with `abstention` (the held-out set), whether each answer declines too."""
    frequency = document_frequencies(question.reference or "" for question in questions)
    rows = []
    for index, question in enumerate(questions):
        reference = question.reference or ""
        fact = key_fact(reference, frequency)
        row = Answered(question=question.question, reference=reference, key_fact=fact, source=question.source)
        for model, said in answers.items():
            text = said[index] or ""
            row.answers[model] = text[:ANSWER_CHARS]
            row.scores[model] = {"token_f1": token_f1(text, reference), "rouge_l": rouge_l(text, reference),
                                 "exact_match": exact_match(text, fact)}
            if abstention:
                row.scores[model]["abstained"] = float(said[index] is not None and abstains(text))
        rows.append(row)
    return rows


def _abstention_rows(questions: list[Question], answers: dict[str, list[str | None]]) -> list[Answered]:
    rows = []
    for index, question in enumerate(questions):
        row = Answered(question=question.question)
        for model, said in answers.items():
            text = said[index]
            row.answers[model] = (text or "")[:ANSWER_CHARS]
            row.scores[model] = {"abstained": float(text is not None and abstains(text))}
        rows.append(row)
    return rows


def _set_result(name: Any, main: str, rows: list[Answered], answers: dict[str, list[str | None]],
                labels: dict[str, str], seed: int) -> SetResult:
    models = list(answers)
    metrics = list(rows[0].scores[models[0]]) if rows else [main]
    scored = []
    for model in models:
        values = {metric: [row.scores[model][metric] for row in rows] for metric in metrics}
        scores = ModelScores(model=model, label=labels[model], failed=sum(1 for a in answers[model] if a is None))
        for metric, series in values.items():
            mean, low, high = mean_interval(series, seed=seed)
            scores.metrics[metric] = Interval(mean=round(mean, 4), low=round(low, 4), high=round(high, 4),
                                              n=len(series))
        if model != models[0]:
            first = [row.scores[models[0]][main] for row in rows]
            wins, ties, losses = win_tie_loss(values[main], first)
            scores.versus_first[main] = Record(wins=wins, ties=ties, losses=losses)
        scored.append(scores)
    return SetResult(name=name, main_metric=main, models=scored, questions=rows)


async def _ask_all(workspace: WorkspacePort, project: Project, references: list[str], judge: str | None,
                   questions: list[str], knowledge: list[Question], max_tokens: int,
                   context: JobContext | None) -> tuple[dict[str, list[str | None]], dict[str, list[str]]]:
    """Every model's answers to `questions`, then, with a judge, each challenger's outcomes on the knowledge set."""
    answers: dict[str, list[str | None]] = {}
    for done, reference in enumerate(references):
        if context is not None:
            context.progress(done, len(references) + bool(judge), f"asking {reference}")
        target = chat_targets.resolve(workspace, reference, project.owner_id)
        model = chat_targets.build(workspace, target, project.owner_id, temperature=0.0, max_tokens=max_tokens)
        answers[reference] = await asking.answers(model, questions, project.config.system_prompt)
    outcomes: dict[str, list[str]] = {}
    if judge:
        if context is not None:
            context.progress(len(references), len(references) + 1, f"judging with {judge}")
        target = chat_targets.resolve(workspace, judge, project.owner_id)
        judge_model = chat_targets.build(workspace, target, project.owner_id, temperature=0.0, json_mode=True)
        first = references[0]
        try:
            for challenger in references[1:]:
                items = [(q.question, q.reference or "", answers[first][i] or "", answers[challenger][i] or "")
                         for i, q in enumerate(knowledge)]
                outcomes[challenger] = list(await asking.judge_pairs(judge_model, items))
        finally:
            await judge_model.aclose()
    return answers, outcomes


def _store_metrics(workspace: WorkspacePort, record: TrainedModel, result: EvaluationResult) -> None:
    knowledge = result.scores("knowledge", result.models[0])
    summary: dict[str, Any] = {
        "id": result.id, "project_id": result.project_id, "at": result.created_at.isoformat(),
        "models": result.models, "judge": result.judge, "report_path": result.report_path,
        "chart_path": result.chart_path,
        **{found.name: {name: value.model_dump() for name, value in result.scores(found.name, result.models[0])
                        .metrics.items()} for found in result.sets},
        "versus": {other.model: {how: record_.model_dump() for how, record_ in other.versus_first.items()}
                   for other in next(item for item in result.sets if item.name == "knowledge").models[1:]},
    }
    with workspace.unit_of_work() as uow:
        current = uow.models.get(record.id)
        uow.models.set_metrics(record.id, {**current.metrics, "accuracy": knowledge.metrics["exact_match"].mean,
                                           "f1_score": knowledge.metrics["token_f1"].mean, "evaluation": summary})


def _write_report(workspace: WorkspacePort, project: Project, result: EvaluationResult) -> None:
    workspace.files.put(result.chart_path, report.png_chart(result))
    workspace.files.put(result.report_path, report.markdown(result, project.name).encode("utf-8"))


def evaluate(workspace: WorkspacePort, project_id: str, *, models: list[str] | None = None, judge: str | None = None,
             questions: int = DEFAULT_QUESTIONS, abstention: int = DEFAULT_ABSTENTION, model_id: str | None = None,
             max_tokens: int = DEFAULT_MAX_TOKENS, origin: Origin = Origin.LOCAL, evaluation_id: str | None = None,
             context: JobContext | None = None) -> EvaluationResult:
    """Ask `models` (default: the latest fine-tune's model and its base) the knowledge, held-out and abstention
    questions, score and compare their answers, write the report, and record the first model's figures on its
    TrainedModel."""
    project, references = check_request(workspace, project_id, models, judge, questions, model_id, max_tokens)
    record = _record_model(workspace, references[0], model_id, project.owner_id)
    knowledge = knowledge_set(workspace, project.id, questions, origin=origin, context=context)
    if not knowledge.questions:
        raise InvalidInputError(f"no knowledge question is left to ask: the generator gave {knowledge.candidates}, "
                                f"{len(knowledge.dropped)} of them near-duplicates of training questions and "
                                f"{knowledge.off_training} about passages no training example covers; add documents "
                                "or generate more examples", project_id=project.id)
    held_out = held_out_set(workspace, project.id, questions)
    invented = abstention_set(abstention, seed=project.config.seed, documents=documents_text(workspace, project.id))
    asked = [question.question for question in [*knowledge.questions, *held_out, *invented]]
    work = _ask_all(workspace, project, references, judge, asked, knowledge.questions, max_tokens, context)
    answers, outcomes = asyncio.run(context.cancellable(work) if context is not None else work)
    for reference, said in answers.items():
        if all(answer is None for answer in said):
            raise NothingProducedError(f"model '{reference}' answered none of the {len(said)} questions",
                                       summary={"models": references, "questions": len(said)})
    labels = {ref: chat_targets.resolve(workspace, ref, project.owner_id).label for ref in references}
    ends = (len(knowledge.questions), len(knowledge.questions) + len(held_out))
    knowledge_answers = {ref: said[:ends[0]] for ref, said in answers.items()}
    held_answers = {ref: said[ends[0]:ends[1]] for ref, said in answers.items()}
    abstention_answers = {ref: said[ends[1]:] for ref, said in answers.items()}
    seed = project.config.seed
    knowledge_result = _set_result("knowledge", "token_f1", _knowledge_rows(knowledge.questions, knowledge_answers),
                                   knowledge_answers, labels, seed)
    for scores in knowledge_result.models[1:]:
        if scores.model in outcomes:
            found = outcomes[scores.model]
            scores.versus_first["judge"] = Record(wins=found.count("win"), ties=found.count("tie"),
                                                  losses=found.count("loss"))
    sets = [knowledge_result]
    if held_out:
        sets.append(_set_result("held_out", "token_f1", _knowledge_rows(held_out, held_answers, abstention=True),
                                held_answers, labels, seed))
    if invented:
        sets.append(_set_result("abstention", "abstained", _abstention_rows(invented, abstention_answers),
                                abstention_answers, labels, seed))
    identifier = evaluation_id or new_id()
    folder = f"{project.id}/evaluations/{identifier}"
    result = EvaluationResult(
        id=identifier, project_id=project.id, models=references, judge=judge,
        record_model_id=record.id if record else None, knowledge_source=knowledge.source,
        candidates=knowledge.candidates, dropped_near_duplicates=len(knowledge.dropped),
        dropped_off_training=knowledge.off_training, sets=sets, report_path=f"{folder}/report.md",
        chart_path=f"{folder}/{report.CHART_FILE}")
    _write_report(workspace, project, result)
    if record is not None:
        _store_metrics(workspace, record, result)
    return result


def evaluate_job(context: JobContext, *, project_id: str, models: list[str] | None = None, judge: str | None = None,
                 questions: int = DEFAULT_QUESTIONS, abstention: int = DEFAULT_ABSTENTION,
                 model_id: str | None = None, max_tokens: int = DEFAULT_MAX_TOKENS,
                 origin: str = Origin.LOCAL) -> dict[str, Any]:
    """The `evaluate` job: its result summary is the EvaluationResult."""
    result = evaluate(context.workspace, project_id, models=models, judge=judge, questions=questions,
                      abstention=abstention, model_id=model_id, max_tokens=max_tokens, origin=Origin(origin),
                      evaluation_id=context.job_id, context=context)
    return result.model_dump(mode="json")


def list_evaluations(workspace: WorkspacePort, project_id: str, *, limit: int | None = 50,
                     offset: int = 0) -> tuple[list[Job], int]:
    """The project's evaluation jobs, newest first (a finished one's result summary is its EvaluationResult)."""
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
    return jobs_service.list_jobs(workspace, project_id=project.id, type=EVALUATE_JOB, limit=limit, offset=offset)
