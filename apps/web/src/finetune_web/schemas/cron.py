"""crealia's cron answers: a cleanup's counts and the service's metrics (snake_case, as API.md settles it)."""

from __future__ import annotations

from datetime import datetime

from finetune_core.services.maintenance import CleanupReport, Metrics
from pydantic import BaseModel, Field


class CleanupDetails(BaseModel):
    sessions: int = Field(description="sign-in sessions (and their tokens) expired or revoked over a day ago")
    orphaned_files: int = Field(description="stored files whose project, source or fine-tuning is gone, "
                                            "untouched for an hour")
    abandoned_uploads: int = Field(description="partial files of interrupted uploads and writes, "
                                               "untouched for an hour")
    job_events: int = Field(description="event log entries of jobs finished over 30 days ago")
    erasures: int = Field(description="interrupted account erasures finished")


class CleanupOut(BaseModel):
    success: bool = True
    cleaned: int = Field(description="everything removed: the sum of `details`")
    details: CleanupDetails
    timestamp: datetime

    @classmethod
    def of(cls, report: CleanupReport) -> CleanupOut:
        details = CleanupDetails(sessions=report.sessions, orphaned_files=report.orphaned_files,
                                 abandoned_uploads=report.abandoned_uploads, job_events=report.job_events,
                                 erasures=report.erasures)
        return cls(cleaned=report.cleaned, details=details, timestamp=report.finished_at)


class MetricsValues(BaseModel):
    """crealia's totalUsers, activeUsers... in snake_case."""

    total_users: int
    active_users: int = Field(description="users who signed in within 30 days")
    total_payments: int
    active_chat_sessions: int = Field(description="chats with a message within 24 hours")
    pending_jobs: int = Field(description="background jobs queued or running")


class MetricsOut(BaseModel):
    success: bool = True
    metrics: MetricsValues
    timestamp: datetime

    @classmethod
    def of(cls, figures: Metrics) -> MetricsOut:
        values = MetricsValues(total_users=figures.total_users, active_users=figures.active_users,
                               total_payments=figures.total_payments,
                               active_chat_sessions=figures.active_chat_sessions, pending_jobs=figures.pending_jobs)
        return cls(metrics=values, timestamp=figures.collected_at)
