"""A workspace: one database and one file store, plus the runner that executes jobs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from finetune_core.domain import (
    Chunk,
    Example,
    FineTune,
    Job,
    JobStatus,
    Project,
    ProviderKey,
    Source,
    SourceKind,
    TaskType,
)
from finetune_core.errors import FinetuneError
from finetune_core.jobs.runner import InProcessRunner, JobRunner
from finetune_core.plugins import Registries, registries
from finetune_core.services import chunks as chunks_service
from finetune_core.services import curation as curation_service
from finetune_core.services import exports as exports_service
from finetune_core.services import fine_tunes as fine_tunes_service
from finetune_core.services import jobs as jobs_service
from finetune_core.services import keys as keys_service
from finetune_core.services import pipeline, pipeline_order
from finetune_core.services import projects as projects_service
from finetune_core.services import sources as sources_service
from finetune_core.settings import Settings
from finetune_core.storage.database import make_engine, sqlite_url, upgrade
from finetune_core.storage.files import FileStore, LocalFileStore
from finetune_core.storage.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    import httpx
    import requests

    from finetune_core.export.writer import ExportResult

DATABASE_FILE = "finetune.db"


class Workspace:
    """Open one with `Workspace.open(path)`.

    The methods below the plumbing are the library surface: one per use case, each a thin
    call into `finetune_core.services` (whose functions take the workspace as first argument).
    Pipeline steps run as recorded jobs and wait for them to finish; a step started while an earlier one of
    its project is unfinished (sources still loading...) raises PipelineBusyError (services/pipeline_order.py).
    """

    def __init__(self, settings: Settings, *, runner: JobRunner | None = None) -> None:
        self.settings = settings
        self.root = settings.root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.database_url = settings.database_url or sqlite_url(self.root / DATABASE_FILE)
        self.engine = make_engine(self.database_url)
        upgrade(self.engine)
        self.files: FileStore = LocalFileStore(self.root / "files")
        self.runner: JobRunner = runner or InProcessRunner(settings.job_threads)
        # Test seams at the HTTP boundary: an httpx transport for URL fetches, a requests
        # session for youtube-transcript-api. None means the real network.
        self.http_transport: httpx.BaseTransport | None = None
        self.requests_session: requests.Session | None = None
        # provider -> API key given for this process only (the CLI's --api-key): used before the stored keys,
        # never written anywhere
        self.session_keys: dict[str, str] = {}

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        *,
        database_url: str | None = None,
        runner: JobRunner | None = None,
        **settings: Any,
    ) -> Workspace:
        """Open (creating if needed) the workspace in `path`; `database_url` selects PostgreSQL."""
        values = Settings.from_env(
            **({"root": Path(path)} if path is not None else {}), database_url=database_url, **settings
        )
        return cls(values, runner=runner)

    @property
    def plugins(self) -> Registries:
        return registries()

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        session = Session(self.engine, expire_on_commit=False)  # on the engine of now: a test may swap it
        try:
            yield UnitOfWork(session)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        self.runner.shutdown(wait=True)
        self.engine.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # the library surface ---------------------------------------------------------
    def create_project(self, name: str, *, task_type: TaskType | str = TaskType.QA,
                       description: str | None = None, config: dict[str, Any] | None = None) -> Project:
        return projects_service.create_project(self, name, task_type=task_type, description=description, config=config)

    def project(self, ref: str) -> Project:
        """A project by id or name."""
        return projects_service.get_project(self, ref)

    def add_file(self, project: str, path: str | Path, *, kind: SourceKind | str | None = None) -> Source:
        return sources_service.add_path(self, project, path, kind=kind)

    def add_url(self, project: str, url: str) -> Source:
        return sources_service.add_url(self, project, url)

    def sources(self, project: str) -> list[Source]:
        return sources_service.list_sources(self, project)[0]

    def run_job(self, type: str, project: str, **params: Any) -> Job:
        """Enqueue a job, wait for it, and raise if it did not succeed."""
        project_id = self.project(project).id
        queued = jobs_service.enqueue(self, type, project_id=project_id, **params)
        job = jobs_service.wait_for(self, queued.id)
        if job.status is not JobStatus.SUCCESS:
            raise FinetuneError(f"{type} job {job.status.value}: {job.error_message or 'no detail'}",
                                job_id=job.id)
        return job

    def run_pipeline(self, project: str, steps: Iterable[str] = tuple(pipeline.PipelineStep), *,
                     source_ids: list[str] | None = None, **options: Any) -> Job:
        """Run pipeline steps (load, chunk, generate, curate: all by default) over the project, or only over
        `source_ids`, as one job; `options` are `PipelineOptions` fields (generator, target...)."""
        return self.run_job(pipeline.PIPELINE, project, **pipeline.pipeline_params(steps, source_ids=source_ids,
                                                                                   **options))

    def ingest(self, project: str) -> Job:
        return self.run_job("ingest", project)

    def chunk(self, project: str, *, size: int | None = None, overlap: int | None = None) -> Job:
        return self.run_job("chunk", project, size=size, overlap=overlap)

    def chunks(self, project: str, *, limit: int | None = None) -> list[Chunk]:
        return chunks_service.list_chunks(self, project, limit=limit)[0]

    def preview(self, project: str, num_examples: int = 10, *, generator: str | None = None) -> Job:
        return self.run_job("dataset_preview", project, num_examples=num_examples, generator=generator)

    def generate(self, project: str, *, target: int | None = None, examples_per_chunk: int | None = None,
                 generator: str | None = None, settings: dict[str, Any] | None = None) -> Job:
        return self.run_job("dataset_generate", project, num_examples_target=target,
                            examples_per_chunk=examples_per_chunk, generator=generator, settings=settings)

    def examples(self, project: str, *, split: str | None = None, is_valid: bool | None = None,
                 limit: int | None = None) -> list[Example]:
        return curation_service.list_examples(self, project, split=split, is_valid=is_valid, limit=limit)[0]

    def curate(self, project: str) -> dict[str, Any]:
        project_id = self.project(project).id
        pipeline_order.check_step(self, project_id, "curate")
        return curation_service.curate_project(self, project_id)

    def stats(self, project: str) -> dict[str, Any]:
        return curation_service.stats(self, project)

    def export(self, project: str, format: str, *, out: str | Path | None = None,
               split: str | None = None, system_prompt: str | None = None) -> ExportResult:
        project_id = self.project(project).id
        pipeline_order.check_step(self, project_id, "export")
        return exports_service.export_dataset(self, project_id, format, out=out, split=split,
                                              system_prompt=system_prompt)

    def judge(self, project: str, chat_model: str, *, settings: dict[str, Any] | None = None,
              threshold: float | None = None, rejudge: bool = False) -> Job:
        """Score examples with a chat model (1-5); with `threshold`, lower-scored ones leave the exports."""
        return self.run_job("dataset_judge", project, chat_model=chat_model, settings=settings, threshold=threshold,
                            rejudge=rejudge)

    def set_key(self, provider: str, key: str, *, owner_id: str | None = None) -> ProviderKey:
        """Store a provider API key, encrypted; the answer and every later read show it masked."""
        return keys_service.set_key(self, provider, key, owner_id=owner_id)[0]

    def fine_tune(self, project: str, *, trainer: str, base_model: str, method: str | None = None,
                  hyperparameters: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
                  wait: bool = True) -> FineTune:
        """Start a fine-tuning with a registered trainer; by default wait for it to end."""
        started = fine_tunes_service.create_fine_tune(self, project, trainer=trainer, base_model=base_model,
                                                      method=method, hyperparameters=hyperparameters,
                                                      options=options)
        return fine_tunes_service.wait_for(self, started.id) if wait else started
