"""Job types: a name and the plain function that runs it, registered through `finetune_register_job_types`.

The core's own (ingest, chunk, ..., model_export) come from its `core_jobs` plugin
(`finetune_core.services.job_types`), a plugin's from its hook; every process that loads the plugins knows them,
an RQ work horse included. `register_job_type` adds one by hand (tests, scripts): a handler, or a dotted path
imported when the job runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finetune_core.errors import InvalidInputError
from finetune_core.plugins import registries

if TYPE_CHECKING:
    from finetune_core.domain import Job
    from finetune_core.ports import WorkspacePort

JobHandler = Callable[..., dict[str, Any]]
JobCheck = Callable[["WorkspacePort", "Job"], None]


@dataclass(frozen=True)
class JobType:
    """What `finetune_register_job_types` registers: jobs of type `name` run `handler(context, **job.params)`.

    `check(workspace, job)`, when given, runs first each time the job starts (claimed, before its handler): what
    may have changed since the job was queued (the core's pipeline steps re-check their order). What it raises
    fails the job as the handler's errors do.
    """

    name: str
    handler: JobHandler
    check: JobCheck | None = None
    description: str = ""


_REGISTERED: dict[str, JobType] = {}  # by register_job_type: they win over the plugins' ones of the same name


def _imported(dotted_path: str) -> JobHandler:
    """A handler that imports "package.module:function" when the job runs."""
    module_name, _, attribute = dotted_path.partition(":")

    def handler(context: Any, **params: Any) -> dict[str, Any]:
        function: JobHandler = getattr(importlib.import_module(module_name), attribute)
        return function(context, **params)

    handler.__qualname__ = handler.__name__ = dotted_path
    return handler


def register_job_type(type: str, handler: JobHandler | str, *, check: JobCheck | None = None) -> None:
    """Add a job type run by the same runners, without a plugin: `handler` is the function, or its dotted path
    ("package.module:function", imported when a job of the type runs).

    It holds for this process: a worker's work horses know it when the module calling this is imported there too
    (`finetune worker --import MODULE`). A plugin registers its job types with `finetune_register_job_types`.
    """
    _REGISTERED[type] = JobType(type, _imported(handler) if isinstance(handler, str) else handler, check=check)


def job_type_for(type: str, job_types: Iterable[JobType] | None = None) -> JobType:
    """The job type named `type`: registered by hand, else by a plugin (`job_types`: the registered ones,
    `registries().job_types` unless given); InvalidInputError when there is none."""
    if type in _REGISTERED:
        return _REGISTERED[type]
    if job_types is None:
        job_types = registries().job_types
    for job_type in job_types:
        if job_type.name == type:
            return job_type
    raise InvalidInputError(f"unknown job type '{type}'", type=type)


def handler_for(type: str, job_types: Iterable[JobType] | None = None) -> JobHandler:
    """The function that runs jobs of type `type`; InvalidInputError when the type is unknown."""
    return job_type_for(type, job_types).handler
