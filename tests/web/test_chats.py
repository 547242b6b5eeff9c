"""Agents, chats and messages over the REST API (foyergpt, dualqueryintelligence, crealia's assistant chat),
answered by the openai-compatible chat model talking to a fake Chat Completions server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from finetune_core.domain import MAX_MESSAGE_CHARS
from flask.testing import FlaskClient
from kits.chat_completions import Action, FakeChatServer, chat_server
from kits.documents import build_pdf, elf_binary
from kits.web_api import Account, assert_error
from kits.web_uploads import upload_one

ANSWER = "Feed it twice a day."
ELF = elf_binary()
PDF_TEXT = "A rye levain is fed twice a day with water at 28 degrees and doubles in four hours."


@pytest.fixture
def model_server() -> Iterator[FakeChatServer]:
    with chat_server(lambda call: Action(text=ANSWER)) as running:
        yield running


@pytest.fixture
def model(model_server: FakeChatServer) -> str:
    return f"openai-compatible:fake-model@{model_server.url}"


def make_agent(client: FlaskClient, account: Account, model: str, **fields: object) -> dict:
    created = client.post("/api/agents", json={"name": "Baker", "system_prompt": "You bake.", "model": model,
                                               **fields}, headers=account.headers)
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def make_chat(client: FlaskClient, account: Account, **fields: object) -> dict:
    created = client.post("/api/chats", json=fields, headers=account.headers)
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def test_agents_public_mine_and_owner_only_changes(client: FlaskClient, alice: Account, bob: Account,
                                                  model: str) -> None:
    private = make_agent(client, alice, model)
    public = make_agent(client, alice, model, name="Shared", is_public=True, temperature=0.3)
    assert public["owner"] == {"id": alice.id, "trigramme": "ALI"} and public["temperature"] == 0.3
    listed = client.get("/api/agents", headers=bob.headers).get_json()
    assert [agent["id"] for agent in listed["agents"]] == [public["id"]] == [a["id"] for a in listed["items"]]
    mine = client.get("/api/agents/my", headers=alice.headers).get_json()
    assert {agent["id"] for agent in mine["agents"]} == {private["id"], public["id"]}

    assert_error(client.get(f"/api/agents/{private['id']}", headers=bob.headers), 404)
    assert client.get(f"/api/agents/{public['id']}", headers=bob.headers).status_code == 200
    assert_error(client.put(f"/api/agents/{public['id']}", json={"name": "Mine"}, headers=bob.headers), 403)
    assert_error(client.delete(f"/api/agents/{public['id']}", headers=bob.headers), 403)
    assert_error(client.delete(f"/api/agents/{private['id']}", headers=bob.headers), 404)

    changed = client.put(f"/api/agents/{public['id']}", json={"temperature": 0.8}, headers=alice.headers)
    assert changed.get_json()["temperature"] == 0.8 and changed.get_json()["name"] == "Shared"
    assert_error(client.post("/api/agents", json={"name": "x", "model": "nobody:serves"}, headers=alice.headers),
                 404, "MODEL_NOT_FOUND")
    assert client.delete(f"/api/agents/{private['id']}", headers=alice.headers).status_code == 204
    assert_error(client.get(f"/api/agents/{private['id']}", headers=alice.headers), 404)


def test_asking_in_a_chat_stores_the_question_and_the_answer(client: FlaskClient, alice: Account, bob: Account,
                                                            model: str, model_server: FakeChatServer) -> None:
    agent = make_agent(client, alice, model)
    chat = make_chat(client, alice, agent_id=agent["id"])
    assert chat["agent"]["name"] == "Baker" and chat["user_id"] == alice.id
    asked = client.post("/api/messages", json={"chat_id": chat["id"], "content": "How often?"}, headers=alice.headers)
    assert asked.status_code == 201, asked.get_json()
    body = asked.get_json()
    assert body["user_message"]["content"] == "How often?" and body["assistant_message"]["content"] == ANSWER
    assert body["assistant_message"]["llm_model"] == "openai-compatible:fake-model"
    assert model_server.calls[-1].body["messages"][0] == {"role": "system", "content": "You bake."}

    detail = client.get(f"/api/chats/{chat['id']}", headers=alice.headers).get_json()
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"] and detail["title"] == "How often?"
    listed = client.get(f"/api/messages/chat/{chat['id']}", headers=alice.headers).get_json()
    assert listed["total"] == 2 and listed["messages"] == listed["items"]
    one = client.get(f"/api/messages/{body['assistant_message']['id']}", headers=alice.headers)
    assert one.get_json()["content"] == ANSWER

    for path in (f"/api/chats/{chat['id']}", f"/api/messages/chat/{chat['id']}",
                 f"/api/messages/{body['user_message']['id']}"):
        assert_error(client.get(path, headers=bob.headers), 404)
    assert_error(client.post("/api/messages", json={"chat_id": chat["id"], "content": "mine?"},
                             headers=bob.headers), 404)
    assert_error(client.post("/api/messages", json={"chat_id": chat["id"], "content": "x" * (MAX_MESSAGE_CHARS + 1)},
                             headers=alice.headers), 422)


def test_dualqueryintelligence_stores_a_message_as_given(client: FlaskClient, alice: Account,
                                                        model_server: FakeChatServer) -> None:
    chat = make_chat(client, alice, title="Sales")
    stored = client.post("/api/messages", json={"chat_id": chat["id"], "role": "user", "content": "Q3 average?",
                                                "query_type": "analytics", "charts": None}, headers=alice.headers)
    assert stored.status_code == 201
    body = stored.get_json()
    assert body["role"] == "user" and body["query_type"] == "analytics" and body["timestamp"]
    assert model_server.calls == []  # stored, not answered
    assert client.get(f"/api/chats/{chat['id']}", headers=alice.headers).get_json()["last_updated"]


def test_a_model_that_cannot_answer_is_503_and_nothing_is_stored(client: FlaskClient, alice: Account) -> None:
    with chat_server(lambda call: Action(status=500, body={"error": {"message": "overloaded"}})) as failing:
        chat = make_chat(client, alice, model_id=f"openai-compatible:m@{failing.url}")
        refused = client.post("/api/messages", json={"chat_id": chat["id"], "content": "Hi"}, headers=alice.headers)
        assert_error(refused, 503, "MODEL_UNAVAILABLE")
        streamed = client.get(f"/api/messages/stream/{chat['id']}?message=Hi", headers=alice.headers)
        assert_error(streamed, 503, "MODEL_UNAVAILABLE")
    assert client.get(f"/api/messages/chat/{chat['id']}", headers=alice.headers).get_json()["total"] == 0


def test_the_stream_sends_tokens_then_done_and_stores_the_answer(client: FlaskClient, alice: Account,
                                                               model: str) -> None:
    chat = make_chat(client, alice, model_id=model)
    response = client.get(f"/api/messages/stream/{chat['id']}?message=Feed%3F", headers=alice.headers)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    lines = [line[len("data: "):] for line in response.get_data(as_text=True).split("\n\n") if line]
    assert lines[-1] == "[DONE]"
    tokens = [json.loads(line) for line in lines[:-1]]
    assert "".join(token["token"] for token in tokens) == ANSWER and len(tokens) > 1
    stored = client.get(f"/api/messages/chat/{chat['id']}", headers=alice.headers).get_json()["items"]
    assert [m["content"] for m in stored] == ["Feed?", ANSWER] and stored[1]["id"] == tokens[0]["message_id"]


def test_feedback_rates_an_answer(client: FlaskClient, alice: Account, bob: Account, model: str) -> None:
    chat = make_chat(client, alice, model_id=model)
    answer = client.post("/api/messages", json={"chat_id": chat["id"], "content": "Hi"},
                         headers=alice.headers).get_json()["assistant_message"]
    rated = client.post(f"/api/messages/{answer['id']}/feedback", json={"rating": 5}, headers=alice.headers)
    assert rated.status_code == 200 and rated.get_json()["rating"] == 5
    assert_error(client.post(f"/api/messages/{answer['id']}/feedback", json={"rating": 6}, headers=alice.headers), 422)
    assert_error(client.post(f"/api/messages/{answer['id']}/feedback", json={"rating": 5}, headers=bob.headers), 404)


def test_crealias_assistant_chat(client: FlaskClient, alice: Account, bob: Account, model_server: FakeChatServer,
                                 model: str) -> None:
    created = client.post("/api/chat/create-session", json={}, headers=alice.headers)
    assert created.status_code == 201
    session = created.get_json()["session_id"]
    agent_id = created.get_json()["chat"]["agent_id"]
    # the default assistant answers with the default model; point it at the fake server for this test
    client.put(f"/api/agents/{agent_id}", json={"model": model}, headers=alice.headers)
    reply = client.post("/api/chat/message", json={"session_id": session, "message": "Help?"}, headers=alice.headers)
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["content"] == ANSWER
    history = client.get(f"/api/chat/history?session_id={session}", headers=alice.headers).get_json()
    assert [m["role"] for m in history["messages"]] == ["assistant", "user", "assistant"]
    sessions = client.get("/api/chat/sessions", headers=alice.headers).get_json()["sessions"]
    assert [(s["id"], s["message_count"]) for s in sessions] == [(session, 3)]
    assert client.get("/api/chat/sessions", headers=bob.headers).get_json()["sessions"] == []
    assert_error(client.get(f"/api/chat/history?session_id={session}", headers=bob.headers), 404)


def test_chat_patch_put_and_delete(client: FlaskClient, alice: Account, bob: Account) -> None:
    chat = make_chat(client, alice, title="Old")
    assert client.patch(f"/api/chats/{chat['id']}", json={"title": "New"}, headers=alice.headers).get_json()[
        "title"] == "New"
    assert client.put(f"/api/chats/{chat['id']}", json={"title": "Newer"}, headers=alice.headers).get_json()[
        "title"] == "Newer"
    assert_error(client.patch(f"/api/chats/{chat['id']}", json={"title": "Bob's"}, headers=bob.headers), 404)
    assert_error(client.post("/api/chats", json={"agent_id": "missing"}, headers=alice.headers), 404)
    assert client.delete(f"/api/chats/{chat['id']}", headers=alice.headers).status_code == 204
    assert_error(client.get(f"/api/chats/{chat['id']}", headers=alice.headers), 404)


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"  # a 1x1 pixel
                    "1f15c4890000000d49444154789c63f8cfc0f01f00050001ff89993d1d0000000049454e44ae426082")


def test_documents_attach_to_the_callers_chats_and_agents(client: FlaskClient, alice: Account, bob: Account,
                                                          model: str) -> None:
    chat = make_chat(client, alice)
    public = make_agent(client, bob, model, is_public=True)
    uploaded = upload_one(client, alice, "/api/documents/upload", build_pdf([PDF_TEXT]), "guide.pdf",
                          entity_type="chat", entity_id=chat["id"])
    assert uploaded.status_code == 201, uploaded.get_json()
    document = uploaded.get_json()
    assert document["entity_id"] == chat["id"] and document["chunk_count"] >= 1  # jobs run inline here
    image = upload_one(client, alice, "/api/documents/upload", PNG, "photo.png", entity_type="chat",
                       entity_id=chat["id"])
    assert image.status_code == 201 and image.get_json()["mime_type"] == "image/png"
    downloaded = client.get(f"/api/documents/{image.get_json()['id']}", headers=alice.headers)
    assert downloaded.data == PNG and "attachment" in downloaded.headers["Content-Disposition"]
    assert downloaded.headers["X-Content-Type-Options"] == "nosniff"
    assert_error(upload_one(client, alice, "/api/documents/upload", ELF, "x.pdf", entity_type="chat",
                            entity_id=chat["id"]), 415, "UNSUPPORTED_FILE_TYPE")
    assert_error(upload_one(client, bob, "/api/documents/upload", PNG, "p.png", entity_type="chat",
                            entity_id=chat["id"]), 404, "ENTITY_NOT_FOUND")
    assert_error(upload_one(client, alice, "/api/documents/upload", PNG, "p.png", entity_type="agent",
                            entity_id=public["id"]), 403)
    assert client.delete(f"/api/chats/{chat['id']}", headers=alice.headers).status_code == 204
    assert_error(client.get(f"/api/documents/{document['id']}", headers=alice.headers), 404)  # went with the chat
