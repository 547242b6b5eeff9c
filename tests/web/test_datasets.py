"""Chunks, generation, examples and stats (FF); datasets, uploads, pairs and the streamed export (FT, DQ).

Generation runs the offline `extractive` generator, or `openai-compatible` against a small Chat
Completions server on 127.0.0.1, whose key comes from the owner's stored keys (never the body).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from finetune_core.services import jobs
from finetune_core.testing import made_up_text
from finetune_core.workspace import Workspace
from flask.testing import FlaskClient
from kits.chat_completions import ChatServer
from kits.web_api import Account, assert_error, field_errors
from kits.web_uploads import ELF, QA_CSV, jsonl_lines, upload_files, upload_one

LOCAL_KEY = "local-server-secret-0042"


@pytest.fixture
def project_id(client: FlaskClient, alice: Account) -> str:
    return str(client.post("/api/projects", json={"name": "bakery", "config": {"examples_per_chunk": 2}},
                           headers=alice.headers).get_json()["id"])


def add_notes(client: FlaskClient, account: Account, project_id: str, count: int = 3) -> list[str]:
    """`count` text files of made-up sentences, uploaded and loaded; their ids."""
    files = [(made_up_text(seed, sentences=40).encode(), f"note-{seed}.txt") for seed in range(count)]
    uploaded = upload_files(client, account, project_id, *files)
    assert uploaded.status_code == 201, uploaded.get_json()
    return [file["id"] for file in uploaded.get_json()["files"]]


def accepted(response: Any, workspace: Workspace, type: str) -> dict[str, Any]:
    """A 202 job answer; the job (run inline by the test workspace) as it ended."""
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert set(body) == {"job_id", "status", "message"} and body["message"].endswith("job enqueued")
    job = jobs.get_job(workspace, body["job_id"])
    assert job.type == type and job.status.value == "success", job.error_message
    return job.model_dump()


def chunked(client: FlaskClient, account: Account, project_id: str, workspace: Workspace, **body: Any) -> None:
    response = client.post(f"/api/projects/{project_id}/chunks/generate", json=body, headers=account.headers)
    accepted(response, workspace, "chunk")


def generated(client: FlaskClient, account: Account, project_id: str, workspace: Workspace,
              target: int = 12) -> dict[str, Any]:
    response = client.post(f"/api/projects/{project_id}/dataset/generate", headers=account.headers,
                           json={"generator": "extractive", "num_examples_target": target})
    return accepted(response, workspace, "dataset_generate")


@pytest.fixture
def dataset_id(client: FlaskClient, alice: Account, project_id: str, workspace: Workspace) -> str:
    """Alice's project with a generated dataset."""
    add_notes(client, alice, project_id)
    chunked(client, alice, project_id, workspace)
    generated(client, alice, project_id, workspace)
    return project_id


# --- chunks ----------------------------------------------------------------------------------------------------

def test_chunks_are_cut_in_tokens_and_listed_with_finetuneflow_fields(client: FlaskClient, alice: Account,
                                                                      project_id: str, workspace: Workspace) -> None:
    first, *_ = add_notes(client, alice, project_id)
    chunked(client, alice, project_id, workspace, chunk_size_tokens=64, chunk_overlap_tokens=8)
    listed = client.get(f"/api/projects/{project_id}/chunks?limit=2", headers=alice.headers).get_json()
    assert listed["total"] > 3 and len(listed["items"]) == 2 and listed["limit"] == 2
    chunk = listed["items"][0]
    assert set(chunk) == {"id", "source_file_id", "chunk_index", "content", "token_count", "metadata", "created_at"}
    assert chunk["token_count"] <= 64 and chunk["chunk_index"] == 0
    assert {"page_start", "page_end", "heading", "source_name"} <= set(chunk["metadata"])
    one_file = client.get(f"/api/projects/{project_id}/chunks?source_file_id={first}&limit=500",
                          headers=alice.headers).get_json()
    assert {item["source_file_id"] for item in one_file["items"]} == {first}
    assert [item["chunk_index"] for item in one_file["items"]] == list(range(one_file["total"]))
    # an empty body, or none at all: the project's config decides
    chunked(client, alice, project_id, workspace)
    bare = client.post(f"/api/projects/{project_id}/chunks/generate", headers=alice.headers)
    accepted(bare, workspace, "chunk")


def test_chunking_refuses_what_it_cannot_do(client: FlaskClient, alice: Account, project_id: str) -> None:
    post = f"/api/projects/{project_id}/chunks/generate"
    overlap = client.post(post, json={"chunk_size_tokens": 64, "chunk_overlap_tokens": 64}, headers=alice.headers)
    assert "overlap" in assert_error(overlap, 400, "INVALID_INPUT")["detail"]
    assert_error(client.post(post, json={"chunker": "sentences"}, headers=alice.headers), 400, "UNKNOWN_PLUGIN")
    assert set(field_errors(client.post(post, json={"chunk_size_tokens": 3}, headers=alice.headers))) \
        == {"chunk_size_tokens"}
    assert client.get(f"/api/projects/{project_id}/jobs", headers=alice.headers).get_json()["total"] == 0
    assert_error(client.get("/api/projects/missing/chunks", headers=alice.headers), 404)


# --- generation, examples, stats -------------------------------------------------------------------------------

def test_preview_generate_examples_stats_and_delete(client: FlaskClient, alice: Account, project_id: str,
                                                     workspace: Workspace) -> None:
    add_notes(client, alice, project_id)
    chunked(client, alice, project_id, workspace)
    preview = client.post(f"/api/projects/{project_id}/dataset/preview", json={"num_examples": 4},
                          headers=alice.headers)
    assert accepted(preview, workspace, "dataset_preview")["params"]["num_examples"] == 4
    previews = client.get(f"/api/projects/{project_id}/dataset/examples?split=preview",
                          headers=alice.headers).get_json()
    assert previews["total"] == 4 and {item["split"] for item in previews["items"]} == {"preview"}
    job = generated(client, alice, project_id, workspace, target=12)
    assert job["params"]["generator"] == "extractive"
    examples = client.get(f"/api/projects/{project_id}/dataset/examples?limit=5", headers=alice.headers).get_json()
    assert set(examples) == {"items", "total", "limit", "offset", "stats"}
    item = examples["items"][0]
    assert set(item["data"]) == {"instruction", "input", "output"} and item["messages"][0]["role"] in ("user",
                                                                                                        "system")
    stats = examples["stats"]
    assert stats["total"] == 12 and stats["train"] + stats["eval"] == stats["valid"] and stats["avg_token_count"] > 0
    train = client.get(f"/api/projects/{project_id}/dataset/examples?split=train&is_valid=true&limit=500",
                       headers=alice.headers).get_json()
    assert train["total"] == stats["train"] and all(item["is_valid"] for item in train["items"])
    assert set(field_errors(client.get(f"/api/projects/{project_id}/dataset/examples?split=test",
                                       headers=alice.headers))) == {"split"}
    full = client.get(f"/api/projects/{project_id}/dataset/stats", headers=alice.headers).get_json()
    assert set(full) == {"total", "valid", "invalid", "by_split", "validation_errors", "warnings"}
    assert full["total"] == 12 and full["by_split"]["train"]["count"] == stats["train"]
    assert isinstance(full["validation_errors"], dict)
    victim = train["items"][0]["id"]
    deleted = client.delete(f"/api/projects/{project_id}/dataset/examples/{victim}", headers=alice.headers)
    assert deleted.status_code == 204
    assert client.get(f"/api/projects/{project_id}/dataset/stats", headers=alice.headers).get_json()["total"] == 11
    assert_error(client.delete(f"/api/projects/{project_id}/dataset/examples/{victim}", headers=alice.headers), 404)


def test_one_document_leaves_eval_empty_with_a_warning_until_a_row_split_is_chosen(
        client: FlaskClient, alice: Account, project_id: str, workspace: Workspace) -> None:
    [source] = add_notes(client, alice, project_id, count=1)
    chunked(client, alice, project_id, workspace)
    generated(client, alice, project_id, workspace)
    stats_url = f"/api/projects/{project_id}/dataset/stats"
    by_source = client.get(stats_url, headers=alice.headers).get_json()
    valid = by_source["valid"]
    assert valid > 5 and by_source["by_split"]["train"]["count"] == valid
    assert by_source["by_split"]["eval"]["count"] == 0
    [warning] = by_source["warnings"]
    assert warning.startswith(f"no eval examples: the {valid} examples come from too few source documents")
    assert 'split_by to "row"' in warning
    page_stats = client.get(f"/api/projects/{project_id}/dataset/examples", headers=alice.headers).get_json()["stats"]
    assert page_stats["warnings"] == [warning] and page_stats["eval"] == 0

    bad = client.patch(f"/api/projects/{project_id}", json={"config": {"split_by": "page"}}, headers=alice.headers)
    assert set(field_errors(bad)) == {"config.split_by"}
    patched = client.patch(f"/api/projects/{project_id}", json={"config": {"split_by": "row"}}, headers=alice.headers)
    assert patched.get_json()["config"]["split_by"] == "row"  # the leak accepted
    rerun = generated(client, alice, project_id, workspace)  # nothing left to generate: it curates again
    assert rerun["result_summary"]["warnings"] == []
    by_row = client.get(stats_url, headers=alice.headers).get_json()
    held_out = by_row["by_split"]["eval"]["count"]
    assert by_row["warnings"] == [] and by_row["valid"] == valid
    assert held_out >= 1 and abs(held_out - valid * (1 - 0.9)) < 1
    assert by_row["by_split"]["train"]["count"] == valid - held_out

    def eval_ids() -> list[str]:
        listed = client.get(f"/api/projects/{project_id}/dataset/examples?split=eval&limit=500",
                            headers=alice.headers).get_json()["items"]
        assert {item["source_id"] for item in listed} == {source}  # the same document as train's
        return sorted(item["id"] for item in listed)

    first = eval_ids()
    generated(client, alice, project_id, workspace)
    assert eval_ids() == first  # seeded: the same rows again


def test_generation_bodies_are_checked_before_any_job(client: FlaskClient, alice: Account, project_id: str) -> None:
    post = f"/api/projects/{project_id}/dataset/generate"
    unknown = client.post(post, json={"generator": "gpt-magic"}, headers=alice.headers)
    assert "extractive" in assert_error(unknown, 400, "UNKNOWN_PLUGIN")["detail"]
    secret = field_errors(client.post(post, json={"generator": "openai", "api_key": "sk-" + "x" * 40},
                                      headers=alice.headers))
    assert "POST /api/users/me/api-keys" in secret[None]
    assert set(field_errors(client.post(f"/api/projects/{project_id}/dataset/preview", json={"num_examples": 0},
                                        headers=alice.headers))) == {"num_examples"}
    assert client.get(f"/api/projects/{project_id}/jobs", headers=alice.headers).get_json()["total"] == 0
    no_chunks = client.post(f"/api/projects/{project_id}/dataset/preview", json={}, headers=alice.headers)
    assert no_chunks.status_code == 202  # accepted; the job then fails: nothing to generate from
    assert "no chunks" in (jobs.get_job(client.application.extensions["finetune"].workspace,
                                        no_chunks.get_json()["job_id"]).error_message or "")


def test_ollama_model_runs_the_openai_compatible_generator_with_the_owners_stored_key(
        client: FlaskClient, alice: Account, project_id: str, workspace: Workspace, chat_server: ChatServer) -> None:
    stored = client.post("/api/users/me/api-keys", json={"provider": "openai-compatible", "key": LOCAL_KEY},
                         headers=alice.headers)
    assert stored.status_code == 201, stored.get_json()
    add_notes(client, alice, project_id, count=1)
    chunked(client, alice, project_id, workspace)
    response = client.post(f"/api/projects/{project_id}/dataset/preview", headers=alice.headers,
                           json={"ollama_model": "llama3.1:70b", "base_url": chat_server.url, "num_examples": 3,
                                 "concurrency": 2})
    job = accepted(response, workspace, "dataset_preview")
    assert job["params"]["generator"] == "openai-compatible"
    assert job["params"]["settings"] == {"model": "llama3.1:70b", "base_url": chat_server.url, "concurrency": 2}
    assert LOCAL_KEY not in str(job)  # the key is not a job parameter...
    headers, body = chat_server.requests[0]
    assert headers["authorization"] == f"Bearer {LOCAL_KEY}" and body["model"] == "llama3.1:70b"  # ...yet it is used
    previews = client.get(f"/api/projects/{project_id}/dataset/examples?split=preview",
                          headers=alice.headers).get_json()
    assert previews["total"] == 3 and all(item["generator"] == "openai-compatible" for item in previews["items"])

    auto = client.post(f"/api/projects/{project_id}/dataset/preview", headers=alice.headers,
                       json={"ollama_model": "llama3.1:70b", "base_url": chat_server.url, "num_examples": 3,
                             "concurrency": "auto"})
    assert accepted(auto, workspace, "dataset_preview")["params"]["settings"]["concurrency"] == "auto"
    for wrong in ("fast", 0, 2000):
        refused = client.post(f"/api/projects/{project_id}/dataset/preview", headers=alice.headers,
                              json={"ollama_model": "llama3.1:70b", "base_url": chat_server.url, "concurrency": wrong})
        assert refused.status_code == 422, (wrong, refused.get_json())


# --- datasets --------------------------------------------------------------------------------------------------

def test_a_dataset_from_contents_is_built_by_a_job(client: FlaskClient, alice: Account, project_id: str,
                                                   workspace: Workspace) -> None:
    first, second, _third = add_notes(client, alice, project_id)
    response = client.post("/api/datasets", headers=alice.headers,
                           json={"project_id": project_id, "name": "Bakery QA", "description": "from two notes",
                                 "content_ids": [first, second], "generator": "extractive",
                                 "num_examples_target": 8})
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert (created["id"], created["project_id"], created["name"], created["status"]) == \
        (project_id, project_id, "Bakery QA", "processing")
    job = jobs.get_job(workspace, created["job_id"])
    assert job.type == "dataset_build" and job.status.value == "success", job.error_message
    dataset = client.get(f"/api/datasets/{project_id}", headers=alice.headers).get_json()
    assert dataset["status"] == "ready" and dataset["pairs_count"] == 8 and dataset["origin"] == "generated"
    assert dataset["size"] > 0 and dataset["generator"] == "extractive" and dataset["description"] == "from two notes"
    assert dataset["preview_data"]["headers"] == ["question", "answer"] and len(dataset["preview_data"]["rows"]) == 5
    pairs = client.get(f"/api/datasets/{project_id}/pairs?limit=500", headers=alice.headers).get_json()
    assert {pair["source_id"] for pair in pairs["items"]} <= {first, second}  # only the chosen contents
    again = client.post("/api/datasets", json={"project_id": project_id, "name": "twice"}, headers=alice.headers)
    assert_error(again, 409, "DATASET_EXISTS")
    listed = client.get("/api/datasets", headers=alice.headers).get_json()
    assert [item["id"] for item in listed["items"]] == [project_id] and listed["total"] == 1
    assert client.get(f"/api/datasets?project_id={project_id}", headers=alice.headers).get_json()["total"] == 1


def test_dataset_creation_refusals(client: FlaskClient, alice: Account, project_id: str) -> None:
    other = client.post("/api/projects", json={"name": "other"}, headers=alice.headers).get_json()["id"]
    foreign = add_notes(client, alice, other, count=1)[0]
    wrong = client.post("/api/datasets", json={"project_id": project_id, "name": "x", "content_ids": [foreign]},
                        headers=alice.headers)
    assert_error(wrong, 404)
    assert_error(client.post("/api/datasets", json={"name": "x", "content_ids": [foreign]}, headers=alice.headers),
                 400, "INVALID_INPUT")
    assert_error(client.post("/api/datasets", json={"project_id": "missing", "name": "x"}, headers=alice.headers),
                 404)
    assert set(field_errors(client.post("/api/datasets", json={}, headers=alice.headers))) == {"name"}
    assert_error(client.get(f"/api/datasets/{project_id}", headers=alice.headers), 404)  # no dataset yet
    assert client.get("/api/datasets", headers=alice.headers).get_json()["total"] == 0


def test_a_standalone_dataset_lives_and_dies_with_its_own_project(client: FlaskClient, alice: Account) -> None:
    created = client.post("/api/datasets", json={"name": "Hand-written", "model": "gpt-4o-mini"},
                          headers=alice.headers).get_json()
    assert created["status"] == "empty" and created["pairs_count"] == 0 and created["job_id"] is None
    assert created["model"] == "gpt-4o-mini"
    changed = client.put(f"/api/datasets/{created['id']}", json={"name": "Renamed", "description": "by hand"},
                         headers=alice.headers).get_json()
    assert (changed["name"], changed["description"], changed["model"]) == ("Renamed", "by hand", "gpt-4o-mini")
    assert set(field_errors(client.put(f"/api/datasets/{created['id']}", json={"name": ""},
                                       headers=alice.headers))) == {"name"}
    assert client.delete(f"/api/datasets/{created['id']}", headers=alice.headers).status_code == 204
    assert_error(client.get(f"/api/datasets/{created['id']}", headers=alice.headers), 404)
    assert_error(client.get(f"/api/projects/{created['id']}", headers=alice.headers), 404)


def test_deleting_a_projects_dataset_keeps_the_project(client: FlaskClient, alice: Account, dataset_id: str) -> None:
    assert client.delete(f"/api/datasets/{dataset_id}", headers=alice.headers).status_code == 204
    assert_error(client.get(f"/api/datasets/{dataset_id}", headers=alice.headers), 404)
    project = client.get(f"/api/projects/{dataset_id}", headers=alice.headers).get_json()
    assert project["stats"]["example_count"] == 0 and project["stats"]["file_count"] == 3
    assert_error(client.delete(f"/api/datasets/{dataset_id}", headers=alice.headers), 404)


@pytest.mark.parametrize(("filename", "data"), [
    ("faq.csv", QA_CSV.encode()),
    ("faq.jsonl", b'{"instruction": "Name a flour.", "output": "Rye flour is a good choice for starters."}\n'
                  b'{"instruction": "Name a grain.", "output": "Spelt is an ancient wheat grain for bread."}\n'),
])
def test_an_uploaded_dataset_file_becomes_a_dataset(client: FlaskClient, alice: Account, filename: str,
                                                    data: bytes) -> None:
    response = upload_one(client, alice, "/api/datasets/upload", data, filename)
    assert response.status_code == 201, response.get_json()
    dataset = response.get_json()
    rows = len(data.decode().strip().splitlines()) - (1 if filename.endswith(".csv") else 0)
    assert (dataset["row_count"], dataset["column_count"], dataset["status"], dataset["origin"]) == \
        (rows, 2, "ready", "upload")
    assert dataset["file_name"] == filename and dataset["file_size"] == len(data) and dataset["uploaded_at"]
    assert len(dataset["preview_data"]["headers"]) == 2 and len(dataset["preview_data"]["rows"]) == rows
    assert dataset["pairs_count"] == rows and dataset["name"] == filename
    assert client.delete(f"/api/datasets/{dataset['id']}", headers=alice.headers).status_code == 204
    assert client.get("/api/projects", headers=alice.headers).get_json()["total"] == 0


def test_dataset_upload_refusals_leave_nothing_behind(client: FlaskClient, alice: Account) -> None:
    empty = assert_error(upload_one(client, alice, "/api/datasets/upload", b"", "empty.csv"), 400)
    assert "empty" in empty["detail"]
    assert_error(upload_one(client, alice, "/api/datasets/upload", ELF, "rows.csv"), 415, "UNSUPPORTED_FILE_TYPE")
    assert set(field_errors(client.post("/api/datasets/upload", headers=alice.headers, data={},
                                        content_type="multipart/form-data"))) == {"file"}
    assert client.get("/api/projects", headers=alice.headers).get_json()["total"] == 0


def test_a_table_of_other_columns_is_a_dataset_to_query_with_no_pairs(client: FlaskClient, alice: Account) -> None:
    """dualqueryintelligence uploads tables to ask questions about (a chat's `dataset_id`), not only examples."""
    table = upload_one(client, alice, "/api/datasets/upload", b"date,product,sales\n2025-01-01,A,1000\n", "s.csv")
    assert table.status_code == 201, table.get_json()
    body = table.get_json()
    assert (body["pairs_count"], body["row_count"], body["column_count"]) == (0, 1, 3)
    assert body["preview_data"] == {"headers": ["date", "product", "sales"], "rows": [["2025-01-01", "A", "1000"]]}


# --- pairs -----------------------------------------------------------------------------------------------------

def test_pairs_are_added_listed_in_bulk_and_deleted(client: FlaskClient, alice: Account) -> None:
    dataset = client.post("/api/datasets", json={"name": "manual"}, headers=alice.headers).get_json()
    pairs_url = f"/api/datasets/{dataset['id']}/pairs"
    added = client.post(pairs_url, headers=alice.headers,
                        json={"question": "Qu'est-ce que le fine-tuning ?", "metadata": {"source": "manual"},
                              "answer": "Adapter un modèle pré-entraîné à une tâche précise avec des exemples."})
    assert added.status_code == 201, added.get_json()
    pair = added.get_json()
    assert pair["dataset_id"] == dataset["id"] and pair["metadata"] == {"source": "manual"}
    assert pair["generator"] == "manual" and pair["is_valid"] and pair["split"] in ("train", "eval")
    bulk = client.post(f"{pairs_url}/bulk", headers=alice.headers, json={"pairs": [
        {"question": f"Question {index}?", "answer": f"A long enough answer number {index} about bread."}
        for index in range(4)] + [{"question": "Too short?", "answer": "No."}]})
    assert bulk.status_code == 201, bulk.get_json()
    after = bulk.get_json()
    assert after["pairs_count"] == 6 and after["valid_pairs_count"] == 5 and len(after["pairs"]) == 5
    assert after["pairs"][-1]["validation_errors"] == ["output_too_short"]
    listed = client.get(pairs_url, headers=alice.headers).get_json()
    assert set(listed) == {"items", "total", "limit", "offset", "dataset"} and listed["total"] == 6
    assert listed["dataset"]["id"] == dataset["id"] and listed["items"][0]["question"].startswith("Qu'est-ce")
    invalid = client.get(f"{pairs_url}?is_valid=false", headers=alice.headers).get_json()
    assert [item["answer"] for item in invalid["items"]] == ["No."]
    assert client.delete(f"{pairs_url}/{pair['id']}", headers=alice.headers).status_code == 204
    assert_error(client.delete(f"{pairs_url}/{pair['id']}", headers=alice.headers), 404)
    assert set(field_errors(client.post(pairs_url, json={"question": "", "answer": "x"}, headers=alice.headers))) \
        == {"question"}
    assert set(field_errors(client.post(f"{pairs_url}/bulk", json={"pairs": []}, headers=alice.headers))) \
        == {"pairs"}


def test_pairs_need_a_dataset(client: FlaskClient, alice: Account, project_id: str) -> None:
    body = {"question": "Any dataset here?", "answer": "Not until one is created or generated."}
    assert_error(client.post(f"/api/datasets/{project_id}/pairs", json=body, headers=alice.headers), 404)
    assert_error(client.get(f"/api/datasets/{project_id}/pairs", headers=alice.headers), 404)


# --- export ----------------------------------------------------------------------------------------------------

def test_the_export_streams_valid_lines_in_the_chosen_format(client: FlaskClient, alice: Account,
                                                              dataset_id: str) -> None:
    valid = client.get(f"/api/datasets/{dataset_id}", headers=alice.headers).get_json()["valid_pairs_count"]
    response = client.get(f"/api/datasets/{dataset_id}/export", headers=alice.headers, buffered=False)
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "application/jsonl" and response.headers["X-Export-Format"] == "openai"
    assert 'filename="bakery-openai.jsonl"' in response.headers["Content-Disposition"]
    lines = jsonl_lines(b"".join(response.response))
    response.close()
    assert len(lines) == valid and all(set(line) == {"messages"} for line in lines)
    assert all([turn["role"] for turn in line["messages"]][-2:] == ["user", "assistant"] for line in lines)
    anthropic = jsonl_lines(client.get(f"/api/datasets/{dataset_id}/export?format=jsonl&provider=anthropic",
                                       headers=alice.headers).data)
    assert all("messages" in line and all(turn["role"] != "system" for turn in line["messages"])
               for line in anthropic)
    alpaca = jsonl_lines(client.get(f"/api/datasets/{dataset_id}/export?format=alpaca&split=train",
                                    headers=alice.headers).data)
    assert alpaca and all(set(line) == {"instruction", "input", "output", "source"} for line in alpaca)
    train = client.get(f"/api/datasets/{dataset_id}/pairs?split=train", headers=alice.headers).get_json()
    assert len(alpaca) == train["total"]
    unknown = assert_error(client.get(f"/api/datasets/{dataset_id}/export?format=parquet", headers=alice.headers),
                           400, "UNKNOWN_PLUGIN")
    assert "sharegpt" in unknown["context"]["formats"]
    assert_error(client.get(f"/api/datasets/{dataset_id}/export?provider=cohere", headers=alice.headers), 400)
    assert set(field_errors(client.get(f"/api/datasets/{dataset_id}/export?split=preview",
                                       headers=alice.headers))) == {"split"}
    assert_error(client.get("/api/datasets/missing/export", headers=alice.headers), 404)


def test_the_export_reads_the_database_as_lines_go_out(client: FlaskClient, alice: Account, dataset_id: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_core.storage.repositories import ExampleRepository

    read: list[str] = []
    iterate = ExampleRepository.iterate

    def tracked(self: ExampleRepository, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for example in iterate(self, *args, **kwargs):
            read.append(example.id)
            yield example

    monkeypatch.setattr(ExampleRepository, "iterate", tracked)
    response = client.get(f"/api/datasets/{dataset_id}/export?format=sharegpt", headers=alice.headers,
                          buffered=False)
    assert response.is_streamed and len(read) <= 1  # the test server pulls the first line to start the response
    lines = iter(response.response)
    assert "conversations" in jsonl_lines(next(lines))[0] and len(read) <= 2
    rest = list(lines)
    response.close()
    assert len(read) == len(rest) + 1 > 2  # one example read a line written
