"""What an owner holds, counted across aggregates for the usage counters of `GET /api/auth/me`."""

from __future__ import annotations

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

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
