"""What an owner holds, counted across aggregates for the usage counters of `GET /api/auth/me`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from finetune_core.domain import utcnow
from finetune_core.storage.tables import ExampleRow, FineTuneRow, ProjectRow


class UsageQueries:
    def __init__(self, session: Session) -> None:
        self.session = session

    def owner_counts(self, owner_id: str | None, *, dataset_key: str, exclude_split: str) -> tuple[int, int, int]:
        """`owner_id`'s projects, datasets and fine-tunes (None: every row), counted in one statement.

        A project holds a dataset when `config[dataset_key]` is set or it has an example outside
        `exclude_split` (services/datasets.py); the counts read the owner indexes and the examples' index.
        """
        has_examples = exists().where(ExampleRow.project_id == ProjectRow.id, ExampleRow.split != exclude_split)
        # ->> (PostgreSQL) and json_extract (SQLite) read a JSON null and a missing key alike as SQL NULL
        is_dataset = or_(ProjectRow.config[dataset_key].as_string().is_not(None), has_examples)
        own_projects = [ProjectRow.owner_id == owner_id] if owner_id else []
        own_fine_tunes = [FineTuneRow.owner_id == owner_id] if owner_id else []
        projects, datasets, fine_tunes = self.session.execute(select(
            select(func.count()).select_from(ProjectRow).where(*own_projects).scalar_subquery(),
            select(func.count()).select_from(ProjectRow).where(*own_projects, is_dataset).scalar_subquery(),
            select(func.count()).select_from(FineTuneRow).where(*own_fine_tunes).scalar_subquery(),
        )).one()
        return int(projects), int(datasets), int(fine_tunes)

    def plan_usage(self, owner_id: str, since: datetime, *, uncounted_statuses: Sequence[str]
                   ) -> tuple[int, int, int, float]:
        """What a plan limits: `owner_id`'s projects, fine-tunings (but those in `uncounted_statuses`), examples
        made since `since` in their projects, and seconds of training started since `since` (a running one counts
        up to now)."""
        projects, fine_tunes, examples = self.session.execute(select(
            select(func.count()).select_from(ProjectRow).where(ProjectRow.owner_id == owner_id).scalar_subquery(),
            select(func.count()).select_from(FineTuneRow).where(
                FineTuneRow.owner_id == owner_id, FineTuneRow.status.not_in(list(uncounted_statuses))
            ).scalar_subquery(),
            select(func.count()).select_from(ExampleRow).join(ProjectRow, ExampleRow.project_id == ProjectRow.id)
            .where(ProjectRow.owner_id == owner_id, ExampleRow.created_at >= since).scalar_subquery(),
        )).one()
        now = utcnow()
        runs = self.session.execute(select(FineTuneRow.started_at, FineTuneRow.completed_at).where(
            FineTuneRow.owner_id == owner_id, FineTuneRow.started_at >= since))
        seconds = sum(((ended or now) - started).total_seconds() for started, ended in runs if started is not None)
        return int(projects), int(fine_tunes), int(examples), max(0.0, seconds)
