"""Agents, chats and answers through the services, answered by the real openai-compatible chat model talking to
a fake Chat Completions server on 127.0.0.1: prompts, retrieval and citations, streaming, failures, learning."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from finetune_core import Workspace
from finetune_core.errors import (
    ConflictError,
    ModelUnavailableError,
    NotFoundError,
    PermissionDeniedError,
)
from finetune_core.services import agents, answering, chats, datasets, documents, interaction_learning
from finetune_core.services import jobs as jobs_service
from finetune_core.services import projects as project_service
from kits.chat_completions import Action, Call, FakeChatServer, chat_server
from kits.live_server import wait_until

ALICE, BOB = "user-alice", "user-bob"
ANSWER = "The starter is fed twice a day with rye flour."
DOCUMENT = (b"# Levain care\n\nThe levain of the Moulin bakery is fed at 6 and 18 o'clock with whole rye flour "
            b"and water at 28 degrees. It doubles in four hours.\n\n# Shaping\n\nLoaves are shaped cold.\n")


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with chat_server(lambda call: Action(text=ANSWER)) as running:
        yield running


def model_of(server: FakeChatServer) -> str:
    return f"openai-compatible:fake-model@{server.url}"


def wait_until_indexed(ws: Workspace) -> None:
    for job in jobs_service.list_jobs(ws, type="document_index", limit=None)[0]:
        assert jobs_service.wait_for(ws, job.id).status.value == "success"


def test_an_answer_uses_the_agents_prompt_and_history_and_is_stored_with_its_question(
        finetune_workspace: Workspace, server: FakeChatServer) -> None:
    ws = finetune_workspace
    agent = agents.create_agent(ws, ALICE, name="Baker", system_prompt="You are a baker.", model=model_of(server),
                                temperature=0.1)
    chat = chats.create_chat(ws, ALICE, agent_id=agent.id)
    first, answer = answering.send_message(ws, chat.id, ALICE, "How often is the starter fed?")
    assert (first.role, answer.role, answer.content, answer.reply_to) == ("user", "assistant", ANSWER, first.id)
    answering.send_message(ws, chat.id, ALICE, "And with which flour?")
    sent = server.calls[-1].body
    assert sent["model"] == "fake-model" and sent["temperature"] == 0.1
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["messages"][0]["content"] == "You are a baker."
    stored, total = chats.chat_messages(ws, chat.id, ALICE)
    assert total == 4 and [m.content for m in stored][:2] == ["How often is the starter fed?", ANSWER]
    assert chats.owned_chat(ws, chat.id, ALICE).title == "How often is the starter fed?"


def test_an_answer_draws_on_the_attached_documents_and_cites_them(
        finetune_workspace: Workspace, server: FakeChatServer) -> None:
    ws = finetune_workspace
    agent = agents.create_agent(ws, ALICE, name="Baker", model=model_of(server))
    document = documents.add_document(ws, ALICE, "levain.md", DOCUMENT, entity_type="agent", entity_id=agent.id)
    wait_until_indexed(ws)
    chat = chats.create_chat(ws, ALICE, agent_id=agent.id)
    _, answer = answering.send_message(ws, chat.id, ALICE, "At what temperature is the levain water?")
    assert answer.sources and answer.sources[0].document_id == document.id
    assert "28 degrees" in answer.sources[0].excerpt
    assert "28 degrees" in server.calls[-1].body["messages"][0]["content"]
    _, unrelated = answering.send_message(ws, chat.id, ALICE, "zzz qqq")
    assert unrelated.sources == []


def test_a_model_that_cannot_answer_is_a_503_and_stores_nothing(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    with chat_server(lambda call: Action(status=401, body={"error": {"message": "bad key"}})) as refusing:
        chat = chats.create_chat(ws, ALICE, model_id=model_of(refusing))
        with pytest.raises(ModelUnavailableError, match="could not answer"):
            answering.send_message(ws, chat.id, ALICE, "Hello?")
    assert chats.chat_messages(ws, chat.id, ALICE)[1] == 0


def test_a_streamed_answer_is_stored_once_even_when_its_reader_leaves(
        finetune_workspace: Workspace, server: FakeChatServer) -> None:
    ws = finetune_workspace
    chat = chats.create_chat(ws, ALICE, model_id=model_of(server))
    stored: list[list[str]] = []
    stream = answering.stream_message(ws, chat.id, ALICE, "Feed?", on_stored=lambda ms: stored.append(
        [m.id for m in ms]))
    assert "".join(stream.follow()) == ANSWER
    assert chats.chat_messages(ws, chat.id, ALICE)[0][1].id == stream.message_id

    left = answering.stream_message(ws, chat.id, ALICE, "Again?")
    next(left.follow())  # the reader takes one piece and goes
    wait_until(lambda: left.finished, "the answer to be finished by its own thread")
    messages, total = chats.chat_messages(ws, chat.id, ALICE)
    assert total == 4 and messages[-1].content == ANSWER and messages[-1].id == left.message_id
    assert len(stored) == 1


def test_chats_and_agents_belong_to_their_owner(finetune_workspace: Workspace, server: FakeChatServer) -> None:
    ws = finetune_workspace
    private = agents.create_agent(ws, ALICE, name="Mine", model=model_of(server))
    public = agents.create_agent(ws, ALICE, name="Ours", model=model_of(server), is_public=True)
    chat = chats.create_chat(ws, ALICE, agent_id=private.id)
    with pytest.raises(NotFoundError):
        chats.owned_chat(ws, chat.id, BOB)
    with pytest.raises(NotFoundError):
        agents.readable_agent(ws, private.id, BOB)
    assert agents.readable_agent(ws, public.id, BOB).id == public.id
    with pytest.raises(PermissionDeniedError):
        agents.update_agent(ws, public.id, BOB, name="Taken")
    with pytest.raises(NotFoundError):
        chats.create_chat(ws, BOB, agent_id=private.id)
    with pytest.raises(NotFoundError, match="no chat model 'nope'"):
        agents.create_agent(ws, ALICE, name="Bad", model="nope")
    assert [agent.id for agent in agents.public_agents(ws)[0]] == [public.id]


def test_fifty_agents_a_user(finetune_workspace: Workspace, server: FakeChatServer) -> None:
    ws = finetune_workspace
    for number in range(agents.MAX_AGENTS):
        agents.create_agent(ws, ALICE, name=f"agent {number}", model=model_of(server))
    with pytest.raises(ConflictError) as refused:
        agents.create_agent(ws, ALICE, name="one more", model=model_of(server))
    assert refused.value.error_code == "AGENT_LIMIT_REACHED"
    agents.create_agent(ws, BOB, name="Bob's first", model=model_of(server))


def test_a_chat_outlives_its_agent(finetune_workspace: Workspace, server: FakeChatServer) -> None:
    ws = finetune_workspace
    agent = agents.create_agent(ws, ALICE, name="Brief", model=model_of(server))
    chat = chats.create_chat(ws, ALICE, agent_id=agent.id, model_id=model_of(server))
    answering.send_message(ws, chat.id, ALICE, "Hi")
    agents.delete_agent(ws, agent.id, ALICE)
    assert chats.chat_messages(ws, chat.id, ALICE)[1] == 2
    answering.send_message(ws, chat.id, ALICE, "Still there?")
    assert chats.chat_messages(ws, chat.id, ALICE)[1] == 4


def test_well_rated_exchanges_of_a_learning_agent_become_examples_to_review(
        finetune_workspace: Workspace, server: FakeChatServer) -> None:
    ws = finetune_workspace
    agent = agents.create_agent(ws, ALICE, name="Learner", model=model_of(server), learn_from_interaction=True,
                                is_public=True)
    chat = chats.create_chat(ws, ALICE, agent_id=agent.id)
    _, poor = answering.send_message(ws, chat.id, ALICE, "How often is the starter fed?")
    _, good = answering.send_message(ws, chat.id, ALICE, "Which flour feeds it?")
    interaction_learning.rate_answer(ws, poor.id, ALICE, 2)
    interaction_learning.rate_answer(ws, good.id, ALICE, 5)
    interaction_learning.rate_answer(ws, good.id, ALICE, 4)  # rated again: learned once
    owned = project_service.list_projects(ws, owner_id=ALICE, limit=1000)[0]
    projects = [p for p in owned if (p.config.model_extra or {}).get("agent_id") == agent.id]
    assert len(projects) == 1
    examples = ws.examples(projects[0].id)
    assert len(examples) == 1 and examples[0].messages[-1].content == ANSWER
    assert examples[0].metadata["review"] == "pending" and examples[0].metadata["chat_id"] == chat.id
    assert examples[0].is_valid and examples[0].split in ("train", "eval")

    bobs = chats.create_chat(ws, BOB, agent_id=agent.id)  # another user's chat with the public agent
    _, theirs = answering.send_message(ws, bobs.id, BOB, "Which flour feeds it?")
    interaction_learning.rate_answer(ws, theirs.id, BOB, 5)
    assert len(ws.examples(projects[0].id)) == 1
    with pytest.raises(NotFoundError):
        interaction_learning.rate_answer(ws, theirs.id, ALICE, 5)


SALES = b"region,amount\nnorth,10\nsouth,20.5\nnorth,5\n"
TOTALS_SQL = "SELECT region, sum(amount) AS total FROM t GROUP BY region ORDER BY total DESC"


def test_a_question_about_the_chats_table_is_computed_and_a_general_one_is_answered(
        finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    query = json.dumps({"sql": TOTALS_SQL, "chart": {"type": "bar", "x": "region", "y": "total"}})

    def decide(call: Call) -> Action:
        system = call.body["messages"][0]["content"]
        return Action(text=query if "SQL" in system else ANSWER)

    with chat_server(decide) as server:
        table = datasets.upload_dataset(ws, ALICE, "sales.csv", SALES)
        chat = chats.create_chat(ws, ALICE, dataset_id=table.id, model_id=model_of(server))
        _, computed = answering.send_message(ws, chat.id, ALICE, "What is the total amount per region?")
        assert computed.query_type == "analytics" and "south" in computed.content and "20.5" in computed.content
        assert computed.charts[0]["data"] == [{"region": "south", "total": 20.5}, {"region": "north", "total": 15.0}]
        _, general = answering.send_message(ws, chat.id, ALICE, "Hello, who are you?")
        assert general.query_type == "general" and general.content == ANSWER
        streamed = answering.stream_message(ws, chat.id, ALICE, "How many rows per region?")
        assert "south" in "".join(streamed.follow()) and streamed.stored[1].query_type == "analytics"
    with pytest.raises(NotFoundError):
        chats.create_chat(ws, BOB, dataset_id=table.id)
