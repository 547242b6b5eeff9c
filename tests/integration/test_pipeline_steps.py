"""The pipeline as one job over a project or some of its sources: every step, only the missing work on a rerun."""

from __future__ import annotations

import pytest
from finetune_core import JobStatus, Workspace
from finetune_core.errors import FinetuneError, InvalidInputError
from finetune_core.services import jobs as jobs_service
from kits.pipeline import add_text_sources, all_examples
from kits.samples import SAMPLE_FILES


def test_the_whole_pipeline_as_one_job_and_a_rerun_that_finds_nothing_left(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("whole", config={"num_examples_target": 12})
    for kind in ("markdown", "docx"):
        ws.add_file(project.id, SAMPLE_FILES[kind])
    job = ws.run_pipeline(project.id, generator="extractive")
    steps = job.result_summary["steps"]
    assert list(steps) == ["load", "chunk", "generate", "curate"]
    assert steps["load"]["ready"] == 2 and steps["chunk"]["chunks"] >= 2
    assert steps["generate"]["new_examples"] >= 12
    made = all_examples(ws, project.id)
    assert steps["curate"]["total"] == len(made) and steps["curate"]["valid"] > 0
    assert {example.split for example in made if example.is_valid} <= {"train", "eval"}
    assert ws.project(project.id).status.value == "ready"

    again = ws.run_pipeline(project.id, generator="extractive").result_summary["steps"]
    assert again["load"]["sources"] == 0 and again["chunk"] == {"skipped": True, "message": "nothing to do"}
    assert again["generate"]["requests"] == 0 and again["generate"]["message"].startswith("nothing left to do")
    assert [example.id for example in all_examples(ws, project.id)] == [example.id for example in made]


def test_steps_over_some_sources_touch_those_alone(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("scoped")
    chosen, _ = add_text_sources(ws, project.id, 2)
    ws.run_pipeline(project.id, ["load"])
    job = ws.run_pipeline(project.id, ["chunk", "generate", "curate"], source_ids=[chosen], target=3,
                          generator="extractive")
    assert job.result_summary["steps"]["generate"]["new_examples"] >= 3
    assert {example.source_id for example in all_examples(ws, project.id)} == {chosen}
    assert {chunk.source_id for chunk in ws.chunks(project.id, limit=None)} == {chosen}


def test_a_failed_step_fails_the_job_and_the_rerun_resumes_after_the_steps_that_were_done(
        finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("resumed", config={"num_examples_target": 4})
    add_text_sources(ws, project.id, 1)
    with pytest.raises(FinetuneError, match="generator"):
        ws.run_pipeline(project.id, generator="no-such-generator")
    failed = jobs_service.list_jobs(ws, project_id=project.id, type="pipeline")[0][0]
    assert failed.status is JobStatus.FAILED
    assert len(ws.chunks(project.id, limit=None)) == 1  # the load and the chunking were done and kept

    steps = ws.run_pipeline(project.id, generator="extractive").result_summary["steps"]
    assert steps["load"]["sources"] == 0 and steps["chunk"]["skipped"]
    assert steps["generate"]["new_examples"] >= 4


def test_an_unknown_step_or_option_is_refused_before_any_job(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("refused")
    with pytest.raises(InvalidInputError, match="unknown pipeline step 'split'"):
        ws.run_pipeline(project.id, ["load", "split"])
    with pytest.raises(InvalidInputError, match="invalid pipeline options"):
        ws.run_pipeline(project.id, ["load"], temperature=0.2)
    assert jobs_service.list_jobs(ws, project_id=project.id)[1] == 0
