"""`finetune maintenance cleanup|metrics`: the maintenance tasks once, now (the schedules run them on their own)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from finetune_core.cli.common import emit, handle_errors, make_table, state
from finetune_core.services import maintenance as maintenance_service


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@click.group()
def maintenance() -> None:
    """Clean up what is left over, or collect the service's metrics, once."""


@maintenance.command("cleanup")
@handle_errors
def cleanup() -> None:
    """Remove expired sessions, orphaned files, abandoned uploads and old job events; finish interrupted erasures."""
    report = maintenance_service.cleanup(state().workspace)
    details = report.model_dump(exclude={"finished_at"})
    emit({"cleaned": report.cleaned, "details": details, "timestamp": _utc(report.finished_at)},
         make_table("Cleanup", ["removed", "count"], list(details.items())), message=f"{report.cleaned} removed")


@maintenance.command("metrics")
@handle_errors
def metrics() -> None:
    """Users, active users, payments, active chats and pending jobs."""
    figures = maintenance_service.metrics(state().workspace)
    values = figures.model_dump(exclude={"collected_at"})
    emit({"metrics": values, "timestamp": _utc(figures.collected_at)},
         make_table("Metrics", ["metric", "value"], list(values.items())))
