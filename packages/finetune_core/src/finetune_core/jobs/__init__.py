"""Jobs: plain core functions taking ids, run by a pluggable runner, observable through the database.

Out-of-process workers run a job by id with `finetune_core.worker_entry.execute_job_in` (it opens a workspace).
"""

from finetune_core.jobs.context import JobContext
from finetune_core.jobs.execute import execute_job
from finetune_core.jobs.handlers import JobHandler, JobType, register_job_type
from finetune_core.jobs.runner import InlineRunner, InProcessRunner, JobRunner

__all__ = [
    "InProcessRunner",
    "InlineRunner",
    "JobContext",
    "JobHandler",
    "JobRunner",
    "JobType",
    "execute_job",
    "register_job_type",
]
