"""Jobs: plain core functions taking ids, run by a pluggable runner, observable through the database."""

from finetune_core.jobs.context import JobContext
from finetune_core.jobs.execute import execute_job, execute_job_in
from finetune_core.jobs.handlers import register_job_type
from finetune_core.jobs.runner import InlineRunner, InProcessRunner, JobRunner

__all__ = [
    "InProcessRunner",
    "InlineRunner",
    "JobContext",
    "JobRunner",
    "execute_job",
    "execute_job_in",
    "register_job_type",
]
