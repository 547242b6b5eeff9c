"""A job never reports success over work it did not do: ingest, chunk and judge jobs that made nothing of what
they were asked end `failed` with the reason and their counts; a partial result says so; nothing to do is a
success that says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from finetune_core import JobStatus, Workspace, hookimpl
from finetune_core.chat import ChatModel, ChatReply
from finetune_core.chunking.base import ChunkSpan, Tokenizer
from finetune_core.domain import Document, Example, Message
from finetune_core.errors import FinetuneError
from finetune_core.services import jobs as jobs_service
from finetune_core.services import sources as sources_service
from kits.documents import corrupt_pdf, encrypted_pdf
from kits.pipeline import add_text_sources

Register = Callable[..., str]


def _last_event(ws: Workspace, job_id: str) -> tuple[str, dict[str, Any]]:
    event = jobs_service.events(ws, job_id)[-1]
    return event.type, event.data


# --- ingest ----------------------------------------------------------------------------------------------------------

def test_an_ingest_whose_every_source_fails_ends_failed_with_each_error(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("unreadable")
    sources_service.add_file(ws, project.id, "damaged.pdf", corrupt_pdf())
    sources_service.add_file(ws, project.id, "locked.pdf", encrypted_pdf())

    job = jobs_service.enqueue(ws, "ingest", project_id=project.id)

    assert job.status is JobStatus.FAILED
    errors = {source.name: source.error_message for source in ws.sources(project.id)}
    assert set(errors) == {"damaged.pdf", "locked.pdf"} and all(errors.values())
    assert job.result_summary["errors"] == errors
    shown = "; ".join(f"{name}: {error}" for name, error in job.result_summary["errors"].items())
    assert job.error_message == f"no source could be loaded: {shown}"
    assert {key: job.result_summary[key] for key in ("sources", "ready", "error", "partial")} == {
        "sources": 2, "ready": 0, "error": 2, "partial": True}
    assert _last_event(ws, job.id) == ("error", {"message": job.error_message, "result_summary": job.result_summary})


def test_an_ingest_where_some_sources_fail_is_a_partial_success_and_a_rerun_has_nothing_to_load(
        finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("mixed")
    add_text_sources(ws, project.id, 2)
    sources_service.add_file(ws, project.id, "damaged.pdf", corrupt_pdf())

    job = ws.ingest(project.id)
    error = job.result_summary["errors"]["damaged.pdf"]
    assert "damaged or not a PDF" in error
    assert (job.result_summary["ready"], job.result_summary["error"], job.result_summary["partial"]) == (2, 1, True)
    assert job.result_summary["message"] == f"2 of 3 sources loaded; 1 could not be: damaged.pdf: {error}"
    assert _last_event(ws, job.id) == ("complete", {"result_summary": job.result_summary,
                                                    "message": job.result_summary["message"]})

    again = ws.ingest(project.id)  # nothing pending any more: a success that says so
    assert (again.result_summary["sources"], again.result_summary["partial"]) == (0, False)
    assert again.result_summary["message"] == "nothing to load: no source is waiting to be loaded"


# --- chunk -----------------------------------------------------------------------------------------------------------

class SilentChunker:
    """A chunker plugin that finds nothing to cut in any document."""

    name = "finds-nothing"

    def chunk(self, document: Document, *, tokenizer: Tokenizer, size: int, overlap: int) -> list[ChunkSpan]:
        return []


class ChunkerPlugin:
    @hookimpl
    def finetune_register_chunkers(self, register: Callable[[Any], None]) -> None:
        register(SilentChunker())


def test_a_chunk_job_that_made_no_chunk_fails(finetune_workspace: Workspace,
                                              register_finetune_plugin: Register) -> None:
    ws = finetune_workspace
    register_finetune_plugin(ChunkerPlugin(), name="test-silent-chunker")
    project = ws.create_project("chunks")

    empty = jobs_service.enqueue(ws, "chunk", project_id=project.id)
    assert empty.status is JobStatus.FAILED
    assert empty.error_message == ("nothing to chunk: the project has no loaded document "
                                   "(add sources and load them first)")

    add_text_sources(ws, project.id, 2)
    ws.ingest(project.id)
    silent = jobs_service.enqueue(ws, "chunk", project_id=project.id, chunker="finds-nothing")
    assert (silent.status, silent.error_message) == (JobStatus.FAILED, "no chunk was made from the 2 loaded documents")
    assert (silent.result_summary["sources"], silent.result_summary["chunks"]) == (2, 0)

    chunked = ws.chunk(project.id)
    assert chunked.result_summary["message"] == f"{chunked.result_summary['chunks']} chunks from 2 documents"


# --- judge -----------------------------------------------------------------------------------------------------------

class FlakyJudge(ChatModel):
    """Fails the questions listed in `failing` (as a provider does after its retries), scores the others 4."""

    name: ClassVar[str] = "flaky-judge"
    failing: ClassVar[set[str]] = set()

    async def complete(self, messages: list[Message]) -> ChatReply:
        question = next(line for line in messages[-1].content.splitlines() if line.startswith("user: "))
        if question.removeprefix("user: ") in FlakyJudge.failing:
            raise FinetuneError("HTTP 503 (server error): model is loading (gave up after 3 attempts)",
                                error_code="CHAT_REQUEST_FAILED")
        verdict = '{"accuracy": 4, "relevance": 4, "clarity": 4, "usefulness": 4, "grounding": 4, "reason": "fine"}'
        return ChatReply(text=verdict)


class JudgePlugin:
    @hookimpl
    def finetune_register_chat_models(self, register: Callable[[Any], None]) -> None:
        register(FlakyJudge)


@pytest.fixture
def judged(finetune_workspace: Workspace, register_finetune_plugin: Register) -> tuple[Workspace, str]:
    ws = finetune_workspace
    register_finetune_plugin(JudgePlugin(), name="test-flaky-judge")
    project = ws.create_project("judged")
    with ws.unit_of_work() as uow:
        uow.examples.add([Example(project_id=project.id, request_key=f"m:{i}", split="train",
                                   messages=[Message(role="user", content=f"Question {i}?"),
                                             Message(role="assistant",
                                                     content=f"Water boils at {90 + i} degrees at this altitude.")])
                           for i in range(4)])
    return ws, project.id


def test_a_judge_job_that_judged_nothing_fails_a_partial_one_says_so_and_then_nothing_is_left(
        judged: tuple[Workspace, str]) -> None:
    ws, project_id = judged
    error = "HTTP 503 (server error): model is loading (gave up after 3 attempts)"

    FlakyJudge.failing = {f"Question {i}?" for i in range(4)}
    failed = jobs_service.enqueue(ws, "dataset_judge", project_id=project_id, chat_model="flaky-judge")
    assert failed.status is JobStatus.FAILED
    assert failed.error_message == f"no example judged out of 4: 4 requests failed with: {error}"
    assert (failed.result_summary["judged"], failed.result_summary["failed"]) == (0, 4)

    FlakyJudge.failing = {"Question 2?"}
    partial = jobs_service.enqueue(ws, "dataset_judge", project_id=project_id, chat_model="flaky-judge")
    assert partial.status is JobStatus.SUCCESS and partial.result_summary["partial"] is True
    assert partial.result_summary["message"] == f"3 of 4 examples judged; 1 requests failed with: {error}; " \
                                                "a rerun judges them"

    FlakyJudge.failing = set()
    rest = jobs_service.enqueue(ws, "dataset_judge", project_id=project_id, chat_model="flaky-judge")
    assert (rest.result_summary["to_judge"], rest.result_summary["judged"], rest.result_summary["partial"]) == (
        1, 1, False)
    done = jobs_service.enqueue(ws, "dataset_judge", project_id=project_id, chat_model="flaky-judge")
    assert (done.status, done.result_summary["to_judge"]) == (JobStatus.SUCCESS, 0)
    assert done.result_summary["message"] == ("nothing to judge: no example is waiting for a score "
                                              "(rejudge to score them again)")
