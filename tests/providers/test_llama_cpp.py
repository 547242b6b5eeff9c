"""`llama-cpp`: the optional in-process generator.

llama-cpp-python is an optional extra that compiles llama.cpp from source (about 7 minutes on two
cores), so the main test environment goes without it and checks the clear message when it is
missing and the generator's wiring with a stand-in model object. `nox -s llama_cpp` (run by CI)
builds the extra and runs the real-model tests here on a tiny random Llama written offline as GGUF
(kits/tiny_gguf.py), or on FINETUNE_TEST_GGUF when that names a real model.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
from typing import Any

import pytest
from finetune_core import Chunk, GenerationError, GenerationRequest, GeneratorSettings, JobStatus, TaskType, Workspace
from finetune_core.services import jobs as jobs_service
from finetune_core.testing import made_up_text
from finetune_providers.llama_cpp_local import LlamaCppGenerator
from finetune_providers.testing import examples_text
from kits.chat_completions import text_project

HAVE_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None
PASSAGE = made_up_text(5).strip()


def _request(index: int = 0) -> GenerationRequest:
    chunk = Chunk(id=f"c{index}", project_id="p", source_id="s", chunk_index=index, content=PASSAGE, token_count=50)
    return GenerationRequest(key=f"gen:c{index}:0", chunk=chunk, task_type=TaskType.QA, n_examples=2)


class StandInLlama:
    """Answers like llama_cpp.Llama.create_chat_completion; records calls and overlapping use."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.active = 0
        self.overlapped = False
        self.lock = threading.Lock()

    def create_chat_completion(self, messages: list[dict[str, str]], **options: Any) -> dict[str, Any]:
        with self.lock:
            self.active += 1
            self.overlapped = self.overlapped or self.active > 1
        time.sleep(0.01)
        self.calls.append({"messages": messages, **options})
        with self.lock:
            self.active -= 1
        return {"choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": examples_text(PASSAGE, 0, 2)}}],
                "usage": {"prompt_tokens": 321, "completion_tokens": 54, "total_tokens": 375}}


@pytest.mark.skipif(HAVE_LLAMA_CPP, reason="llama-cpp-python is installed here")
def test_without_the_extra_the_generator_says_how_to_install_it(finetune_workspace: Workspace) -> None:
    with pytest.raises(GenerationError, match=r"pip install 'finetune-providers\[llama-cpp\]'"):
        LlamaCppGenerator(GeneratorSettings(model="/models/tiny.gguf"))
    project_id = text_project(finetune_workspace, "llama", 1)
    job = jobs_service.enqueue(finetune_workspace, "dataset_generate", project_id=project_id, generator="llama-cpp",
                               settings={"model": "/models/tiny.gguf"})
    assert job.status is JobStatus.FAILED
    assert job.error_message is not None and "finetune-providers[llama-cpp]" in job.error_message


def test_the_generator_wiring_with_a_stand_in_model() -> None:
    llama = StandInLlama()
    generator = LlamaCppGenerator(GeneratorSettings(temperature=0.2, concurrency=4), llama=llama)

    async def go() -> list[Any]:
        return [result async for result in generator.generate([_request(i) for i in range(4)])]

    results = asyncio.run(go())
    assert len(results) == 4 and not llama.overlapped  # one inference at a time
    for result in results:
        assert result.error is None and len(result.drafts) == 2
        assert all(draft.evidence and draft.evidence in PASSAGE for draft in result.drafts)
        assert result.usage == {"requests": 1, "retries": 0, "rate_limited": 0, "input_tokens": 321,
                                "output_tokens": 54}
    call = llama.calls[0]
    assert [m["role"] for m in call["messages"]] == ["system", "user"]
    assert call["response_format"] == {"type": "json_object"} and call["temperature"] == 0.2
    assert call["max_tokens"] == 1024


needs_llama_cpp = pytest.mark.skipif(not HAVE_LLAMA_CPP, reason=(
    "needs llama-cpp-python (the optional extra [llama-cpp], compiled from source in about 7 minutes): "
    "`nox -s llama_cpp` installs it and runs these"))


@pytest.fixture(scope="module")
def gguf_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """FINETUNE_TEST_GGUF, or a tiny random Llama written on the spot (no download)."""
    if os.environ.get("FINETUNE_TEST_GGUF"):
        return os.environ["FINETUNE_TEST_GGUF"]
    pytest.importorskip("gguf")
    from kits.tiny_gguf import write_tiny_llama

    return str(write_tiny_llama(tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf"))


@needs_llama_cpp
def test_a_real_gguf_model_answers_under_the_json_grammar(gguf_model: str) -> None:
    generator = LlamaCppGenerator(GeneratorSettings(model=gguf_model,
                                                    extra={"max_tokens": 96, "n_ctx": 2048, "seed": 1}))
    result = asyncio.run(generator.generate_one(_request()))
    assert result.error is None and result.raw_text
    assert result.raw_text.lstrip().startswith(("{", "["))  # the JSON grammar holds from the first token
    assert 0 < result.usage["output_tokens"] <= 96 and result.usage["input_tokens"] > 0
    # a random model writes no usable examples: whatever it wrote is kept, invalid, never lost
    assert all(draft.errors or draft.messages for draft in result.drafts)


@needs_llama_cpp
def test_a_project_generates_with_the_local_model_and_keeps_every_answer(finetune_workspace: Workspace,
                                                                        gguf_model: str) -> None:
    project_id = text_project(finetune_workspace, "local", 2)
    job = finetune_workspace.generate(project_id, target=2, examples_per_chunk=1, generator="llama-cpp",
                                      settings={"model": gguf_model, "extra": {"max_tokens": 48, "n_ctx": 2048}})
    summary = job.result_summary
    assert summary["requests"] >= 2 and summary["failed_requests"] == 0
    assert summary["usage"]["output_tokens"] > 0
    with finetune_workspace.unit_of_work() as uow:
        stored = [e for e in uow.examples.iterate(project_id) if (e.request_key or "").startswith("gen:")]
    assert len({e.request_key for e in stored}) == summary["requests"]
    assert all(e.is_valid or e.validation_errors for e in stored)


@needs_llama_cpp
def test_the_local_chat_model_streams(gguf_model: str) -> None:
    from finetune_core.chat import ChatSettings
    from finetune_core.domain import Message
    from finetune_providers.chat_models import LlamaCppChatModel

    model = LlamaCppChatModel(ChatSettings(model=gguf_model, max_tokens=24, temperature=1.0,
                                           extra={"n_ctx": 2048, "seed": 3}))

    async def go() -> list[str]:
        try:
            return [piece async for piece in model.stream([Message(role="user", content="Say something.")])]
        finally:
            await model.aclose()

    pieces = asyncio.run(go())
    assert len(pieces) > 1 and "".join(pieces)
