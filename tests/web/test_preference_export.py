"""The preference exports over REST: `GET /api/datasets/{id}/export?format=dpo` (and `openai-preference`).

A project without a ranked pair gets the one error body, 409 NO_PREFERENCE_PAIRS (the request is fine, the data
is not there yet), not a 500 in the middle of a
stream: the export makes its first line before the response starts. Once the pairs are ranked (offline, by the
grounding score) the same request streams them. Starting a DPO fine-tuning before that is refused the same way.
"""

from __future__ import annotations

from typing import Any

import pytest
from finetune_core.workspace import Workspace
from flask.testing import FlaskClient
from kits.preference import SHORT_HANDBOOK as HANDBOOK
from kits.web_api import Account, assert_error
from kits.web_uploads import jsonl_lines, upload_files


def _accepted(response: Any) -> None:
    assert response.status_code == 202, response.get_json()


@pytest.fixture
def unranked(client: FlaskClient, alice: Account) -> str:
    """Alice's `preference` project with generated (not yet ranked) pairs."""
    project = client.post("/api/projects", json={"name": "leave pairs", "task_type": "preference"},
                          headers=alice.headers).get_json()
    assert upload_files(client, alice, project["id"], (HANDBOOK.encode(), "handbook.md")).status_code == 201
    _accepted(client.post(f"/api/projects/{project['id']}/chunks/generate", json={}, headers=alice.headers))
    _accepted(client.post(f"/api/projects/{project['id']}/dataset/generate", headers=alice.headers,
                          json={"generator": "extractive", "num_examples_target": 8}))
    return str(project["id"])


def test_a_preference_export_without_ranked_pairs_is_a_409_error_body(client: FlaskClient, alice: Account,
                                                                       unranked: str) -> None:
    for format in ("dpo", "openai-preference"):
        response = client.get(f"/api/datasets/{unranked}/export?format={format}", headers=alice.headers)
        assert response.mimetype == "application/json"
        body = assert_error(response, 409, "NO_PREFERENCE_PAIRS")
        assert body["detail"].startswith(f"no ranked preference pair to export as {format}")
        assert body["context"]["format"] == format and body["context"]["valid"] == 0
    chats = client.get(f"/api/datasets/{unranked}/export?format=openai", headers=alice.headers)
    assert chats.status_code == 200 and chats.data == b""  # nothing valid yet, and no format to refuse it


def test_a_dpo_fine_tuning_without_ranked_pairs_is_refused_at_start(client: FlaskClient, alice: Account,
                                                                    unranked: str) -> None:
    response = client.post(f"/api/projects/{unranked}/train/start", headers=alice.headers,
                           json={"trainer": "openai", "base_model": "gpt-4o-mini-2024-07-18",
                                 "options": {"method": "dpo"}})
    assert "no ranked preference pair" in assert_error(response, 409, "NO_PREFERENCE_PAIRS")["detail"]


def test_ranked_pairs_stream_as_dpo_rows(client: FlaskClient, alice: Account, unranked: str,
                                         workspace: Workspace) -> None:
    workspace.judge(unranked, "grounding")  # the offline ranking
    response = client.get(f"/api/datasets/{unranked}/export?format=dpo&split=train", headers=alice.headers,
                          buffered=False)
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["X-Export-Format"] == "dpo"
    rows = jsonl_lines(b"".join(response.response))
    response.close()
    assert rows and all(set(row) == {"prompt", "chosen", "rejected", "margin"} for row in rows)
    assert all(row["chosen"][0]["role"] == "assistant" and row["margin"] > 0 for row in rows)
