"""The schema, the migration and the repository against a real SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from finetune_core import Example, Message, Project, Workspace
from finetune_core.domain import Job, JobStatus
from finetune_core.storage.database import HEAD_REVISION, alembic_config, schema_revision
from finetune_core.storage.forum_tables import include_name
from finetune_core.storage.tables import Base
from finetune_core.testing import open_test_workspace

COMPARED = {"include_name": include_name}  # the forum's search index is outside the metadata


def test_migration_matches_the_tables(finetune_workspace: Workspace) -> None:
    with finetune_workspace.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts=COMPARED), Base.metadata)
    assert diff == []


def test_head_revision_is_the_newest_migration(finetune_workspace: Workspace) -> None:
    script = ScriptDirectory.from_config(alembic_config(finetune_workspace.engine))
    assert script.get_current_head() == HEAD_REVISION
    assert schema_revision(finetune_workspace.engine) == HEAD_REVISION


def test_a_workspace_behind_head_is_migrated_when_opened(tmp_path: Path) -> None:
    with open_test_workspace(tmp_path) as workspace:
        command.downgrade(alembic_config(workspace.engine), "0003")
        assert schema_revision(workspace.engine) == "0003"
    with open_test_workspace(tmp_path) as workspace:
        assert schema_revision(workspace.engine) == HEAD_REVISION
        with workspace.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection, opts=COMPARED), Base.metadata) == []


def test_sqlite_runs_in_wal_mode(finetune_workspace: Workspace) -> None:
    with finetune_workspace.unit_of_work():
        pass
    connection = sqlite3.connect(finetune_workspace.root / "finetune.db")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_project_round_trip_keeps_aware_utc_times_and_config(finetune_workspace: Workspace) -> None:
    project = Project(name="round trip", config={"num_examples_target": 7, "custom_key": "kept"})
    with finetune_workspace.unit_of_work() as uow:
        uow.projects.add(project)
    with finetune_workspace.unit_of_work() as uow:
        loaded = uow.projects.find("round trip")
    assert loaded.id == project.id
    assert loaded.created_at.tzinfo is not None
    assert abs(loaded.created_at - project.created_at) < timedelta(milliseconds=1)
    assert loaded.config.num_examples_target == 7
    assert loaded.config.model_extra == {"custom_key": "kept"}


def test_examples_are_stored_once_per_request_key_and_position(finetune_workspace: Workspace) -> None:
    with finetune_workspace.unit_of_work() as uow:
        project = uow.projects.add(Project(name="once"))

    def batch() -> list[Example]:
        return [
            Example(project_id=project.id, request_key="gen:c1:0", position=i,
                    messages=[Message(role="user", content=f"q{i}"), Message(role="assistant", content="a")])
            for i in range(3)
        ]

    with finetune_workspace.unit_of_work() as uow:
        assert uow.examples.add(batch()) == 3
    with finetune_workspace.unit_of_work() as uow:
        assert uow.examples.add(batch()) == 0  # a replayed request stores nothing new
        assert uow.examples.count(project.id) == 3
        assert uow.examples.request_keys(project.id, "gen:") == {"gen:c1:0"}


def test_claim_job_is_exclusive_and_reclaims_abandoned_jobs(finetune_workspace: Workspace) -> None:
    job = Job(type="chunk")
    with finetune_workspace.unit_of_work() as uow:
        uow.jobs.add(job)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    with finetune_workspace.unit_of_work() as uow:
        assert uow.jobs.claim(job.id, stale_before=long_ago)
    with finetune_workspace.unit_of_work() as uow:
        assert not uow.jobs.claim(job.id, stale_before=long_ago)  # held, heartbeat fresh
        assert uow.jobs.get(job.id).status is JobStatus.RUNNING
    with finetune_workspace.unit_of_work() as uow:
        # its worker died: once the heartbeat is older than the stale limit, another may take it
        assert uow.jobs.claim(job.id, stale_before=datetime.now(UTC) + timedelta(seconds=1))
        assert uow.jobs.get(job.id).attempts == 2


def test_job_events_are_numbered_in_order(finetune_workspace: Workspace) -> None:
    job = Job(type="chunk")
    with finetune_workspace.unit_of_work() as uow:
        uow.jobs.add(job)
        for index in range(3):
            uow.jobs.add_event(job.id, "log", {"i": index})
    with finetune_workspace.unit_of_work() as uow:
        events = uow.jobs.events(job.id, after_seq=1)
    assert [(e.seq, e.data["i"]) for e in events] == [(2, 1), (3, 2)]


def _open_and_close(root: Path) -> None:
    from finetune_core import Workspace

    Workspace.open(root).close()


def test_processes_opening_a_new_workspace_together_all_get_the_schema(tmp_path: Path) -> None:
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    for trial in range(2):  # without the migration lock, some of four processes failed in about half the trials
        root = tmp_path / f"ws-{trial}"
        processes = [spawn.Process(target=_open_and_close, args=(root,)) for _ in range(4)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        assert [process.exitcode for process in processes] == [0, 0, 0, 0]
