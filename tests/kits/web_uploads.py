"""Helpers for the sources and datasets web tests: multipart uploads, small files, Alice's things.

The document builders are in kits.documents, the real HTTP server on 127.0.0.1 in kits.local_server.
"""

from __future__ import annotations

import io
import json
from typing import Any

from flask.testing import FlaskClient
from kits.documents import elf_binary
from kits.web_api import Account
from werkzeug.test import TestResponse

ELF = elf_binary()
NOTE = ("Sourdough starters need regular feeding with equal weights of flour and water. "
        "A healthy starter doubles in volume within six hours at room temperature.\n\n"
        "Bakers discard part of the starter before each feeding to keep its acidity in balance.\n")
QA_CSV = ("question,answer\n"
          "How often should a starter be fed?,Feed it once or twice a day with equal weights of flour and water.\n"
          "Why discard part of the starter?,Discarding keeps the acidity and the volume of the starter in balance.\n"
          "What flour suits a starter best?,Whole grain rye or wheat flour gives the yeasts the most nutrients.\n")


def part(data: bytes, name: str) -> tuple[io.BytesIO, str]:
    return io.BytesIO(data), name


def upload_files(client: FlaskClient, account: Account, project_id: str, *files: tuple[bytes, str],
                 **fields: str) -> TestResponse:
    """POST /api/projects/{id}/files/upload with the `files` part once a file."""
    return client.post(f"/api/projects/{project_id}/files/upload", headers=account.headers,
                       data={"files": [part(data, name) for data, name in files], **fields},
                       content_type="multipart/form-data")


def upload_one(client: FlaskClient, account: Account, path: str, data: bytes, filename: str, **fields: str
               ) -> TestResponse:
    """A multipart POST with one `file` part and form fields."""
    return client.post(path, headers=account.headers, data={"file": part(data, filename), **fields},
                       content_type="multipart/form-data")


def jsonl_lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode().splitlines()]


def sources_things(client: FlaskClient, alice: Account, project_id: str) -> dict[str, str]:
    """Alice's file (≡ content ≡ document: any stored source), dataset and pair, by the names of their ids in routes."""
    uploaded = upload_files(client, alice, project_id, (NOTE.encode(), "note.txt")).get_json()
    client.post("/api/datasets", json={"project_id": project_id, "name": "alice's pairs"}, headers=alice.headers)
    pair = client.post(f"/api/datasets/{project_id}/pairs", headers=alice.headers,
                       json={"question": "What is alice's starter made of?",
                             "answer": "Equal weights of flour and water, fed every day."}).get_json()
    file_id = uploaded["files"][0]["id"]
    return {"file_id": file_id, "content_id": file_id, "document_id": file_id, "dataset_id": project_id,
            "pair_id": pair["id"], "example_id": pair["id"]}
