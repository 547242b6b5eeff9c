"""Maintenance (services/maintenance.py) on a real workspace, SQLite and PostgreSQL: each cleanup category removes
what it should and keeps what it should not; the metrics count what is there; the in-process schedule runs them."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from finetune_core.domain import AuthSession, FineTune, Job, JobStatus, Payment, TrainedModel, User, new_id, utcnow
from finetune_core.domain.conversations import Chat
from finetune_core.jobs.schedule import IntervalScheduler, ScheduledTask
from finetune_core.services import maintenance, projects, sources
from finetune_core.storage.tables import JobEventRow
from finetune_core.testing import open_test_workspace
from finetune_core.workspace import Workspace
from kits.workers import wait_until
from sqlalchemy import update

HOUR = 3600.0


@pytest.fixture
def workspace(workspace_on_each_backend: Workspace) -> Workspace:
    return workspace_on_each_backend


def add_user(workspace: Workspace, email: str, **fields: object) -> User:
    with workspace.unit_of_work() as uow:
        return uow.users.add(User(email=email, **fields), "not a real hash")  # type: ignore[arg-type]


def add_session(workspace: Workspace, user: User, *, expires_in: timedelta, revoked_ago: timedelta | None = None
                ) -> str:
    now = utcnow()
    session = AuthSession(user_id=user.id, created_at=now - timedelta(days=10), expires_at=now + expires_in,
                          revoked_at=None if revoked_ago is None else now - revoked_ago,
                          revoked_reason=None if revoked_ago is None else "logout")
    with workspace.unit_of_work() as uow:
        return uow.auth_sessions.add(session, new_id()).id


def session_ids(workspace: Workspace, user: User) -> set[str]:
    with workspace.unit_of_work() as uow:
        return {session.id for session in uow.auth_sessions.of_user(user.id)}


def store(workspace: Workspace, key: str, *, age_s: float, data: bytes = b"some bytes") -> Path:
    """A file of the store, last written `age_s` seconds ago."""
    path = workspace.files.local_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    age(path, age_s)
    return path


def age(path: Path, age_s: float) -> None:
    then = time.time() - age_s
    os.utime(path, (then, then))


def test_sessions_ended_over_a_day_ago_go_and_the_others_stay(workspace: Workspace) -> None:
    user = add_user(workspace, "sessions@example.com")
    live = add_session(workspace, user, expires_in=timedelta(days=3))
    expired_long_ago = add_session(workspace, user, expires_in=-timedelta(days=2))
    expired_lately = add_session(workspace, user, expires_in=-timedelta(hours=2))
    revoked_long_ago = add_session(workspace, user, expires_in=timedelta(days=3), revoked_ago=timedelta(days=2))
    revoked_lately = add_session(workspace, user, expires_in=timedelta(days=3), revoked_ago=timedelta(hours=2))

    report = maintenance.cleanup(workspace)

    assert report.sessions == 2
    assert session_ids(workspace, user) == {live, expired_lately, revoked_lately}
    assert {expired_long_ago, revoked_long_ago}.isdisjoint(session_ids(workspace, user))
    assert maintenance.cleanup(workspace).sessions == 0  # nothing left to remove


def add_job(workspace: Workspace, status: JobStatus, *, created_ago: timedelta,
            finished_ago: timedelta | None = None, events: int = 3) -> str:
    now = utcnow()
    job = Job(type="ingest", status=status, created_at=now - created_ago,
              finished_at=None if finished_ago is None else now - finished_ago)
    with workspace.unit_of_work() as uow:
        uow.jobs.add(job)
        for n in range(events):
            uow.jobs.add_event(job.id, "log", {"message": f"step {n}"})
        uow.session.execute(update(JobEventRow).where(JobEventRow.job_id == job.id)
                            .values(created_at=now - created_ago))  # written when the job ran
    return job.id


def event_count(workspace: Workspace, job_id: str) -> int:
    with workspace.unit_of_work() as uow:
        return len(uow.jobs.events(job_id))


def test_events_of_jobs_finished_over_30_days_ago_go_and_the_others_stay(workspace: Workspace) -> None:
    days = timedelta(days=1)
    old_success = add_job(workspace, JobStatus.SUCCESS, created_ago=41 * days, finished_ago=40 * days)
    old_failure = add_job(workspace, JobStatus.FAILED, created_ago=41 * days, finished_ago=31 * days)
    old_cancelled_unstarted = add_job(workspace, JobStatus.CANCELLED, created_ago=45 * days)  # no finish time
    recent_success = add_job(workspace, JobStatus.SUCCESS, created_ago=41 * days, finished_ago=10 * days)
    still_running = add_job(workspace, JobStatus.RUNNING, created_ago=60 * days)
    still_queued = add_job(workspace, JobStatus.QUEUED, created_ago=60 * days)

    report = maintenance.cleanup(workspace)

    assert report.job_events == 9
    for gone in (old_success, old_failure, old_cancelled_unstarted):
        assert event_count(workspace, gone) == 0
    for kept in (recent_success, still_running, still_queued):
        assert event_count(workspace, kept) == 3
    with workspace.unit_of_work() as uow:  # the jobs themselves, and what they produced, stay
        assert uow.jobs.get(old_success).status is JobStatus.SUCCESS


def test_orphaned_files_and_abandoned_uploads_go_and_everything_else_stays(workspace: Workspace) -> None:
    project = projects.create_project(workspace, "kept")
    source = sources.add_file(workspace, project.id, "notes.txt", b"Sourdough starters need feeding.")
    assert source.storage_key is not None
    uploaded = workspace.files.local_path(source.storage_key)
    age(uploaded, 5 * HOUR)
    with workspace.unit_of_work() as uow:
        fine_tune = uow.fine_tunes.add(FineTune(project_id=project.id, name="run", trainer="local", base_model="m"))
    gone_project, gone_source, gone_fine_tune, model_fine_tune = new_id(), new_id(), new_id(), new_id()
    with workspace.unit_of_work() as uow:  # a model outlives its fine-tuning: its files stay named by it
        uow.models.add(TrainedModel(name="kept model", base_model="m", provider="local",
                                    artifact_path=f"fine_tunes/{model_fine_tune}/artifacts/final"))

    orphans = [
        store(workspace, f"{project.id}/{gone_source}/old.txt", age_s=2 * HOUR),  # a source deleted, its file left
        store(workspace, f"{gone_project}/{new_id()}/doc.pdf", age_s=3 * HOUR),  # a deleted project's files
        store(workspace, f"{gone_project}/evaluations/e1/report.md", age_s=3 * HOUR),
        store(workspace, f"exports/{gone_project}/model/{new_id()}/adapter.zip", age_s=3 * HOUR),
        store(workspace, f"fine_tunes/{gone_fine_tune}/train.jsonl", age_s=30 * HOUR),
        store(workspace, f"fine_tunes/{model_fine_tune}/train.jsonl", age_s=30 * HOUR),
    ]
    abandoned = [
        store(workspace, f"{project.id}/{source.id}/.part-k3j2h1g0", age_s=2 * HOUR),  # LocalFileStore.put's
        store(workspace, f"fine_tunes/{fine_tune.id}/.train.jsonl.{'a1' * 16}.tmp", age_s=2 * HOUR),
        store(workspace, f"exports/{project.id}/model/{fine_tune.id}/.model.zip.part", age_s=2 * HOUR),
    ]
    kept = [
        uploaded,  # named by its source
        store(workspace, f"{project.id}/{new_id()}/in-flight.txt", age_s=60),  # written before its row commits
        store(workspace, f"{project.id}/{new_id()}/.part-inflight1", age_s=60),  # an upload being written
        store(workspace, f"{project.id}/evaluations/e2/report.md", age_s=50 * HOUR),  # its project exists
        store(workspace, f"exports/{project.id}/model/{gone_fine_tune}/model.zip", age_s=50 * HOUR),  # the project's
        store(workspace, f"fine_tunes/{fine_tune.id}/train.jsonl", age_s=50 * HOUR),
        store(workspace, f"fine_tunes/{model_fine_tune}/artifacts/final/adapter.safetensors", age_s=50 * HOUR),
        store(workspace, f"fine_tunes/{gone_fine_tune}/fresh.jsonl", age_s=60),  # too recent to judge
        store(workspace, "gdpr/someone.json", age_s=50 * HOUR),  # a layout this module does not know
        store(workspace, f"{gone_project}.txt", age_s=50 * HOUR),
    ]

    report = maintenance.cleanup(workspace)

    assert (report.orphaned_files, report.abandoned_uploads) == (len(orphans), len(abandoned))
    assert not [path for path in orphans + abandoned if path.exists()]
    assert [path for path in kept if path.exists()] == kept
    root = workspace.files.root
    assert not (root / gone_project).exists() and not (root / "exports" / gone_project).exists()  # emptied: gone
    assert not (root / project.id / gone_source).exists()
    assert (root / project.id).is_dir() and (root / "fine_tunes" / gone_fine_tune).is_dir()  # still holding files
    assert sources.get_source(workspace, source.id).storage_key == source.storage_key
    assert workspace.files.get(source.storage_key) == b"Sourdough starters need feeding."
    again = maintenance.cleanup(workspace)
    assert (again.orphaned_files, again.abandoned_uploads) == (0, 0)


def test_a_deleted_project_leaves_no_file_once_cleaned(workspace: Workspace) -> None:
    """Deleting a project removes its folder but not its fine-tunings' (their rows go by cascade): the cleanup does."""
    project = projects.create_project(workspace, "short-lived")
    with workspace.unit_of_work() as uow:
        fine_tune = uow.fine_tunes.add(FineTune(project_id=project.id, name="run", trainer="local", base_model="m"))
    left = store(workspace, f"fine_tunes/{fine_tune.id}/train.jsonl", age_s=2 * HOUR)
    projects.delete_project(workspace, project.id)
    assert left.exists()

    assert maintenance.cleanup(workspace).orphaned_files == 1
    assert not left.exists() and not (workspace.files.root / "fine_tunes" / fine_tune.id).exists()


def test_interrupted_erasures_are_finished(workspace: Workspace) -> None:
    marked = add_user(workspace, "leaving@example.com", deletion_requested_at=utcnow() - timedelta(hours=1),
                      is_active=False)
    staying = add_user(workspace, "staying@example.com")
    # asked a moment ago: its own request may still be erasing it, so the cleanup leaves it to that request
    in_flight = add_user(workspace, "erasing@example.com", deletion_requested_at=utcnow(), is_active=False)

    report = maintenance.cleanup(workspace)

    assert report.erasures == 1
    with workspace.unit_of_work() as uow:
        assert uow.users.existing_ids([marked.id, staying.id, in_flight.id]) == {staying.id, in_flight.id}


def test_metrics_count_what_is_there(workspace: Workspace) -> None:
    now = utcnow()
    users = [add_user(workspace, "recent@example.com", last_login_at=now - timedelta(days=2)),
             add_user(workspace, "lapsed@example.com", last_login_at=now - timedelta(days=40)),
             add_user(workspace, "never@example.com")]
    with workspace.unit_of_work() as uow:
        for user in users[:2]:
            uow.payments.add(Payment(user_id=user.id, amount=900))
        uow.chats.add(Chat(owner_id=users[0].id, updated_at=now - timedelta(hours=1)))
        uow.chats.add(Chat(owner_id=users[1].id, updated_at=now - timedelta(hours=23)))
        uow.chats.add(Chat(owner_id=users[1].id, updated_at=now - timedelta(hours=25)))
        for status in (JobStatus.QUEUED, JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCESS, JobStatus.FAILED):
            uow.jobs.add(Job(type="ingest", status=status))

    figures = maintenance.metrics(workspace)

    assert (figures.total_users, figures.active_users, figures.total_payments, figures.active_chat_sessions,
            figures.pending_jobs) == (3, 1, 2, 2, 3)


def test_an_unknown_task_is_refused(workspace: Workspace) -> None:
    with pytest.raises(Exception, match="unknown maintenance task"):
        maintenance.run_task(workspace, "vacuum")
    assert set(maintenance.run_task(workspace, "cleanup")) >= {"cleaned", "sessions", "orphaned_files"}


# the in-process schedule ---------------------------------------------------------------------------------------

def test_the_in_process_schedule_repeats_its_tasks_until_stopped(tmp_path: Path) -> None:
    workspace = open_test_workspace(tmp_path / "ws")
    calls: list[float] = []
    twice = threading.Event()

    def task(_workspace: object) -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("a failing run is logged, and the next one comes all the same")
        if len(calls) >= 3:
            twice.set()

    scheduler = IntervalScheduler(workspace, [ScheduledTask("tick", 0.05, task), ScheduledTask("off", 0, task)])
    try:
        assert not scheduler.running  # nothing runs until asked
        scheduler.start()
        assert twice.wait(20), calls
    finally:
        scheduler.stop()
        workspace.close()
    assert not scheduler.running
    stopped_at = len(calls)
    assert scheduler.runs == {"tick": stopped_at}  # the one turned off is not scheduled at all
    time.sleep(0.2)  # a stopped schedule stays stopped: nothing to wait for, only time to let a run show
    assert len(calls) == stopped_at


def test_the_maintenance_schedule_cleans_up_in_process(workspace: Workspace) -> None:
    user = add_user(workspace, "schedule@example.com")
    expired = add_session(workspace, user, expires_in=-timedelta(days=3))
    live = add_session(workspace, user, expires_in=timedelta(days=3))
    scheduler = maintenance.in_process_schedule(workspace, {"cleanup": 1, "metrics": 0}, first_run_in_s=0).start()
    try:
        wait_until(lambda: scheduler.runs["cleanup"] >= 1, 30, "the scheduled cleanup")
        assert set(scheduler.runs) == {"cleanup"}
    finally:
        scheduler.stop()
    assert session_ids(workspace, user) == {live} and expired not in session_ids(workspace, user)


def test_the_first_run_waits_for_the_given_delay(tmp_path: Path) -> None:
    workspace = open_test_workspace(tmp_path / "ws")
    ran = threading.Event()
    scheduler = IntervalScheduler(workspace, [ScheduledTask("later", 3600, lambda _ws: ran.set())],
                                  first_run_in_s=600).start()
    try:
        assert scheduler.running and scheduler.run_due() > 500  # due in ten minutes, not now
        assert not ran.is_set()
    finally:
        scheduler.stop()
        workspace.close()
