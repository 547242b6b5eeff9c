"""Answering in a chat: the model the chat or its agent names, given the agent's prompt, the passages of the
attached documents that bear on the question (cited in the answer's `sources`), and the recent history.

A chat bound to a table (`dataset_id`) answers the questions about it by computing them
(services/table_questions.py: the model writes one read-only SQL query, DuckDB runs it); the answer carries the
figures and a chart, with `query_type` "analytics".

An exchange is stored whole or not at all: the user's message and the answer in one transaction once the answer
is complete. A model that cannot answer raises ModelUnavailableError (503) and nothing is stored. A streamed
answer is produced by a thread of its own, so it is finished and stored once even when the client that follows
it goes away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from finetune_core.domain import Agent, Chat, ChatMessage, Citation, Message
from finetune_core.errors import FinetuneError, InvalidInputError, ModelUnavailableError, NotFoundError
from finetune_core.services import chat_targets, chats, interaction_learning, retrieval, table_questions
from finetune_core.services.model_streams import FIRST_POLL_S, PieceStream, start_thread, wait_until, write_answer
from finetune_core.services.table_questions import TableInfo

if TYPE_CHECKING:
    from finetune_core.chat.base import ChatModel, ChatReply
    from finetune_core.ports import WorkspacePort

HISTORY_MESSAGES = 20
MAX_ANSWER_TOKENS = 512
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly and truthfully."
OnStored = Callable[[list[ChatMessage]], None]


@dataclass
class Exchange:
    """A question about to be answered: everything the model call needs, nothing stored yet."""

    chat: Chat
    agent: Agent | None
    target: chat_targets.ChatTarget
    prompt: list[Message]
    citations: list[Citation]
    question: ChatMessage
    table: TableInfo | None = None  # a question about the chat's table: computed over it (dual query)
    answer_id: str = field(default_factory=lambda: ChatMessage(chat_id="-", role="assistant", content="-").id)

    def answer(self, text: str, reply: ChatReply | None = None, *,
               computed: table_questions.TableAnswer | None = None) -> ChatMessage:
        return ChatMessage(id=self.answer_id, chat_id=self.chat.id, role="assistant", content=text.strip(),
                           model=self.target.label, sources=self.citations, reply_to=self.question.id,
                           query_type="analytics" if computed else "general",
                           charts=computed.charts if computed else [],
                           metadata={"sql": computed.query} if computed else {},
                           input_tokens=reply.input_tokens if reply else None,
                           output_tokens=reply.output_tokens if reply else None)


def prepare(workspace: WorkspacePort, chat_id: str, owner_id: str | None, content: str) -> Exchange:
    """Check the question and gather what the model is given: prompt, retrieved passages, history."""
    chat = chats.owned_chat(workspace, chat_id, owner_id)
    question = ChatMessage(chat_id=chat.id, role="user", content=chats.check_content(content))
    agent = _agent_of(workspace, chat)
    target = chat_targets.resolve(workspace, chat.model_id or (agent.model if agent else None), chat.owner_id)
    entities = [("chat", chat.id)] + ([("agent", agent.id)] if agent else [])
    found = retrieval.passages(workspace, chat.owner_id, content, entities)
    system = (agent.system_prompt if agent and agent.system_prompt else None) or DEFAULT_SYSTEM_PROMPT
    if found:
        quoted = "\n\n".join(f"[{number}] {citation.document_name}"
                             + (f", page {citation.page}" if citation.page else "") + f":\n{chunk.content}"
                             for number, (chunk, citation) in enumerate(found, start=1))
        system += ("\n\nAnswer from these passages of the user's documents when they hold the answer:\n\n"
                   + quoted)
    with workspace.unit_of_work() as uow:
        history = uow.chats.last_messages(chat.id, HISTORY_MESSAGES)
    prompt = [Message(role="system", content=system)]
    prompt += [Message(role=message.role, content=message.content) for message in history
               if message.role in ("user", "assistant")]
    prompt.append(Message(role="user", content=question.content))
    table = None
    if chat.dataset_id:
        described = table_questions.load_table(workspace, chat.dataset_id)
        table = described if table_questions.is_analytics_question(content, described) else None
    return Exchange(chat, agent, target, prompt, [citation for _, citation in found], question, table)


def _agent_of(workspace: WorkspacePort, chat: Chat) -> Agent | None:
    if chat.agent_id is None:
        return None
    with workspace.unit_of_work() as uow:
        try:
            return uow.agents.get(chat.agent_id)
        except NotFoundError:
            return None  # deleted since: the chat goes on with the default model


def _model(workspace: WorkspacePort, exchange: Exchange) -> ChatModel:
    temperature = exchange.agent.temperature if exchange.agent else 0.7
    return chat_targets.build(workspace, exchange.target, exchange.chat.owner_id, temperature=temperature,
                              max_tokens=MAX_ANSWER_TOKENS)


def _computed(workspace: WorkspacePort, exchange: Exchange, model: ChatModel) -> ChatMessage:
    """The answer to a question about the chat's table, from the query the model wrote (dual query)."""
    assert exchange.table is not None
    computed = table_questions.answer_table_question_sync(workspace, model, exchange.table,
                                                          exchange.question.content)
    return exchange.answer(computed.content, computed=computed)


def _unavailable(exchange: Exchange, error: BaseException) -> ModelUnavailableError:
    reason = error.message if isinstance(error, FinetuneError) else f"{type(error).__name__}: {error}"
    return ModelUnavailableError(f"the model {exchange.target.label} could not answer: {reason}",
                                 model=exchange.target.label)


def store(workspace: WorkspacePort, exchange: Exchange, answer: ChatMessage) -> list[ChatMessage]:
    """The question and its answer, in one transaction; the chat is named after its first question."""
    with workspace.unit_of_work() as uow:
        stored = [uow.chats.add_message(exchange.question), uow.chats.add_message(answer)]
        chats.name_after(uow, exchange.chat.id, exchange.question.content)
    interaction_learning.learn(workspace, stored[1], policy="all")
    return stored


def send_message(workspace: WorkspacePort, chat_id: str, owner_id: str | None, content: str
                 ) -> tuple[ChatMessage, ChatMessage]:
    """Ask the chat's model and store the exchange (foyergpt's POST /api/messages): the question and the answer."""
    exchange = prepare(workspace, chat_id, owner_id, content)
    model = _model(workspace, exchange)

    async def ask() -> ChatReply:
        try:
            return await model.complete(exchange.prompt)
        finally:
            await model.aclose()

    try:
        answer = _computed(workspace, exchange, model) if exchange.table else exchange.answer(
            (reply := asyncio.run(ask())).text, reply)
    except InvalidInputError:
        raise  # a table question no query could answer (QUERY_FAILED): the user's to rephrase
    except Exception as exc:  # a provider's refusal, a server that is down, a missing key: nothing is stored
        raise _unavailable(exchange, exc) from exc
    question, answer = store(workspace, exchange, answer)
    return question, answer


@dataclass
class AnswerStream(PieceStream):
    """An answer being written by its own thread; `stored`, the question and the answer once complete."""

    exchange: Exchange | None = None
    stored: list[ChatMessage] = field(default_factory=list)
    failure: FinetuneError | None = None  # `error` as the API tells it: ModelUnavailableError, QUERY_FAILED...

    @property
    def message_id(self) -> str:
        assert self.exchange is not None
        return self.exchange.answer_id


def stream_message(workspace: WorkspacePort, chat_id: str, owner_id: str | None, content: str, *,
                   executor: Executor | None = None, on_stored: OnStored | None = None) -> AnswerStream:
    """Start answering on a thread of its own (`executor`'s, else a new one) and wait for the first piece: a model
    that fails before writing anything raises ModelUnavailableError here. The exchange is stored when the answer
    is complete, whoever still follows it; `on_stored` is then called with the two messages."""
    exchange = prepare(workspace, chat_id, owner_id, content)
    stream = AnswerStream(exchange=exchange)
    model = _model(workspace, exchange)

    def produce() -> None:
        try:
            if exchange.table is not None:  # computed, not written: the figures come whole
                answer = _computed(workspace, exchange, model)
                stream.pieces.append(answer.content)
            else:
                write_answer(model, exchange.prompt, stream.pieces.append)
                answer = exchange.answer("".join(stream.pieces))
            stream.stored = store(workspace, exchange, answer)
        except InvalidInputError as exc:
            stream.error = stream.failure = exc
        except Exception as exc:
            stream.error = stream.failure = _unavailable(exchange, exc)
        finally:
            stream.finished = True
        if stream.stored and on_stored is not None:
            on_stored(stream.stored)

    start_thread(produce, executor)
    wait_until(lambda: bool(stream.pieces) or stream.finished, FIRST_POLL_S)
    if stream.failure is not None and not stream.pieces:
        raise stream.failure
    return stream
