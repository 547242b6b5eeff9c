"""`llama-cpp`: a local GGUF model run in this process by llama-cpp-python (the optional extra).

    pip install 'finetune-providers[llama-cpp]'   # compiles llama.cpp: several minutes;
                                                  # CMAKE_ARGS="-DGGML_NATIVE=OFF" for a portable build

`llama_cpp` is imported only when a run starts, so the package works without it. Settings:
`model` = the path of the .gguf file (or `extra["model_path"]`); `extra`: `n_ctx` (4096),
`n_gpu_layers` (0; -1 offloads every layer), `n_threads`, `chat_format` (default: the one in
the GGUF metadata), `max_tokens` (1024), `json_mode` (True: a JSON grammar constrains the
output). One model answers one request at a time (calls run in a worker thread, in turn), so
a higher concurrency only queues requests. No key, no cost.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from pathlib import Path
from typing import Any, ClassVar

from finetune_core.domain import TaskType
from finetune_core.errors import GenerationError
from finetune_core.generation.base import GenerationRequest, GenerationResult, Generator, GeneratorSettings
from finetune_core.generation.parsing import parse_examples
from finetune_core.generation.prompts import render_prompt, summary_user_content
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finetune_providers._retry import TransientError
from finetune_providers._wire import parse_chat_response

INSTALL_HINT = ("the llama-cpp generator needs llama-cpp-python: pip install 'finetune-providers[llama-cpp]' "
                "(it compiles llama.cpp from source, several minutes; set CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" "
                "for a build that runs on other CPUs)")


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


class LlamaCppGenerator(Generator):
    """In-process generation with llama-cpp-python."""

    name: ClassVar[str] = "llama-cpp"

    def __init__(self, settings: GeneratorSettings | None = None, *, llama: Any | None = None) -> None:
        """`llama`: an already loaded `llama_cpp.Llama` (or a stand-in with `create_chat_completion`)."""
        super().__init__(settings)
        try:
            self.options = LlamaCppOptions.model_validate(self.settings.extra)
        except ValidationError as exc:
            raise GenerationError(f"invalid llama-cpp settings: {exc.errors()[0]['msg']}") from None
        self._llama = llama
        self._lock = threading.Lock()
        self.model_path = self.settings.model or self.options.model_path
        if llama is None:
            if importlib.util.find_spec("llama_cpp") is None:
                raise GenerationError(INSTALL_HINT)
            if not self.model_path:
                raise GenerationError("the llama-cpp generator needs a GGUF file: pass --model /path/to/model.gguf")
            if not Path(self.model_path).expanduser().is_file():
                raise GenerationError(f"no GGUF model file at {self.model_path}")

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

    def _run(self, messages: list[dict[str, str]]) -> Any:
        with self._lock:  # a Llama object is not safe to use from two threads at once
            options: dict[str, Any] = {"temperature": self.settings.temperature,
                                       "max_tokens": self.options.max_tokens}
            if self.options.json_mode:
                options["response_format"] = {"type": "json_object"}
            return self._model().create_chat_completion(messages=messages, **options)

    async def generate_one(self, request: GenerationRequest) -> GenerationResult:
        messages = [{"role": message.role, "content": message.content} for message in render_prompt(request)]
        try:
            data = await asyncio.to_thread(self._run, messages)
        except (ValueError, RuntimeError) as exc:  # e.g. the prompt does not fit the context window
            return GenerationResult(key=request.key, error=f"llama.cpp: {exc}")
        try:
            completion = parse_chat_response(data)
        except TransientError as exc:
            return GenerationResult(key=request.key, error=f"llama.cpp: {exc.message}")
        summary_user = (summary_user_content(request.chunk.content.strip(), request.language)
                        if request.task_type is TaskType.SUMMARIZATION else None)
        drafts = parse_examples(completion.text, request.task_type, chunk_text=request.chunk.content,
                                user_content_for_summary=summary_user)
        usage = {"requests": 1.0, "retries": 0.0, "rate_limited": 0.0,
                 "input_tokens": float(completion.input_tokens or 0),
                 "output_tokens": float(completion.output_tokens or 0)}
        return GenerationResult(key=request.key, drafts=drafts, raw_text=completion.text, usage=usage)

    async def aclose(self) -> None:
        return None  # the model stays loaded for the next run of this instance
