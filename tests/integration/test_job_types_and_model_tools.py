"""Job types and model tools come through plugin hooks: finetune_register_job_types, finetune_register_model_tools."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from finetune_core import InvalidInputError, JobStatus, NotSupportedError, Workspace, hookimpl
from finetune_core.domain import Job
from finetune_core.errors import PipelineBusyError
from finetune_core.jobs import JobContext, JobType, register_job_type
from finetune_core.model_tools import hardware_probe, model_exporter, model_resolver
from finetune_core.plugins import Registry, registries
from finetune_core.ports import WorkspacePort
from finetune_core.services import jobs, model_exports
from finetune_core.services.job_types import HANDLERS
from finetune_core.services.pipeline_order import STEPS

checked: list[str] = []


def echo_job(context: JobContext, *, word: str) -> dict[str, Any]:
    return {"echo": word}


def refuse_the_second(workspace: WorkspacePort, job: Job) -> None:
    checked.append(job.params["word"])
    if job.params["word"] == "second":
        raise PipelineBusyError("not now", error_code="PIPELINE_BUSY")


class EchoPlugin:
    @hookimpl
    def finetune_register_job_types(self, register: Callable[[Any], None]) -> None:
        register(JobType("test_echo", echo_job, check=refuse_the_second))


def test_the_core_registers_its_job_types_through_its_own_plugin() -> None:
    found = registries().job_types
    assert set(HANDLERS) <= set(found.names())
    assert {found.owner(name) for name in HANDLERS} == {"core_jobs"}
    assert {name for name in HANDLERS if found.get(name).check is not None} == set(STEPS)


def test_a_plugins_job_type_runs_after_its_check(finetune_workspace: Workspace,
                                                 register_finetune_plugin: Callable[..., str]) -> None:
    checked.clear()
    register_finetune_plugin(EchoPlugin(), name="echo-jobs")
    done = jobs.enqueue(finetune_workspace, "test_echo", project_id=None, word="first")
    assert done.status is JobStatus.SUCCESS and done.result_summary == {"echo": "first"}
    refused = jobs.enqueue(finetune_workspace, "test_echo", project_id=None, word="second")
    assert refused.status is JobStatus.FAILED and refused.error_message == "not now"
    assert checked == ["first", "second"]


def test_register_job_type_takes_a_function_or_a_dotted_path(finetune_workspace: Workspace) -> None:
    register_job_type("test_echo_function", echo_job)
    register_job_type("test_echo_path", f"{__name__}:echo_job")
    for type_ in ("test_echo_function", "test_echo_path"):
        job = jobs.enqueue(finetune_workspace, type_, project_id=None, word=type_)
        assert job.status is JobStatus.SUCCESS and job.result_summary == {"echo": type_}


def test_an_unknown_job_type_is_refused_before_anything_is_stored(finetune_workspace: Workspace) -> None:
    with pytest.raises(InvalidInputError, match="unknown job type 'no_such_type'"):
        jobs.enqueue(finetune_workspace, "no_such_type", project_id=None)
    assert jobs.list_jobs(finetune_workspace)[1] == 0


def test_the_local_gpu_plugin_registers_its_three_model_tools() -> None:
    pytest.importorskip("finetune_local_gpu")
    tools = registries().model_tools
    probe, resolver, exporter = hardware_probe(tools), model_resolver(tools), model_exporter(tools)
    assert probe is not None and resolver is not None and exporter is not None
    assert {tools.owner(tool.name) for tool in (probe, resolver, exporter)} == {"local_gpu"}


def test_without_a_model_exporter_the_export_is_not_supported(finetune_workspace: Workspace,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registries(), "model_tools", Registry("model tool"))
    with pytest.raises(NotSupportedError) as refused:
        model_exports.exporter(finetune_workspace)
    assert refused.value.error_code == "PLUGIN_NOT_INSTALLED" and "finetune-local-gpu" in refused.value.message
