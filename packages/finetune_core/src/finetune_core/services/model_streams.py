"""A chat model asked on a thread of its own: the answer whole (`complete_on_thread`) or piece by piece
(`stream_on_thread`), so the caller (a request, under gevent a greenlet) only polls and never holds the CPU.

    stream = stream_on_thread(model, messages, executor=pool)   # returns once the first piece (or the end) came
    if stream.error and not stream.pieces: raise ...             # failed before writing anything
    for piece in stream.follow(): ...

`executor` is a pool of native threads (under gevent, `finetune_web.green.native_thread_pool`); None starts a
thread. The model is closed (`aclose`) when it is done. A reader that stops following changes nothing.
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
POLL_S = 0.05  # how often a reader looks for news (a list read)


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


def wait_until(done: Callable[[], bool]) -> None:
    """Poll (cheaply, cooperatively under gevent) until `done()`."""
    while not done():
        time.sleep(POLL_S)


def stream_on_thread(model: ChatModel, messages: list[Message], *, executor: Executor | None = None) -> PieceStream:
    """Start streaming the answer and return once its first piece came, or the model finished or failed."""
    stream = PieceStream()

    async def write() -> None:
        try:
            async for piece in model.stream(messages):
                if piece:
                    stream.pieces.append(piece)
        finally:
            await model.aclose()

    def produce() -> None:
        try:
            asyncio.run(write())
        except Exception as exc:  # kept for the reader: a provider's refusal, a server that is down...
            stream.error = exc
        finally:
            stream.finished = True

    start_thread(produce, executor)
    wait_until(lambda: bool(stream.pieces) or stream.finished)
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
