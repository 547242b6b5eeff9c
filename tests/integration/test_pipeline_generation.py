"""Generation through the service layer: preview, grounding, split, crash/resume, failures, cancel, export."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from finetune_core import Example, JobStatus, Workspace
from finetune_core.export.base import writes_task
from finetune_core.jobs import InProcessRunner
from finetune_core.services import curation as curation_service
from finetune_core.services import jobs as jobs_service
from finetune_core.services import projects as projects_service
from finetune_core.testing import open_test_workspace
from kits.pipeline import GeneratorPlugin, Script, add_text_sources, all_examples, iter_jsonl, scripted_generator
from kits.samples import SAMPLE_FILES

Register = Callable[..., str]


def _text_project(ws: Workspace, name: str, sources: int, **config: Any) -> str:
    """A project of `sources` small text files, ingested and chunked to one chunk each."""
    project = ws.create_project(name, config=config)
    add_text_sources(ws, project.id, sources)
    ws.ingest(project.id)
    ws.chunk(project.id)
    assert len(ws.chunks(project.id, limit=None)) == sources
    return project.id


def _generated(ws: Workspace, project_id: str) -> list[Example]:
    return [example for example in all_examples(ws, project_id)
            if example.request_key and example.request_key.startswith("gen:")]


def _signature(ws: Workspace, project_id: str) -> list[tuple[str, int, int, str]]:
    """Project-independent identity of each generated example: (source name, round, position, answer)."""
    chunk_source = {chunk.id: chunk.metadata["source_name"] for chunk in ws.chunks(project_id, limit=None)}
    found = []
    for example in _generated(ws, project_id):
        assert example.request_key is not None
        _, chunk_id, round_ = example.request_key.split(":")
        found.append((chunk_source[chunk_id], int(round_), example.position, example.answer))
    return sorted(found)


def _assert_unique_requests(examples: list[Example]) -> None:
    pairs = Counter((example.request_key, example.position) for example in examples)
    assert all(count == 1 for count in pairs.values()), [pair for pair, count in pairs.items() if count > 1]


@pytest.fixture
def scripted(register_finetune_plugin: Register) -> Callable[[str], Script]:
    """Register a scripted generator under `name`; returns its Script (behaviour switches and request log)."""
    def make(name: str) -> Script:
        script = Script()
        register_finetune_plugin(GeneratorPlugin(scripted_generator(name, script)), name=f"test-plugin-{name}")
        return script

    return make


# --- the full flow on the samples -----------------------------------------------------------------------------------

@pytest.fixture
def samples_project(finetune_workspace: Workspace) -> Iterator[tuple[Workspace, str]]:
    ws = finetune_workspace
    project = ws.create_project("samples", config={"train_eval_split": 0.8})
    for path in SAMPLE_FILES.values():
        ws.add_file(project.id, path)
    ws.ingest(project.id)
    ws.chunk(project.id, size=256, overlap=20)
    yield ws, project.id


def test_preview_then_generate_gives_grounded_examples(samples_project: tuple[Workspace, str],
                                                      tmp_path: Path) -> None:
    ws, project_id = samples_project
    uploaded = len(all_examples(ws, project_id))  # the CSV rows
    assert uploaded == 10

    for _ in range(2):  # a new preview replaces the last one
        job = ws.preview(project_id, 5)
        previews = [example for example in all_examples(ws, project_id) if example.split == "preview"]
        assert len(previews) == 5
        assert all(example.request_key and example.request_key.startswith("preview:") for example in previews)
        assert job.result_summary["total"] == 5
    stats = ws.stats(project_id)
    assert stats["total"] == uploaded and "preview" not in stats["by_split"]

    job = ws.generate(project_id, target=40)
    assert job.result_summary["new_examples"] > 0
    generated = _generated(ws, project_id)
    assert len(generated) == job.result_summary["new_examples"]
    _assert_unique_requests(all_examples(ws, project_id))
    assert len([example for example in all_examples(ws, project_id) if example.split == "preview"]) == 5
    stats = ws.stats(project_id)
    assert stats["total"] == uploaded + len(generated)  # previews are not counted

    # every valid generated example quotes its chunk verbatim
    chunks = {chunk.id: chunk for chunk in ws.chunks(project_id, limit=None)}
    valid = [example for example in generated if example.is_valid]
    assert len(valid) >= len(generated) * 0.8
    for example in valid:
        chunk = chunks[example.chunk_id]  # type: ignore[index]
        assert example.source_id == chunk.source_id
        assert example.evidence and example.evidence in chunk.content, (example.evidence, chunk.content)
        assert example.metadata["page_start"] == chunk.page_start
    assert any(example.metadata["page_start"] for example in valid)  # some come from the PDF, with pages

    # previews are never exported
    result = ws.export(project_id, "hf-chat", out=tmp_path / "all.jsonl")
    exported = {record["metadata"]["example_id"] for record in iter_jsonl(result.path)}
    assert exported == {example.id for example in all_examples(ws, project_id)
                        if example.is_valid and example.split != "preview"}

    # an edited evidence that is not in the chunk makes the example invalid at the next curation
    target = valid[0]
    with ws.unit_of_work() as uow:
        uow.examples.update({target.id: {"evidence": "A sentence that appears in no chunk of this project."}})
    before = stats["validation_errors"].get("evidence_not_found", 0)
    curated = ws.curate(project_id)
    edited = next(example for example in all_examples(ws, project_id) if example.id == target.id)
    assert not edited.is_valid
    assert "evidence_not_found" in edited.validation_errors
    assert edited.split == "unassigned"
    assert curated["validation_errors"]["evidence_not_found"] == before + 1
    assert curated["valid"] == stats["valid"] - 1


def test_exports_write_one_line_per_valid_example_and_filter_by_split(samples_project: tuple[Workspace, str],
                                                                      tmp_path: Path) -> None:
    ws, project_id = samples_project
    ws.preview(project_id, 5)
    ws.generate(project_id, target=40)
    examples = all_examples(ws, project_id)
    exportable = [example for example in examples if example.is_valid and example.split != "preview"]
    assert {example.split for example in exportable} == {"train", "eval"}
    by_split = Counter(example.split for example in exportable)

    formats = [name for name in ws.plugins.exporters.names()
               if writes_task(ws.plugins.exporters.get(name), ws.project(project_id).task_type)]
    assert {"openai", "anthropic", "mistral", "alpaca", "sharegpt", "hf-chat"} <= set(formats)
    assert "dpo" not in formats  # preference pairs only: a qa project has none
    for name in formats:
        result = ws.export(project_id, name, out=tmp_path / f"{name}.jsonl")
        lines = list(iter_jsonl(result.path))
        assert result.count == len(lines) == len(exportable), name
        evals = ws.export(project_id, name, out=tmp_path / f"{name}-eval.jsonl", split="eval")
        assert evals.count == len(list(iter_jsonl(evals.path))) == by_split["eval"], name
    train_ids = {record["metadata"]["example_id"]
                 for record in iter_jsonl(ws.export(project_id, "hf-chat", split="train").path)}
    assert train_ids == {example.id for example in exportable if example.split == "train"}


# --- split ----------------------------------------------------------------------------------------------------------

def test_split_is_grouped_by_source_and_follows_the_configured_ratio(finetune_workspace: Workspace,
                                                                     scripted: Callable[[str], Script]) -> None:
    ws = finetune_workspace
    scripted("grounded")
    project_id = _text_project(ws, "split", 20, train_eval_split=0.75, examples_per_chunk=3)
    summary = ws.generate(project_id, target=60, generator="grounded").result_summary
    assert summary["valid"] == 60, summary["validation_errors"]

    examples = _generated(ws, project_id)
    splits_of_source: dict[str, set[str]] = {}
    for example in examples:
        assert example.source_id is not None
        splits_of_source.setdefault(example.source_id, set()).add(example.split)
    assert all(len(splits) == 1 for splits in splits_of_source.values()), "a source is in both splits"
    counts = Counter(example.split for example in examples)
    assert set(counts) == {"train", "eval"}
    assert abs(counts["eval"] / len(examples) - 0.25) <= 0.05, counts
    stats = ws.stats(project_id)
    assert (stats["by_split"]["train"]["count"], stats["by_split"]["eval"]["count"]) == (counts["train"],
                                                                                          counts["eval"])
    # seeded: curating again gives the same split
    ws.curate(project_id)
    assert {e.id: e.split for e in _generated(ws, project_id)} == {e.id: e.split for e in examples}


def test_a_row_split_holds_out_examples_of_a_single_document_the_same_way_in_any_workspace(
        tmp_path: Path, scripted: Callable[[str], Script]) -> None:
    scripted("grounded")
    held_out: dict[str, set[str | None]] = {}
    for name in ("first", "second"):
        with open_test_workspace(tmp_path / name) as ws:
            project_id = _text_project(ws, "one document", 1, examples_per_chunk=4, train_eval_split=0.8)
            by_source = ws.generate(project_id, target=40, generator="grounded").result_summary
            valid = by_source["valid"]
            assert valid >= 5 and by_source["by_split"]["eval"]["count"] == 0
            assert by_source["warnings"][0].startswith(f"no eval examples: the {valid} examples come from too few")
            projects_service.update_project(ws, project_id, config={"split_by": "row"})  # the leak accepted
            by_row = ws.curate(project_id)
            assert abs(by_row["by_split"]["eval"]["count"] - valid * 0.2) <= 0.5 and by_row["warnings"] == []
            held_out[name] = {example.answer for example in _generated(ws, project_id) if example.split == "eval"}
            ws.curate(project_id)
            assert {example.answer for example in _generated(ws, project_id) if example.split == "eval"} \
                == held_out[name]  # seeded
    assert held_out["first"] == held_out["second"]  # keyed by content, not by the databases' ids


# --- crash and resume ----------------------------------------------------------------------------------------------

def test_a_crashed_run_resumes_with_only_the_missing_requests(finetune_workspace: Workspace,
                                                             scripted: Callable[[str], Script]) -> None:
    ws = finetune_workspace
    script = scripted("resumable")
    params = {"num_examples_target": 30, "examples_per_chunk": 3, "generator": "resumable"}

    crashed = _text_project(ws, "crashed", 10)
    script.crash_after = 4
    job = jobs_service.enqueue(ws, "dataset_generate", project_id=crashed, settings={"concurrency": 3}, **params)
    assert job.status is JobStatus.FAILED
    assert job.error_message == "RuntimeError: simulated crash in the middle of the run"
    stored_after_crash = _generated(ws, crashed)
    assert 0 < len(stored_after_crash) < 30  # the crash came mid-run, after some results were stored
    done_keys = {example.request_key for example in stored_after_crash}
    # whole requests only: each stored key has all its positions
    assert Counter(example.request_key for example in stored_after_crash) == dict.fromkeys(done_keys, 3)

    script.crash_after = None  # the same plugin, with the crash switched off
    script.seen.clear()
    ws.generate(crashed, target=30, examples_per_chunk=3, generator="resumable")
    rerun_keys = script.keys()
    assert rerun_keys.isdisjoint(done_keys), "the rerun asked again for requests already stored"
    all_keys = {f"gen:{chunk.id}:0" for chunk in ws.chunks(crashed, limit=None)}
    assert rerun_keys == all_keys - done_keys
    assert len(script.seen) == len(rerun_keys)
    resumed = _generated(ws, crashed)
    _assert_unique_requests(resumed)

    # the same as one uninterrupted run on a fresh project
    fresh = _text_project(ws, "fresh", 10)
    ws.generate(fresh, target=30, examples_per_chunk=3, generator="resumable")
    assert len(resumed) == len(_generated(ws, fresh)) == 30
    assert _signature(ws, crashed) == _signature(ws, fresh)


def test_failed_requests_are_stored_invalid_and_retried_next_run(finetune_workspace: Workspace,
                                                                 scripted: Callable[[str], Script]) -> None:
    ws = finetune_workspace
    script = scripted("flaky")
    project_id = _text_project(ws, "flaky", 8)
    script.fail = lambda request: request.source_name in {"note-01.txt", "note-04.txt", "note-06.txt"}

    summary = ws.generate(project_id, target=16, examples_per_chunk=2, generator="flaky").result_summary
    assert summary["failed_requests"] == 3
    failed = [example for example in _generated(ws, project_id) if "generation_failed" in example.validation_errors]
    assert len(failed) == 3
    assert {example.metadata["source_name"] for example in failed} == {"note-01.txt", "note-04.txt", "note-06.txt"}
    for example in failed:
        assert not example.is_valid and example.split == "unassigned"
        assert example.metadata["error"] == "HTTP 429: rate limited by the provider"
    failed_keys = {example.request_key for example in failed}
    stats = ws.stats(project_id)
    assert stats["validation_errors"] == {"generation_failed": 3}
    assert (stats["valid"], stats["invalid"]) == (10, 3)

    script.fail = None
    script.seen.clear()
    summary = ws.generate(project_id, target=16, examples_per_chunk=2, generator="flaky").result_summary
    assert script.keys() == failed_keys  # only the failed requests run again
    assert summary["failed_requests"] == 0
    examples = _generated(ws, project_id)
    _assert_unique_requests(examples)
    assert len(examples) == 16 and all(example.is_valid for example in examples)
    assert ws.stats(project_id)["validation_errors"] == {}


def test_unparseable_model_output_is_stored_as_json_invalid(finetune_workspace: Workspace,
                                                            scripted: Callable[[str], Script],
                                                            tmp_path: Path) -> None:
    ws = finetune_workspace
    script = scripted("garbled")
    script.garbage = "Sure! Here are your examples:\n<<< ]]] {{ 'question': oops"
    project_id = _text_project(ws, "garbled", 3)
    summary = ws.generate(project_id, target=3, examples_per_chunk=1, generator="garbled").result_summary
    examples = _generated(ws, project_id)
    assert len(examples) == 3
    for example in examples:
        assert not example.is_valid
        assert example.validation_errors == ["json_invalid"]
        assert example.messages == []
        assert example.metadata["raw"] == script.garbage  # the model output is kept for inspection
    assert summary["validation_errors"] == {"json_invalid": 3}
    stats = ws.stats(project_id)
    assert stats["validation_errors"] == {"json_invalid": 3}
    assert (stats["valid"], stats["invalid"]) == (0, 3)
    assert ws.export(project_id, "openai", out=tmp_path / "out.jsonl").count == 0


def test_a_run_reaches_its_target_when_requests_return_fewer_examples(finetune_workspace: Workspace,
                                                                       scripted: Callable[[str], Script]) -> None:
    ws = finetune_workspace
    script = scripted("stingy")
    script.drafts_per_request = 2  # asked for 5, answers 2, as models often do
    project_id = _text_project(ws, "stingy", 10)
    ws.generate(project_id, target=10, examples_per_chunk=5, generator="stingy")
    first = len(_generated(ws, project_id))
    ws.generate(project_id, target=10, examples_per_chunk=5, generator="stingy")
    assert first >= 10, f"stopped at {first} of 10 with {10 - len(script.keys())} chunks never asked"
    assert len(_generated(ws, project_id)) == first


# --- cancel ---------------------------------------------------------------------------------------------------------

def test_cancel_during_generation_keeps_what_was_stored_and_a_rerun_completes(
        tmp_path: Path, scripted: Callable[[str], Script]) -> None:
    ws = open_test_workspace(tmp_path / "threaded", runner=InProcessRunner(1))
    try:
        script = scripted("slow")
        script.delay_s = 0.5  # 20 requests one at a time: about 10 s, cancelled after the first is stored
        project_id = _text_project(ws, "slow", 20)
        job = jobs_service.enqueue(ws, "dataset_generate", project_id=project_id, num_examples_target=40,
                                   examples_per_chunk=2, generator="slow", settings={"concurrency": 1})
        deadline = time.monotonic() + 120  # a bound, never a pace
        while not _generated(ws, project_id):  # some results are stored (flushed) while it runs
            assert time.monotonic() < deadline, "no example was stored"
            time.sleep(0.02)
        jobs_service.cancel_job(ws, job.id)
        finished = jobs_service.wait_for(ws, job.id, timeout_s=120, poll_s=0.02)
        assert finished.status is JobStatus.CANCELLED
        kept = _generated(ws, project_id)
        assert 0 < len(kept) < 40  # it stopped midway
        kept_keys = {example.request_key for example in kept}

        script.delay_s = 0.0
        script.seen.clear()
        ws.generate(project_id, target=40, examples_per_chunk=2, generator="slow")
        assert script.keys().isdisjoint(kept_keys)
        examples = _generated(ws, project_id)
        _assert_unique_requests(examples)
        assert len(examples) == 40
        assert {example.id for example in kept} <= {example.id for example in examples}
        assert curation_service.stats(ws, project_id)["valid"] == 40
    finally:
        ws.close()
