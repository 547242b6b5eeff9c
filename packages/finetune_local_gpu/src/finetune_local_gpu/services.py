"""Use cases of the local-GPU plugin that the CLI and the REST API share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from finetune_core.services import projects
from finetune_core.services.model_access import Origin, check_base_model

from finetune_local_gpu.hardware import probe_hardware
from finetune_local_gpu.resolve import DEFAULT_BATCH_SIZE, resolve_model

if TYPE_CHECKING:
    from finetune_core.model_tools import HardwareReport, ModelInfo
    from finetune_core.ports import WorkspacePort

# the training hyperparameter of finetuneflow §8, when a project's config carries it
BATCH_SIZE_KEY = "per_device_batch_size"


def resolve_for_project(
    workspace: WorkspacePort,
    project_id: str,
    model_id: str,
    *,
    batch_size: int | None = None,
    seq_len: int | None = None,
    hardware: HardwareReport | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    origin: Origin = Origin.REMOTE,
    owner_id: str | None = None,
) -> ModelInfo:
    """Resolve `model_id` for a project and store it as the project's `base_model_id` and `model_info`.

    The estimates use the project's batch size (`per_device_batch_size` in its config, else 4) and
    `max_seq_length` unless given; the fit check uses `hardware`, else this machine's probe. Which
    names a caller of `origin` may resolve is core's rule (`model_access.check_base_model`): a web
    client reads no folder of the server's but its own registered models' and the operator's models
    directory's.
    """
    ref = check_base_model(workspace, model_id, origin=origin, owner_id=owner_id)
    project = projects.get_project(workspace, project_id)
    extra = project.config.model_extra or {}
    info = resolve_model(
        ref,
        batch_size=batch_size or int(extra.get(BATCH_SIZE_KEY) or DEFAULT_BATCH_SIZE),
        seq_len=seq_len or project.config.max_seq_length,
        endpoint=endpoint,
        token=token,
        hardware=hardware if hardware is not None else probe_hardware(),
        allow_local=True,  # check_base_model refused every folder this caller may not have read
    )
    projects.update_project(workspace, project.id, base_model_id=info.model_id, model_info=info.model_dump(mode="json"))
    return info
