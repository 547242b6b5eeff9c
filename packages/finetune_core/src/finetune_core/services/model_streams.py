"""A chat model asked on a thread of its own: the answer whole (`complete_on_thread`) or piece by piece
(`stream_on_thread`), so the caller (a request, under gevent a greenlet) only polls and never holds the CPU.

    stream = stream_on_thread(model, messages, executor=pool)   # returns once the first piece (or the end) came
    if stream.error and not stream.pieces: raise ...             # failed before writing anything
    for piece in stream.follow(): ...

`executor` is a pool of native threads (under gevent, `finetune_web.green.native_thread_pool`); None starts a
thread. A model that computes in this process (`computes_here`: the embedded one) answers on that thread itself
(`answer_here`), handing each piece over as it comes; any other streams through an event loop of the thread's own.
The model is closed (`aclose`) when it is done. A reader that stops following changes nothing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from finetune_core.chat.base import ChatModel, ChatReply
    from finetune_core.domain import Message

T = TypeVar("T")
POLL_S = 0.02  # how often a reader looks for news (a list read): half of it is added to each piece, on average
FIRST_POLL_S = 0.002  # how often a request looks for its first piece: the wait a client measures (a fraction of a s)


@dataclass
class PieceStream:
    """Pieces that grow until `finished`; `error` when the model failed; `reply` once `complete` answered."""

    pieces: list[str] = field(default_factory=list)
    finished: bool = False
    error: BaseException | None = None
    reply: ChatReply | None = None

    def follow(self) -> Iterator[str]:
        """The pieces as they come, until the model is done."""
        seen = 0
        while True:
            finished = self.finished  # read before the pieces: none written before it was set is missed
            while seen < len(self.pieces):
                seen += 1
                yield self.pieces[seen - 1]
            if finished:
                return
            time.sleep(POLL_S)


def start_thread(run: Callable[[], None], executor: Executor | None) -> None:
    """Run `run` on one of `executor`'s threads, else on a new daemon thread."""
    if executor is not None:
        executor.submit(run)
    else:
        threading.Thread(target=run, name="chat-model", daemon=True).start()


def wait_until(done: Callable[[], bool], poll_s: float = POLL_S) -> None:
    """Poll (cheaply, cooperatively under gevent) every `poll_s` until `done()`."""
    while not done():
        time.sleep(poll_s)


def write_answer(model: ChatModel, messages: list[Message], on_text: Callable[[str], None]) -> None:
    """The answer's pieces handed to `on_text` as the model writes them, on this thread (which it may hold)."""
    if model.computes_here:
        try:
            model.answer_here(messages, lambda piece: on_text(piece) if piece else None)
        finally:
            asyncio.run(model.aclose())
        return

    async def write() -> None:
        try:
            async for piece in model.stream(messages):
                if piece:
                    on_text(piece)
        finally:
            await model.aclose()

    asyncio.run(write())


def stream_on_thread(model: ChatModel, messages: list[Message], *, executor: Executor | None = None) -> PieceStream:
    """Start streaming the answer and return once its first piece came, or the model finished or failed."""
    stream = PieceStream()

    def produce() -> None:
        try:
            write_answer(model, messages, stream.pieces.append)
        except Exception as exc:  # kept for the reader: a provider's refusal, a server that is down...
            stream.error = exc
        finally:
            stream.finished = True

    start_thread(produce, executor)
    wait_until(lambda: bool(stream.pieces) or stream.finished, FIRST_POLL_S)
    return stream


def call_on_thread(call: Callable[[], T], executor: Executor | None = None) -> T:
    """`call()` on another thread (a model answering inside it holds the CPU), waited for cooperatively; raises what
    it raised."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the caller, whatever it is
            outcome["error"] = exc

    start_thread(run, executor)
    wait_until(lambda: bool(outcome))
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value


def complete_on_thread(model: ChatModel, messages: list[Message], *, executor: Executor | None = None) -> ChatReply:
    """The whole answer, asked on another thread; raises what the model raised."""
    stream = PieceStream()

    async def ask() -> ChatReply:
        try:
            if model.computes_here:
                return model.answer_here(messages)  # holds this thread, whose loop has nothing else to do
            return await model.complete(messages)
        finally:
            await model.aclose()

    def produce() -> None:
        try:
            stream.reply = asyncio.run(ask())
        except Exception as exc:
            stream.error = exc
        finally:
            stream.finished = True

    start_thread(produce, executor)
    wait_until(lambda: stream.finished)
    if stream.error is not None:
        raise stream.error
    assert stream.reply is not None
    return stream.reply
