"""Sources through the service layer: samples, bad files, spoofed types, names, limits, URLs, YouTube, deletes."""

from __future__ import annotations

import contextlib
import csv
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from finetune_core import (
    FileTooLargeError,
    JobStatus,
    SourceKind,
    SourceStatus,
    SourceType,
    UnsupportedFileTypeError,
    UrlNotAllowedError,
    Workspace,
)
from finetune_core.services import jobs as jobs_service
from finetune_core.services import projects as projects_service
from finetune_core.services import sources as sources_service
from finetune_core.testing import open_test_workspace
from kits.documents import build_pdf, corrupt_pdf, docx_zip_bomb, elf_binary, encrypted_pdf
from kits.fake_youtube import VIDEO, FakeYouTube, public_resolver, youtube_session
from kits.local_server import serve
from kits.pipeline import all_examples, stored_files
from kits.samples import SAMPLE_FILES


def _flat(text: str) -> str:
    return " ".join(text.split())


def _document_text(workspace: Workspace, source_id: str) -> str | None:
    with workspace.unit_of_work() as uow:
        document = uow.documents.get(source_id)
    return None if document is None else _flat(document.text)


def _chunks_by_source(workspace: Workspace, project_id: str) -> dict[str, int]:
    names = {source.id: source.name for source in workspace.sources(project_id)}
    counts: dict[str, int] = {}
    for chunk in workspace.chunks(project_id, limit=None):
        counts[names[chunk.source_id]] = counts.get(names[chunk.source_id], 0) + 1
    return counts


@pytest.fixture
def strict_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace as in production: URL sources may not reach loopback addresses."""
    workspace = open_test_workspace(tmp_path / "strict", allow_loopback_urls=False)
    try:
        yield workspace
    finally:
        workspace.close()


# --- the sample documents ---------------------------------------------------------------------------------

def test_every_sample_ingests_ready_with_its_structure(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("samples")
    added = {kind: ws.add_file(project.id, path) for kind, path in SAMPLE_FILES.items()}
    assert {source.status for source in added.values()} == {SourceStatus.PENDING}

    job = ws.ingest(project.id)
    assert job.result_summary["ready"] == len(SAMPLE_FILES) and job.result_summary["error"] == 0
    sources = {source.id: source for source in ws.sources(project.id)}
    assert all(source.status is SourceStatus.READY and source.error_message is None for source in sources.values())
    source = {kind: sources[item.id] for kind, item in added.items()}
    assert {kind: source[kind].type for kind in source} == {
        "pdf": SourceType.PDF, "docx": SourceType.DOCX, "html": SourceType.HTML,
        "markdown": SourceType.MARKDOWN, "csv": SourceType.CSV,
    }

    # PDF: page numbers in the metadata, and chunks that know their pages
    pdf = source["pdf"]
    assert pdf.metadata["pages"] == 3 and pdf.metadata["page_count"] == 3
    assert pdf.metadata["title"] == "The Sourdough Handbook"
    ws.chunk(project.id, size=256, overlap=20)
    pdf_chunks = [chunk for chunk in ws.chunks(project.id, limit=None) if chunk.source_id == pdf.id]
    assert len(pdf_chunks) > 3
    for chunk in pdf_chunks:
        assert chunk.page_start is not None and chunk.page_end is not None
        assert 1 <= chunk.page_start <= chunk.page_end <= 3
    pdf_chunks.sort(key=lambda chunk: chunk.chunk_index)
    assert pdf_chunks[0].page_start == 1 and pdf_chunks[-1].page_end == 3
    hydration = [chunk for chunk in pdf_chunks if "Hydration is the weight of water" in _flat(chunk.content)]
    assert hydration and all(chunk.page_start <= 2 <= chunk.page_end for chunk in hydration)  # type: ignore[operator]
    other_chunks = [chunk for chunk in ws.chunks(project.id, limit=None) if chunk.source_id != pdf.id]
    assert all(chunk.page_start is None and chunk.page_end is None for chunk in other_chunks)

    # DOCX, Markdown, HTML: known sentences
    docx_text = _document_text(ws, source["docx"].id)
    assert docx_text is not None
    assert "A ripe starter is a culture at its peak of activity, typically four to eight hours after feeding." \
        in docx_text
    assert "Day | Flour | Water | What to expect" in docx_text
    md_text = _document_text(ws, source["markdown"].id)
    assert md_text is not None
    assert "Le levain est une culture de levures sauvages et de bactéries lactiques" in md_text
    assert source["markdown"].metadata["language"] == "fr"
    html_text = _document_text(ws, source["html"].id)
    assert html_text is not None
    assert "Pre-shaping is a first, gentle rounding of each divided piece of dough" in html_text
    assert "Score the loaf straight from the refrigerator" in html_text
    # HTML boilerplate: cookie banner, navigation, site footer, scripts, styles, newsletter form
    for boilerplate in ("We use cookies", "Accept all", "Blog", "Contact", "Privacy", "Terms", "Portmere",
                        "dataLayer", "gtag", "analytics.js", "font-family", "newsletter"):
        assert boilerplate not in html_text, boilerplate

    # CSV: a dataset upload, stored as examples straight away, one per row
    csv_source = source["csv"]
    with SAMPLE_FILES["csv"].open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert csv_source.kind is SourceKind.DATASET_UPLOAD
    assert csv_source.metadata["row_count"] == len(rows) == 10
    assert csv_source.metadata["columns"] == ["question", "answer"]
    uploaded = [example for example in all_examples(ws, project.id) if example.source_id == csv_source.id]
    assert len(uploaded) == len(rows)
    assert sorted(example.metadata["row"] for example in uploaded) == list(range(len(rows)))
    for example in uploaded:
        row = rows[example.metadata["row"]]
        assert example.metadata["source_name"] == "sourdough-faq.csv"
        assert example.generator == "upload"
        assert (example.question, example.answer) == (row["question"], row["answer"])
        assert example.is_valid
    assert _document_text(ws, csv_source.id) is None
    assert all(chunk.source_id != csv_source.id for chunk in ws.chunks(project.id, limit=None))


def test_uploaded_rows_count_their_tokens_in_the_stats(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("faq")
    ws.add_file(project.id, SAMPLE_FILES["csv"])
    ws.ingest(project.id)
    stats = ws.curate(project.id)
    assert stats["valid"] == 10
    assert all(example.token_count > 0 for example in all_examples(ws, project.id))
    assert stats["by_split"]["train"]["min_tokens"] > 0


def test_the_same_documents_split_the_same_way_in_two_workspaces(tmp_path: Path) -> None:
    splits = []
    for name in ("first", "second"):
        with open_test_workspace(tmp_path / name) as ws:
            project = ws.create_project("split", config={"num_examples_target": 60})
            for path in SAMPLE_FILES.values():
                ws.add_file(project.id, path)
            ws.ingest(project.id)
            ws.chunk(project.id)
            ws.generate(project.id)
            splits.append(sorted((example.split, example.messages[-1].content)
                                 for example in all_examples(ws, project.id) if example.is_valid))
    assert splits[0] == splits[1]
    assert {"train", "eval"} <= {split for split, _ in splits[0]}


# --- bad files among good ones ----------------------------------------------------------------------------------

GOOD = ("docx", "html", "markdown")
BAD = [
    ("damaged.pdf", corrupt_pdf, "damaged or not a PDF"),
    ("locked.pdf", encrypted_pdf, "password-protected"),
    ("bomb.docx", docx_zip_bomb, "zip bomb"),
    ("empty.txt", lambda: b"", "empty"),
]


def test_a_bad_file_fails_alone_and_leaves_the_rest_as_a_clean_project(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    clean = ws.create_project("clean")
    for kind in GOOD:
        ws.add_file(clean.id, SAMPLE_FILES[kind])
    ws.ingest(clean.id)
    ws.chunk(clean.id, size=128, overlap=16)
    expected_chunks = _chunks_by_source(ws, clean.id)

    mixed = ws.create_project("mixed")
    ws.add_file(mixed.id, SAMPLE_FILES["docx"])
    bad_ids = {name: sources_service.add_file(ws, mixed.id, name, make()).id for name, make, _ in BAD[:2]}
    ws.add_file(mixed.id, SAMPLE_FILES["html"])
    bad_ids.update({name: sources_service.add_file(ws, mixed.id, name, make()).id for name, make, _ in BAD[2:]})
    ws.add_file(mixed.id, SAMPLE_FILES["markdown"])

    job = ws.ingest(mixed.id)  # the job itself succeeds: one bad source does not stop the others
    assert job.status is JobStatus.SUCCESS
    assert job.result_summary["ready"] == len(GOOD)
    ws.chunk(mixed.id, size=128, overlap=16)

    sources = {source.id: source for source in ws.sources(mixed.id)}
    assert len(sources) == len(GOOD) + len(BAD)
    for name, _, message in BAD:
        source = sources[bad_ids[name]]
        assert source.status is SourceStatus.ERROR, name
        assert source.error_message is not None and message in source.error_message, (name, source.error_message)
        assert _document_text(ws, source.id) is None
    good = [source for source in sources.values() if source.id not in bad_ids.values()]
    assert all(source.status is SourceStatus.READY for source in good)
    # the good sources end up exactly as in a project without the bad files
    assert _chunks_by_source(ws, mixed.id) == expected_chunks
    assert all_examples(ws, mixed.id) == []
    # the empty file was refused at upload: marked `error` with nothing stored for it
    assert sources[bad_ids["empty.txt"]].storage_key is None
    assert not any(key.endswith("empty.txt") for key in stored_files(ws))


# --- spoofed types, names, limits, idempotency ----------------------------------------------------------------------

def test_an_executable_named_pdf_is_refused_and_nothing_is_stored(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("spoof")
    before = stored_files(ws)
    with pytest.raises(UnsupportedFileTypeError) as excinfo:
        sources_service.add_file(ws, project.id, "invoice.pdf", elf_binary())
    assert excinfo.value.error_code == "UNSUPPORTED_FILE_TYPE"
    assert "application/x-executable" in excinfo.value.message
    assert ws.sources(project.id) == []
    assert stored_files(ws) == before


def test_a_pdf_named_txt_is_read_as_a_pdf(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("renamed")
    data = build_pdf(["First page about flour.", "Second page about water and salt."])
    source = sources_service.add_file(ws, project.id, "notes.txt", data)
    assert (source.type, source.mime_type) == (SourceType.PDF, "application/pdf")
    ws.ingest(project.id)
    loaded = sources_service.get_source(ws, source.id)
    assert loaded.status is SourceStatus.READY
    assert loaded.metadata["pages"] == 2
    assert "Second page about water and salt." in (_document_text(ws, source.id) or "")


@pytest.mark.parametrize(("name", "stored_as"), [("../../etc/passwd.txt", "passwd.txt"), ("..\\evil.md", "evil.md")])
def test_traversal_names_are_stored_under_the_file_root(tmp_path: Path, name: str, stored_as: str) -> None:
    ws = open_test_workspace(tmp_path / "deep" / "workspace")
    try:
        project = ws.create_project("names")
        source = sources_service.add_file(ws, project.id, name, b"# Notes\n\nSome harmless text about bread.\n")
        assert source.name == stored_as
        assert source.storage_key is not None and ".." not in source.storage_key
        path = ws.files.local_path(source.storage_key).resolve()
        assert path.is_relative_to(ws.files.root) and path.is_file()
        assert stored_files(ws) == {source.storage_key}
        outside = {p for p in tmp_path.rglob("*") if p.is_file() and not p.resolve().is_relative_to(ws.files.root)}
        assert {p.name for p in outside} <= {"finetune.db", "finetune.db-wal", "finetune.db-shm"}
        ws.ingest(project.id)
        assert sources_service.get_source(ws, source.id).status is SourceStatus.READY
    finally:
        ws.close()


def test_size_limits_refuse_the_upload_and_store_nothing(tmp_path: Path) -> None:
    ws = open_test_workspace(tmp_path / "ws", max_file_bytes=2000, max_project_bytes=3000)
    try:
        project = ws.create_project("limits")
        with pytest.raises(FileTooLargeError) as too_big:
            sources_service.add_file(ws, project.id, "big.txt", b"a" * 2001)
        assert too_big.value.error_code == "FILE_TOO_LARGE"
        assert ws.sources(project.id) == [] and stored_files(ws) == set()

        first = sources_service.add_file(ws, project.id, "one.txt", b"b" * 1500)
        second = sources_service.add_file(ws, project.id, "two.txt", b"c" * 1400)
        files = stored_files(ws)
        with pytest.raises(FileTooLargeError) as over_quota:
            sources_service.add_file(ws, project.id, "three.txt", b"d" * 200)
        assert over_quota.value.error_code == "FILE_TOO_LARGE"
        assert "Project storage limit" in over_quota.value.message
        assert [source.id for source in ws.sources(project.id)] == [first.id, second.id]
        assert stored_files(ws) == files
        # the limit is per project: another project still has room
        other = ws.create_project("other")
        sources_service.add_file(ws, other.id, "three.txt", b"d" * 200)
    finally:
        ws.close()


def test_reuploading_the_same_bytes_and_name_returns_the_same_source(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("idempotent")
    first = ws.add_file(project.id, SAMPLE_FILES["markdown"])
    ws.ingest(project.id)
    again = ws.add_file(project.id, SAMPLE_FILES["markdown"])
    assert again.id == first.id
    assert again.status is SourceStatus.READY  # a retry does not reset a loaded source
    assert len(ws.sources(project.id)) == 1 and len(stored_files(ws)) == 1
    # other bytes under the same name are a new source
    renamed = sources_service.add_file(ws, project.id, SAMPLE_FILES["markdown"].name, b"# Another guide\n\nText.\n")
    assert renamed.id != first.id


def test_reupload_is_idempotent_when_the_same_bytes_exist_under_another_name(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("two names")
    data = b"The same notes, filed twice under two names.\n"
    sources_service.add_file(ws, project.id, "a.txt", data)
    b = sources_service.add_file(ws, project.id, "b.txt", data)
    retry = sources_service.add_file(ws, project.id, "b.txt", data)
    assert retry.id == b.id
    assert len(ws.sources(project.id)) == 2


def _upload_concurrently(ws: Workspace, project_id: str, uploads: list[tuple[str, bytes]]) -> list[object]:
    """Run the uploads in threads, held together at the file write (between the checks and the insert)."""
    barrier = threading.Barrier(len(uploads))
    put = ws.files.put

    def synchronised_put(key: str, data: bytes) -> None:
        # an implementation that serialises uploads never brings both here together: the wait times out
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=2)
        put(key, data)

    outcomes: list[object] = [None] * len(uploads)

    def upload(index: int, name: str, data: bytes) -> None:
        try:
            outcomes[index] = sources_service.add_file(ws, project_id, name, data)
        except Exception as exc:
            outcomes[index] = exc

    ws.files.put = synchronised_put  # type: ignore[method-assign]
    try:
        threads = [threading.Thread(target=upload, args=(i, *item)) for i, item in enumerate(uploads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)  # a bound: each ends as soon as its upload has
    finally:
        ws.files.put = put  # type: ignore[method-assign]
    return outcomes


def test_concurrent_uploads_cannot_exceed_the_project_limit(tmp_path: Path) -> None:
    ws = open_test_workspace(tmp_path / "ws", max_project_bytes=3000)
    try:
        project = ws.create_project("race")
        outcomes = _upload_concurrently(ws, project.id, [("one.txt", b"a" * 2000), ("two.txt", b"b" * 2000)])
        assert sum(isinstance(outcome, FileTooLargeError) for outcome in outcomes) == 1
        assert sum(source.size_bytes for source in ws.sources(project.id)) <= 3000
    finally:
        ws.close()


def test_concurrent_identical_uploads_create_one_source(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("retry race")
    data = b"An upload retried by an impatient client.\n"
    outcomes = _upload_concurrently(ws, project.id, [("notes.txt", data), ("notes.txt", data)])
    assert len(ws.sources(project.id)) == 1
    assert len(stored_files(ws)) == 1
    assert all(not isinstance(outcome, Exception) for outcome in outcomes)


# --- URLs -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "http://127.0.0.1/",
    "http://169.254.169.254/latest/meta-data",
    "http://2130706433/",
    "file:///etc/passwd",
    "ftp://x",
])
def test_disallowed_urls_are_refused_before_anything_is_stored(strict_workspace: Workspace, url: str) -> None:
    ws = strict_workspace
    project = ws.create_project("urls")
    with pytest.raises(UrlNotAllowedError) as excinfo:
        ws.add_url(project.id, url)
    assert excinfo.value.error_code == "URL_NOT_ALLOWED"
    assert ws.sources(project.id) == []
    assert jobs_service.list_jobs(ws)[1] == 0


def test_a_loopback_server_is_not_contacted_in_production(strict_workspace: Workspace) -> None:
    with serve() as server:
        server.routes["/page"] = (200, {"Content-Type": "text/html"}, SAMPLE_FILES["html"].read_bytes())
        project = strict_workspace.create_project("urls")
        with pytest.raises(UrlNotAllowedError):
            strict_workspace.add_url(project.id, server.url("/page"))
        assert server.seen == []
    assert strict_workspace.sources(project.id) == []


def test_a_page_from_a_real_local_server_ingests_ready(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    with serve() as server:
        server.routes["/guides/shaping"] = (200, {"Content-Type": "text/html; charset=utf-8"},
                                            SAMPLE_FILES["html"].read_bytes())
        project = ws.create_project("web")
        source = ws.add_url(project.id, server.url("/guides/shaping"))
        assert source.status is SourceStatus.PENDING and source.type is SourceType.WEBSITE
        ws.ingest(project.id)
        assert [path for path, _ in server.seen] == ["/guides/shaping"]
    loaded = sources_service.get_source(ws, source.id)
    assert loaded.status is SourceStatus.READY, loaded.error_message
    assert loaded.metadata["final_url"] == server.url("/guides/shaping")
    text = _document_text(ws, source.id) or ""
    assert "A boule is a round loaf shaped by dragging the dough towards you" in text
    assert "We use cookies" not in text and "Portmere" not in text
    ws.chunk(project.id)
    assert ws.chunks(project.id)


def test_a_youtube_video_ingests_its_transcript(finetune_workspace: Workspace,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    resolved: list[str] = []
    monkeypatch.setattr("finetune_core.sources.fetch.system_resolver", public_resolver(resolved))
    fake = FakeYouTube()
    ws.requests_session = youtube_session(fake)
    project = ws.create_project("video")
    source = ws.add_url(project.id, f"https://www.youtube.com/watch?v={VIDEO}&t=42s")
    assert source.type is SourceType.YOUTUBE and source.metadata["loader"] == "youtube"
    ws.ingest(project.id)
    loaded = sources_service.get_source(ws, source.id)
    assert loaded.status is SourceStatus.READY, loaded.error_message
    assert loaded.metadata["video_id"] == VIDEO
    assert loaded.metadata["transcript_language_code"] == "en"
    text = _document_text(ws, source.id) or ""
    assert text == ("Welcome back to the bakery school. Today we learn how to feed a sourdough starter. "
                    "Discard all but fifty grams and add equal weights of flour and water.")
    assert len(fake.calls) == 3  # watch page, player, transcript: all through the injected session
    assert resolved == ["www.youtube.com"]  # add_url's DNS check went to the stand-in, not the network
    ws.chunk(project.id)
    assert len(ws.chunks(project.id)) == 1


# --- deletes --------------------------------------------------------------------------------------------------------

def test_delete_source_and_delete_project_remove_files_and_rows(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("to delete")
    keep = ws.create_project("to keep")
    pdf = ws.add_file(project.id, SAMPLE_FILES["pdf"])
    table = ws.add_file(project.id, SAMPLE_FILES["csv"])
    docx = ws.add_file(project.id, SAMPLE_FILES["docx"])
    kept = ws.add_file(keep.id, SAMPLE_FILES["pdf"])
    for ref in (project.id, keep.id):
        ws.ingest(ref)
        ws.chunk(ref, size=256, overlap=20)
        ws.generate(ref, target=20)
    keep_files = {key for key in stored_files(ws) if key.startswith(keep.id)}
    keep_counts = (len(ws.chunks(keep.id, limit=None)), len(all_examples(ws, keep.id)))
    assert all(count > 0 for count in keep_counts)
    examples = all_examples(ws, project.id)
    assert {example.source_id for example in examples} >= {pdf.id, table.id}

    # one document source: its file, document, chunks and examples go; the rest stays
    pdf_key = sources_service.get_source(ws, pdf.id).storage_key
    assert pdf_key is not None and ws.files.exists(pdf_key)
    sources_service.delete_source(ws, pdf.id)
    assert not ws.files.exists(pdf_key)
    assert not any(key.startswith(f"{project.id}/{pdf.id}") for key in stored_files(ws))
    assert _document_text(ws, pdf.id) is None
    assert all(chunk.source_id != pdf.id for chunk in ws.chunks(project.id, limit=None))
    remaining = all_examples(ws, project.id)
    assert all(example.source_id != pdf.id for example in remaining)
    assert len(remaining) == len([example for example in examples if example.source_id != pdf.id])
    assert {source.id for source in ws.sources(project.id)} == {table.id, docx.id}

    # a dataset upload: its examples go with it
    sources_service.delete_source(ws, table.id)
    assert all(example.source_id != table.id for example in all_examples(ws, project.id))

    # the project: every file under its prefix and every row
    projects_service.delete_project(ws, project.id)
    assert not any(key.startswith(project.id) for key in stored_files(ws))
    assert not (ws.files.root / project.id).exists()
    with ws.unit_of_work() as uow:
        assert uow.sources.search(project.id)[1] == 0
        assert uow.chunks.count(project.id) == 0
        assert uow.examples.count(project.id) == 0
        assert uow.jobs.search(project_id=project.id)[1] == 0
        assert uow.documents.get(docx.id) is None
    # the other project is untouched
    assert {key for key in stored_files(ws) if key.startswith(keep.id)} == keep_files
    assert (len(ws.chunks(keep.id, limit=None)), len(all_examples(ws, keep.id))) == keep_counts
    assert sources_service.get_source(ws, kept.id).status is SourceStatus.READY
