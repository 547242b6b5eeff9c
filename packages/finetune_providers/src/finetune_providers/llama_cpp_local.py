"""`llama-cpp`: a local GGUF model run in this process by llama-cpp-python (the optional extra).

    pip install 'finetune-providers[llama-cpp]'   # compiles llama.cpp: several minutes;
                                                  # CMAKE_ARGS="-DGGML_NATIVE=OFF" for a portable build

`llama_cpp` is imported only when a run starts, so the package works without it. Settings:
`model` = the path of the .gguf file (or `extra["model_path"]`); `extra`: `n_ctx` (4096),
`n_gpu_layers` (0; -1 offloads every layer), `n_threads`, `chat_format` (default: the one in
the GGUF metadata), `max_tokens` (1024), `json_mode` (True: a JSON grammar constrains the
output). One model answers one request at a time (calls run in a worker thread, in turn), so
a higher concurrency only queues requests; a stream holds the model until it ends. No key, no cost.
`LlamaCppRunner` is the model shared by the generator and the `llama-cpp` chat model.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any, ClassVar

from finetune_core.domain import Message
from finetune_core.errors import GenerationError
from finetune_core.generation.base import GenerationRequest, GenerationResult, Generator, GeneratorSettings
from finetune_core.generation.prompts import render_prompt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finetune_providers._base import Completion, Delta, parse_answer
from finetune_providers._retry import TransientError
from finetune_providers._usage import UsageMeter
from finetune_providers._wire import parse_chat_chunk, parse_chat_response

INSTALL_HINT = ("pip install 'finetune-providers[llama-cpp]' (it compiles llama.cpp from source, several minutes; "
                "set CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" for a build that runs on other CPUs)")
MODEL_ERRORS = (ValueError, RuntimeError)  # e.g. the prompt does not fit the context window


class LlamaCppOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model_path: str | None = None
    n_ctx: int = Field(4096, ge=256)
    n_gpu_layers: int = 0
    n_threads: int | None = Field(None, ge=1)
    chat_format: str | None = None
    max_tokens: int = Field(1024, ge=1)
    json_mode: bool = True
    seed: int | None = None

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> LlamaCppOptions:
        try:
            return cls.model_validate(extra)
        except ValidationError as exc:
            raise GenerationError(f"invalid llama-cpp settings: {exc.errors()[0]['msg']}") from None


def usage_of(input_tokens: int | None, output_tokens: int | None) -> UsageMeter:
    """One local request's usage: its tokens, no retries, no cost."""
    return UsageMeter(requests=1, input_tokens=input_tokens or 0, output_tokens=output_tokens or 0)


class LlamaCppRunner:
    """One GGUF model, loaded on first use, answering one request at a time in a worker thread."""

    def __init__(self, model_path: str | None, options: LlamaCppOptions, *, temperature: float, used_by: str,
                 llama: Any | None = None) -> None:
        """`llama`: an already loaded `llama_cpp.Llama` (or a stand-in with `create_chat_completion`)."""
        self.model_path = model_path
        self.options = options
        self.temperature = temperature
        self._llama = llama
        self._lock = threading.Lock()  # a Llama object is not safe to use from two threads at once
        if llama is None:
            if importlib.util.find_spec("llama_cpp") is None:
                raise GenerationError(f"the {used_by} needs llama-cpp-python: {INSTALL_HINT}")
            if not model_path:
                raise GenerationError(f"the {used_by} needs a GGUF file: pass --model /path/to/model.gguf")
            if not Path(model_path).expanduser().is_file():
                raise GenerationError(f"no GGUF model file at {model_path}")

    def _model(self) -> Any:
        if self._llama is None:
            import llama_cpp

            options: dict[str, Any] = {"n_ctx": self.options.n_ctx, "n_gpu_layers": self.options.n_gpu_layers,
                                       "verbose": False}
            if self.options.n_threads:
                options["n_threads"] = self.options.n_threads
            if self.options.chat_format:
                options["chat_format"] = self.options.chat_format
            if self.options.seed is not None:
                options["seed"] = self.options.seed
            self._llama = llama_cpp.Llama(model_path=str(Path(str(self.model_path)).expanduser()), **options)
        return self._llama

    def _request(self, messages: list[Message]) -> dict[str, Any]:
        request: dict[str, Any] = {"messages": [{"role": message.role, "content": message.content}
                                                for message in messages],
                                   "temperature": self.temperature, "max_tokens": self.options.max_tokens}
        if self.options.json_mode:
            request["response_format"] = {"type": "json_object"}
        return request

    def _run(self, request: dict[str, Any]) -> Any:
        with self._lock:
            return self._model().create_chat_completion(**request)

    def stream_here(self, messages: list[Message], on_delta: Callable[[Delta], None]) -> None:
        """The answer's chunks handed to `on_delta` as the model writes them, on the calling thread (held to the
        end): for a caller on a native thread of its own, where an event loop's worker thread could be a greenlet."""
        with self._lock:
            answer = self._model().create_chat_completion(**self._request(messages), stream=True)
            try:
                for chunk in answer:
                    on_delta(parse_chat_chunk(chunk))
            finally:
                getattr(answer, "close", lambda: None)()

    async def complete(self, messages: list[Message]) -> Completion:
        """The whole answer; MODEL_ERRORS from the model, TransientError for a malformed answer."""
        return parse_chat_response(await asyncio.to_thread(self._run, self._request(messages)))

    async def stream(self, messages: list[Message]) -> AsyncGenerator[Delta, None]:
        """The answer's chunks as the model writes them; the model is held, in a worker thread, to the end."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def put(kind: str, value: Any = None) -> None:
            loop.call_soon_threadsafe(chunks.put_nowait, (kind, value))

        def produce() -> None:
            try:
                with self._lock:
                    answer = self._model().create_chat_completion(**self._request(messages), stream=True)
                    for chunk in answer:
                        if stop.is_set():
                            break
                        put("chunk", chunk)
                    getattr(answer, "close", lambda: None)()
            except Exception as exc:
                put("error", exc)
            finally:
                put("end")

        worker = asyncio.ensure_future(asyncio.to_thread(produce))
        try:
            while (item := await chunks.get())[0] != "end":
                kind, value = item
                if kind == "error":
                    raise value
                yield parse_chat_chunk(value)
        finally:
            stop.set()  # a consumer that left early: the thread stops at the next chunk
            await worker


class LlamaCppGenerator(Generator):
    """In-process generation with llama-cpp-python."""

    name: ClassVar[str] = "llama-cpp"

    def __init__(self, settings: GeneratorSettings | None = None, *, llama: Any | None = None) -> None:
        """`llama`: an already loaded `llama_cpp.Llama` (or a stand-in with `create_chat_completion`)."""
        super().__init__(settings)
        self.options = LlamaCppOptions.from_extra(self.settings.extra)
        self.runner = LlamaCppRunner(self.settings.model or self.options.model_path, self.options,
                                     temperature=self.settings.temperature, used_by="llama-cpp generator", llama=llama)

    async def generate_one(self, request: GenerationRequest) -> GenerationResult:
        try:
            completion = await self.runner.complete(render_prompt(request))
        except MODEL_ERRORS as exc:
            return GenerationResult(key=request.key, error=f"llama.cpp: {exc}")
        except TransientError as exc:
            return GenerationResult(key=request.key, error=f"llama.cpp: {exc.message}")
        return GenerationResult(key=request.key, drafts=parse_answer(completion.text, request),
                                raw_text=completion.text,
                                usage=usage_of(completion.input_tokens, completion.output_tokens).as_dict(None))

    async def aclose(self) -> None:
        return None  # the model stays loaded for the next run of this instance
