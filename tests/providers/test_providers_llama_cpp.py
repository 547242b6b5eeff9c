"""`llama-cpp`: the optional in-process generator.

llama-cpp-python is an optional extra that compiles llama.cpp from source (about 7 minutes on two
cores), so it is not installed in the test environment: the real-model test is skipped unless it
is importable and FINETUNE_TEST_GGUF names a small GGUF model. What is checked everywhere: the
clear message when it is missing, and the generator's wiring with a stand-in model object.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
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
from providers_testkit import text_project

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


@pytest.mark.skipif(not HAVE_LLAMA_CPP or not os.environ.get("FINETUNE_TEST_GGUF"), reason=(
    "needs llama-cpp-python (optional extra [llama-cpp], compiled from source in about 7 minutes, not installed "
    "in the test environment) and FINETUNE_TEST_GGUF pointing at a small GGUF model"))
def test_a_real_gguf_model_answers() -> None:  # pragma: no cover - only where the extra is installed
    generator = LlamaCppGenerator(GeneratorSettings(model=os.environ["FINETUNE_TEST_GGUF"],
                                                    extra={"max_tokens": 256, "n_ctx": 2048, "seed": 1}))
    result = asyncio.run(generator.generate_one(_request()))
    assert result.error is None and result.raw_text is not None
    json.loads(result.raw_text)  # the JSON grammar holds
    assert result.usage["output_tokens"] > 0
