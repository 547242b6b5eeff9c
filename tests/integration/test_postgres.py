"""The same core on PostgreSQL, selected by URL: schema, exactly-once storage, the whole pipeline."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from finetune_core import Example, Message, Project
from finetune_core.services import datasets, projects, users
from finetune_core.storage.forum_tables import include_name
from finetune_core.storage.tables import Base
from finetune_core.testing import open_test_workspace

COMPARED = {"include_name": include_name}  # the forum's search index is outside the metadata


def test_migration_matches_the_tables_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    with open_test_workspace(tmp_path, database_url=postgres_url) as workspace:
        assert workspace.engine.dialect.name == "postgresql"
        with workspace.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection, opts=COMPARED), Base.metadata) == []


def test_examples_are_stored_once_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    with open_test_workspace(tmp_path, database_url=postgres_url) as workspace:
        with workspace.unit_of_work() as uow:
            project = uow.projects.add(Project(name="pg"))
        batch = [Example(project_id=project.id, request_key="gen:c:0", position=0,
                         messages=[Message(role="user", content="q"), Message(role="assistant", content="a")])]
        with workspace.unit_of_work() as uow:
            assert uow.examples.add(batch) == 1
        with workspace.unit_of_work() as uow:
            assert uow.examples.add([batch[0].model_copy(update={"id": "other-id"})]) == 0
            assert uow.examples.count(project.id) == 1


def test_pipeline_gives_the_same_dataset_on_postgres_and_sqlite(
    tmp_path: Path, postgres_url: str, samples_dir: Path
) -> None:
    results = {}
    for backend, url in (("sqlite", None), ("postgresql", postgres_url)):
        with open_test_workspace(tmp_path / backend, database_url=url) as workspace:
            project = workspace.create_project("same", config={"num_examples_target": 80})
            for path in sorted(samples_dir.glob("sourdough-*")):
                workspace.add_file(project.id, path)
            workspace.ingest(project.id)
            workspace.chunk(project.id)
            workspace.generate(project.id)
            stats = workspace.stats(project.id)
            exported = workspace.export(project.id, "openai", out=tmp_path / f"{backend}.jsonl")
            results[backend] = (stats["total"], stats["valid"], stats["by_split"], exported.count)
    assert results["sqlite"] == results["postgresql"]
    assert results["postgresql"][1] > 10


def test_usage_counts_datasets_as_the_dataset_list_does_on_postgres_and_sqlite(tmp_path: Path,
                                                                                postgres_url: str) -> None:
    """The profile's counters read the dataset rule in SQL (a JSON key, examples outside previews) on both backends."""
    chat = [Message(role="user", content="q"), Message(role="assistant", content="a")]
    for backend, url in (("sqlite", None), ("postgresql", postgres_url)):
        with open_test_workspace(tmp_path / backend, database_url=url) as workspace:
            plain = projects.create_project(workspace, "plain", owner_id="alice")
            datasets.create_dataset(workspace, "alice", name="standalone")
            datasets.create_dataset(workspace, "alice", name="of plain", project_id=plain.id)
            cleared = projects.create_project(workspace, "cleared", owner_id="alice")
            datasets.create_dataset(workspace, "alice", name="gone", project_id=cleared.id)
            datasets.delete_dataset(workspace, cleared.id)  # its config keeps "dataset": null
            rows = projects.create_project(workspace, "rows", owner_id="alice")
            previews = projects.create_project(workspace, "previews", owner_id="alice")
            projects.create_project(workspace, "bob's", owner_id="bob", config={"dataset": {"name": "b"}})
            with workspace.unit_of_work() as uow:
                uow.examples.add([Example(project_id=rows.id, request_key="r", split="train", messages=chat),
                                   Example(project_id=previews.id, request_key="p", split="preview", messages=chat)])
            alice = users.usage(workspace, "alice")
            assert (alice["projects_count"], alice["datasets_count"], alice["fine_tune_jobs"]) == (5, 3, 0), backend
            assert alice["datasets_count"] == datasets.list_datasets(workspace, "alice")[1]
            assert (users.usage(workspace, None)["projects_count"], users.usage(workspace, None)["datasets_count"]) \
                == (6, 4)
