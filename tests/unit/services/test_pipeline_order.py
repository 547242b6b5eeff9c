"""The pipeline's steps and their order against the project's other jobs, on the fake unit of work."""

from __future__ import annotations

import pytest
from finetune_core.domain import Job, JobStatus, Project, Source, SourceStatus, SourceType
from finetune_core.errors import InvalidInputError, PipelineBusyError
from finetune_core.services import pipeline_order
from finetune_core.services.pipeline import pipeline_params
from finetune_core.services.pipeline_order import PIPELINE, PipelineStep, Step, parse_steps, span_of
from kits.fake_workspace import FakeWorkspace


def test_steps_are_read_in_the_pipelines_order_whatever_order_they_are_named_in() -> None:
    assert parse_steps(["curate", "LOAD", "generate", "load"]) == [
        PipelineStep.LOAD, PipelineStep.GENERATE, PipelineStep.CURATE]
    with pytest.raises(InvalidInputError) as unknown:
        parse_steps(["load", "split", "export"])
    assert unknown.value.error_code == "UNKNOWN_STEP"
    assert "'export', 'split'" in unknown.value.message and "load, chunk, generate, curate" in unknown.value.message
    with pytest.raises(InvalidInputError, match="no pipeline step given"):
        parse_steps([])


def test_a_pipeline_job_spans_the_steps_it_was_given() -> None:
    assert span_of(PIPELINE, {"steps": ["generate", "curate"]})[:2] == (Step.GENERATE, Step.DATASET)
    assert span_of(PIPELINE, {"steps": ["load"]})[:2] == (Step.LOAD, Step.LOAD)
    assert span_of("chunk", {}) == pipeline_order.STEPS["chunk"]
    assert span_of("fine_tune", {}) is None


def test_pipeline_params_are_checked_before_a_job_is_queued() -> None:
    assert pipeline_params(["curate", "load"], source_ids=["a", "a", "b"], target=5) == {
        "steps": ["load", "curate"], "target": 5, "source_ids": ["a", "b"]}
    with pytest.raises(InvalidInputError) as wrong:
        pipeline_params(["load"], target="many", temperature=2)
    assert wrong.value.error_code == "INVALID_OPTIONS"
    assert "target" in wrong.value.message and "temperature" in wrong.value.message


def _project(workspace: FakeWorkspace, *statuses: SourceStatus) -> tuple[Project, list[Source]]:
    project = Project(name="p")
    sources = [Source(project_id=project.id, name=f"s{i}.md", type=SourceType.MARKDOWN, status=status)
               for i, status in enumerate(statuses)]
    with workspace.unit_of_work() as uow:
        uow.projects.add(project)
        for source in sources:
            uow.sources.add(source)
    return project, sources


def _check(workspace: FakeWorkspace, job: Job) -> None:
    with workspace.unit_of_work() as uow:
        pipeline_order.ensure_job_ready(uow, job)


def test_a_pipeline_that_loads_may_start_over_pending_sources_one_that_does_not_may_not(
        workspace: FakeWorkspace) -> None:
    project, (pending, _) = _project(workspace, SourceStatus.PENDING, SourceStatus.READY)
    _check(workspace, Job(type=PIPELINE, project_id=project.id, params={"steps": ["load", "chunk", "generate"]}))
    with pytest.raises(PipelineBusyError) as refused:
        _check(workspace, Job(type=PIPELINE, project_id=project.id, params={"steps": ["generate", "curate"]}))
    assert refused.value.error_code == "SOURCES_NOT_LOADED"
    assert [source["id"] for source in refused.value.context["sources"]] == [pending.id]


def test_a_pipeline_scoped_to_some_sources_loads_those_alone(workspace: FakeWorkspace) -> None:
    project, (chosen, other) = _project(workspace, SourceStatus.PENDING, SourceStatus.PENDING)
    scoped = {"steps": ["load", "generate"], "source_ids": [chosen.id]}
    with pytest.raises(PipelineBusyError) as refused:
        _check(workspace, Job(type=PIPELINE, project_id=project.id, params=scoped))
    assert [source["id"] for source in refused.value.context["sources"]] == [other.id]
    _check(workspace, Job(type=PIPELINE, project_id=project.id, params={**scoped, "source_ids": [chosen.id, other.id]}))


def test_an_unfinished_pipeline_holds_up_only_the_steps_after_its_first(workspace: FakeWorkspace) -> None:
    project, _ = _project(workspace, SourceStatus.READY)
    running = Job(type=PIPELINE, project_id=project.id, status=JobStatus.RUNNING,
                  params={"steps": ["load", "chunk", "generate", "curate"]})
    with workspace.unit_of_work() as uow:
        uow.jobs.add(running)
    with pytest.raises(PipelineBusyError) as refused:
        _check(workspace, Job(type="chunk", project_id=project.id))
    assert refused.value.error_code == "SOURCES_LOADING" and refused.value.context["blocking_job_ids"] == [running.id]
    _check(workspace, Job(type="ingest", project_id=project.id))  # loads wait for nothing

    with workspace.unit_of_work() as uow:
        uow.jobs.rows.jobs[running.id] = running.model_copy(update={"params": {"steps": ["curate"]}})
    _check(workspace, Job(type="chunk", project_id=project.id))  # a curation comes after a chunking
