"""Start the jobs that turn a project's sources into a dataset, refusing at once what the job would refuse later.

Chunking (`chunk`), a preview (`dataset_preview`) and a full generation (`dataset_generate`) are
queued with checked parameters: a known chunker and generator, an overlap below the size,
generator settings of the accepted names. Keys never travel in job parameters (they are stored
and shown): a generator that needs one gets the project owner's stored key when it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_core.domain import Job
from finetune_core.generation.base import GeneratorSettings
from finetune_core.services import jobs as jobs_service
from finetune_core.services.chunks import chunk_sizes
from finetune_core.services.model_access import Origin, check_model_url

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort


def check_generator(workspace: WorkspacePort, generator: str | None, settings: dict[str, Any] | None,
                    origin: Origin = Origin.LOCAL) -> dict[str, Any]:
    """The settings without unset values, once the generator is known to be installed, they are valid, and
    the model server they name may be called for a caller of `origin` (checked again when the job runs)."""
    if generator is not None:
        workspace.plugins.generators.get(generator)  # UnknownPluginError names the installed ones
    given = {key: value for key, value in (settings or {}).items() if value is not None}
    base_url = GeneratorSettings.model_validate(given).base_url
    if base_url:
        check_model_url(workspace.settings, base_url, origin)
    return given


def start_chunking(workspace: WorkspacePort, project_id: str, *, size: int | None = None, overlap: int | None = None,
                   chunker: str | None = None) -> Job:
    """Queue the (re)chunking of the project's loaded documents; sizes in tokens, defaults from its config."""
    with workspace.unit_of_work() as uow:
        config = uow.projects.get(project_id).config
    chunk_sizes(config, size, overlap)  # refused now, not when the job runs
    if chunker is not None:
        workspace.plugins.chunkers.get(chunker)
    params: dict[str, Any] = {"size": size, "overlap": overlap, "chunker": chunker}
    return jobs_service.enqueue(workspace, "chunk", project_id=project_id,
                                **{key: value for key, value in params.items() if value is not None})


def start_generation(workspace: WorkspacePort, project_id: str, *, preview: bool = False, count: int | None = None,
                     examples_per_chunk: int | None = None, generator: str | None = None,
                     settings: dict[str, Any] | None = None, origin: Origin = Origin.LOCAL) -> Job:
    """Queue a preview (`count` examples, 10 by default) or a full run (`count` the target, else the config's)."""
    params: dict[str, Any] = {"generator": generator,
                              "settings": check_generator(workspace, generator, settings, origin)}
    if origin is not Origin.LOCAL:
        params["origin"] = origin.value
    if preview:
        params["num_examples"] = count or 10
    else:
        params.update(num_examples_target=count, examples_per_chunk=examples_per_chunk)
    kept = {key: value for key, value in params.items() if value not in (None, {})}
    return jobs_service.enqueue(workspace, "dataset_preview" if preview else "dataset_generate",
                                project_id=project_id, **kept)
