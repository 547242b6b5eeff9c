"""Tokenizers by name: exact OpenAI counts offline, local Hugging Face files, the whitespace tokenizer."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from finetune_core.chunking.base import Tokenizer
from finetune_core.chunking.token_chunker import TokenChunker
from finetune_core.chunking.tokenizers import MAX_PIECE_CHARS, get_tokenizer, split_at_seams
from finetune_core.domain import Document
from finetune_core.errors import InvalidInputError, UnknownPluginError

OPENAI = ["o200k_base", "cl100k_base"]
SAMPLES = [
    "",
    "hello world",
    "Le cœur a ses raisons que la raison ne connaît point.",
    "« Bonjour ! » dit-elle ; puis : « Ça va ? »\n\nNouvelle ligne…",
    "naïve café déjà-vu, l'école d'aujourd'hui, e\u0301te\u0301",
    "東京は日本の首都です。😀👍🏽",
    "   leading and trailing spaces \t\n\n\n",
    "x" * 3000,
    "a\ud800b",  # a lone surrogate, counted as U+FFFD
]


@pytest.mark.parametrize(
    ("name", "ids"),
    [("o200k_base", [24912, 2375]), ("cl100k_base", [15339, 1917])],
)
def test_hello_world_is_two_known_tokens(name: str, ids: list[int]) -> None:
    tokenizer = get_tokenizer(name)
    assert tokenizer.encode("hello world") == ids
    assert tokenizer.count("hello world") == 2
    assert tokenizer.decode(ids) == "hello world"


def test_cl100k_matches_the_published_tiktoken_example() -> None:
    assert get_tokenizer("cl100k_base").encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]


@pytest.mark.parametrize("name", OPENAI)
@pytest.mark.parametrize("text", SAMPLES)
def test_count_equals_encode_length_and_decode_round_trips(name: str, text: str) -> None:
    tokenizer = get_tokenizer(name)
    ids = tokenizer.encode(text)
    assert tokenizer.count(text) == len(ids)
    if "\ud800" not in text:
        assert tokenizer.decode(ids) == text


@pytest.mark.parametrize("name", OPENAI)
def test_seams_fall_between_pre_tokens_so_pieces_encode_like_the_whole(name: str) -> None:
    tokenizer = get_tokenizer(name)
    rng = random.Random(5)
    vocabulary = ["the", "élève", "naïve", "«", "»", ";", "!", "?", "123", "4567", "don't", "l'école", "\n",
                  "\n\n", "  ", "...", "中文", "。", "😀", "e\u0301", "ABC", "x_y", "—", "'s", "’", "(", "/"]
    for _ in range(30):
        text = "".join(rng.choice(vocabulary) + rng.choice(["", " ", " ", "\n"]) for _ in range(1500))
        pieces = list(split_at_seams(text, rng.randint(100, 2000)))
        assert "".join(pieces) == text
        assert [i for piece in pieces for i in tokenizer.encode(piece)] == tokenizer.encode(text)


@pytest.mark.parametrize("name", OPENAI)
def test_texts_over_the_per_call_limit_are_counted_exactly(name: str) -> None:
    tokenizer = get_tokenizer(name)
    paragraph = "Un paragraphe d'essai, avec des accents : déjà, où, naïve. Another sentence here!\n\n"
    text = paragraph * (1_100_000 // len(paragraph))
    assert len(text) > 1_000_000 > MAX_PIECE_CHARS
    # "!\n\n" ends a pre-token, so the repeated paragraph counts the same every time
    expected = tokenizer.count(paragraph) * text.count("\n\n")
    assert tokenizer.count(text) == len(tokenizer.encode(text)) == expected


def test_whitespace_tokenizer_counts_words_and_round_trips_them() -> None:
    tokenizer = get_tokenizer("whitespace")
    text = "  Le  chat\u00a0dort\n\nsur le\ttapis \x00nul "
    assert tokenizer.count(text) == 7
    assert tokenizer.count("   \n\t ") == 0
    assert tokenizer.decode(tokenizer.encode(text)) == "Le chat dort sur le tapis \x00nul"
    assert tokenizer.encode("a b a") [0] == tokenizer.encode("a b a")[2]


def test_get_tokenizer_caches_and_defaults_to_o200k() -> None:
    assert get_tokenizer() is get_tokenizer("o200k_base")
    for name in [*OPENAI, "whitespace"]:
        tokenizer = get_tokenizer(name)
        assert isinstance(tokenizer, Tokenizer)
        assert tokenizer.name == name


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownPluginError) as raised:
        get_tokenizer("gpt-17")
    assert isinstance(raised.value, InvalidInputError)
    for known in ["o200k_base", "cl100k_base", "whitespace", "hf:"]:
        assert known in raised.value.message


def _train_tokenizer_json(folder: Path) -> Path:
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers, trainers

    hf = HFTokenizer(models.BPE(unk_token="[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=["[UNK]"])
    sentences = [
        "the quick brown fox jumps over the lazy dog",
        "le renard brun saute par-dessus le chien paresseux",
        "tokenizers are trained on the spot in this test",
        "the dog sleeps and the fox runs",
    ] * 5
    hf.train_from_iterator(sentences, trainer=trainer)
    path = folder / "tokenizer.json"
    hf.save(str(path))
    return path


def test_hf_tokenizer_loads_a_local_tokenizer_json(tmp_path: Path) -> None:
    path = _train_tokenizer_json(tmp_path)
    by_folder = get_tokenizer(f"hf:{tmp_path}")
    by_file = get_tokenizer(f"hf:{path}")
    text = "the quick fox sleeps"
    ids = by_folder.encode(text)
    assert by_folder.name == f"hf:{tmp_path}"
    assert ids == by_file.encode(text)
    assert len(ids) >= 4
    assert by_folder.count(text) == len(ids)
    assert by_folder.count("") == 0
    assert by_folder.decode(ids).replace(" ", "") == text.replace(" ", "")
    document = Document(text="The quick brown fox jumps over the lazy dog. " * 40)
    chunks = TokenChunker().chunk(document, tokenizer=by_folder, size=30, overlap=5)
    assert len(chunks) > 5
    assert all(span.token_count == by_folder.count(span.text) <= 30 for span in chunks)


def test_hf_tokenizer_without_a_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"no tokenizer\.json"):
        get_tokenizer(f"hf:{tmp_path / 'missing'}")
