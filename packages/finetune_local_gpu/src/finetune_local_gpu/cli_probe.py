"""`finetune hardware` and `finetune resolve MODEL`."""

from __future__ import annotations

from typing import Any

import click
from finetune_core.cli.common import emit, handle_errors, make_table, state
from finetune_core.model_tools import HardwareReport
from finetune_core.services.model_access import Origin
from pydantic import BaseModel

from finetune_local_gpu.hardware import probe_hardware
from finetune_local_gpu.resolve import DEFAULT_BATCH_SIZE, DEFAULT_SEQ_LEN, resolve_model
from finetune_local_gpu.services import resolve_for_project

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="JSON output (as `finetune --json`).")


def _use_json(as_json: bool) -> None:
    if as_json:
        state().as_json = True


def _rows(model: BaseModel) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for name, value in model.model_dump(mode="json").items():
        if isinstance(value, list):
            rows.extend((name if i == 0 else "", item) for i, item in enumerate(value or ["-"]))
        elif isinstance(value, dict):
            rows.extend((f"{name}.{key}", item) for key, item in value.items())
        else:
            rows.append((name, value))
    return rows


@click.command()
@JSON_OPTION
@handle_errors
def hardware(as_json: bool) -> None:
    """Probe this machine's GPU, CUDA, torch and bitsandbytes, and recommend a fine-tuning method."""
    _use_json(as_json)
    report = probe_hardware()
    emit(report, make_table("Hardware", ["field", "value"], _rows(report)))


@click.command()
@click.argument("model")
@click.option("--project", "project_ref", default=None,
              help="Store the result on this project (base_model_id, model_info), with its batch size and length.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="For the training estimates [default: 4].")
@click.option("--seq-len", type=click.IntRange(min=1), default=None,
              help="For the training estimates [default: 2048, or the project's max_seq_length].")
@click.option("--endpoint", envvar="HF_ENDPOINT", default=None, help="The Hugging Face Hub's address (HF_ENDPOINT).")
@click.option("--no-hardware", is_flag=True, help="Skip the check against this machine's GPU.")
@JSON_OPTION
@handle_errors
def resolve(model: str, project_ref: str | None, batch_size: int | None, seq_len: int | None, endpoint: str | None,
            no_hardware: bool, as_json: bool) -> None:
    """Resolve MODEL (a Hugging Face id or a local folder): architecture, parameters, licence, memory needed."""
    _use_json(as_json)
    # an empty report: no GPU figures, so no fit check
    hardware_report = HardwareReport() if no_hardware else probe_hardware()
    if project_ref:
        info = resolve_for_project(state().workspace, project_ref, model, batch_size=batch_size, seq_len=seq_len,
                                   hardware=hardware_report, endpoint=endpoint, origin=Origin.LOCAL)
    else:
        info = resolve_model(model, batch_size=batch_size or DEFAULT_BATCH_SIZE, seq_len=seq_len or DEFAULT_SEQ_LEN,
                             endpoint=endpoint, hardware=hardware_report)
    emit(info, make_table(f"Model {info.model_id}", ["field", "value"], _rows(info)))
