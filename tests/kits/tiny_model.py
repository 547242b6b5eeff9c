"""A tiny random Llama-style model with a byte-level BPE tokenizer trained on the spot: a local `base_model`.

Nothing is downloaded. The model has hidden size 64, 2 layers and 4 heads; the tokenizer is trained
with `tokenizers` on a few KB of made-up text and the chat examples' own words, and carries a chat
template with `{% generation %}` markers (assistant-only loss). `build_tiny_model(folder)` saves both
where `from_pretrained(folder)` finds them.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

PAD, END, BOS = "<|pad|>", "<|end|>", "<|bos|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
SPECIAL_TOKENS = (PAD, END, BOS, *ROLE_TOKENS)

# The end-of-turn token sits inside the generation markers, so the model learns to stop.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|end|>' }}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
# The same rendering without markers: the trainer must then build the assistant-only labels itself.
PLAIN_CHAT_TEMPLATE = CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")

COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "white", "black")
THINGS = ("lamp", "door", "kite", "boat", "cup", "chair", "book", "shoe", "bell", "coat")


def chat_messages(index: int) -> list[dict[str, str]]:
    """One generated chat: a question about a numbered thing and its patterned answer."""
    thing, colour = THINGS[index % len(THINGS)], COLOURS[(index * 3) % len(COLOURS)]
    return [{"role": "user", "content": f"What colour is the {thing} number {index}?"},
            {"role": "assistant", "content": f"The {thing} number {index} is {colour}."}]


def made_up_sentence(rng: random.Random) -> str:
    # not finetune_core.testing.made_up_text: that module imports pytest, and the benchmark runs without it
    syllables = ("ka", "lo", "mi", "ser", "tan", "vo", "ru", "pe", "dal", "quin", "zo", "fen")
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))) for _ in range(rng.randint(9, 13))]
    return " ".join(words).capitalize() + "."


def corpus(count: int = 200) -> list[str]:
    """A few KB of text for the tokenizer: made-up sentences and the words of the chats."""
    rng = random.Random(0)
    lines = [made_up_sentence(rng) for _ in range(40)]
    for index in range(count):
        lines.extend(message["content"] for message in chat_messages(index))
    return lines


def build_tokenizer(chat_template: str = CHAT_TEMPLATE, vocab_size: int = 512) -> Any:
    """A byte-level BPE tokenizer trained on `corpus()`, wrapped for transformers with the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=BOS, eos_token=END, pad_token=PAD,
                                   additional_special_tokens=list(ROLE_TOKENS), chat_template=chat_template)


def build_tiny_model(folder: Path, *, seed: int = 0, chat_template: str = CHAT_TEMPLATE, hidden_size: int = 64,
                     num_layers: int = 2, num_heads: int = 4) -> Path:
    """Save a random Llama (by default tiny: hidden 64, 2 layers, 4 heads) and its tokenizer under `folder`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(chat_template)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                         num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_heads,
                         max_position_embeddings=256,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def add_chat_project(workspace: Any, count: int = 50, name: str = "tiny chats") -> str:
    """A project whose dataset is `count` generated chats, every fifth in the eval split; its id."""
    from finetune_core.domain import Example, Message

    project = workspace.create_project(name)
    examples = [Example(project_id=project.id, request_key=f"tiny:{index}", split="eval" if index % 5 == 0 else "train",
                        messages=[Message(**message) for message in chat_messages(index)],
                        token_count=sum(len(message["content"].split()) for message in chat_messages(index)))
                for index in range(count)]
    with workspace.unit_of_work() as uow:
        uow.examples.add(examples)
    return str(project.id)
