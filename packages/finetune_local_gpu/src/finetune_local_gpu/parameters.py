"""How many parameters a model has: read from its safetensors headers, or computed from its config.json.

The config formulas cover the decoder-only families the local trainer targets; each was checked against
the published totals: Llama-3.1-8B 8,030,261,248, Mistral-7B-v0.1 7,241,732,096, Qwen2-7B 7,615,616,512,
gemma-7b 8,537,680,896, gemma-2-9b 9,241,705,984, phi-2 2,779,683,840, Phi-3-mini 3,821,079,552.

    llama / mistral / qwen2 / qwen3 / gemma / gemma2 (pre-norm, SwiGLU/GeGLU MLP):
        embeddings V·h
        + layers × (q h·nh·d + k,v 2·h·kv·d + o nh·d·h [+ q,k,v biases: qwen2]
                    + MLP 3·h·I + norms 2·h [gemma2: 4·h] [+ q/k norms 2·d: qwen3])
        + final norm h + lm_head V·h (none when the embeddings are tied; gemma always ties)
    phi (phi-2: parallel attention and MLP, biases everywhere, one LayerNorm per layer):
        V·h + layers × (4·(h² + h) + 2·h·I + I + h + 2·h) + final LayerNorm 2·h + lm_head V·h + V
    phi3 (fused qkv and gate_up projections):
        V·h + layers × (h·(nh + 2·kv)·d + nh·d·h + 2·h·I + I·h + 2·h) + h + lm_head V·h
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LLAMA_LIKE = frozenset({"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2"})
SUPPORTED_FAMILIES = LLAMA_LIKE | {"phi", "phi3"}
TORCH_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The language-model part of a config: multimodal configs (gemma3, mistral3...) nest it in `text_config`."""
    nested = config.get("text_config")
    return nested if isinstance(nested, Mapping) else config


def from_config(config: Mapping[str, Any]) -> int | None:
    """The parameter count computed from a config, or None for a family (or a config) this cannot size."""
    text = text_config(config)
    model_type = str(text.get("model_type") or config.get("model_type") or "")
    try:
        if model_type in LLAMA_LIKE:
            return _llama_like(text, model_type)
        if model_type == "phi":
            return _phi(text)
        if model_type == "phi3":
            return _phi3(text)
    except (KeyError, TypeError, ValueError):
        return None
    return None


def _dims(config: Mapping[str, Any]) -> tuple[int, int, int, int, int, int, int]:
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or hidden // heads)
    return (int(config["vocab_size"]), hidden, int(config["num_hidden_layers"]), heads, kv_heads, head_dim,
            int(config["intermediate_size"]))


def _lm_head(config: Mapping[str, Any], vocab: int, hidden: int, *, default_tied: bool) -> int:
    return 0 if config.get("tie_word_embeddings", default_tied) else vocab * hidden


def _llama_like(config: Mapping[str, Any], model_type: str) -> int:
    vocab, hidden, layers, heads, kv_heads, head_dim, intermediate = _dims(config)
    attention = hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim + heads * head_dim * hidden
    if config.get("attention_bias", model_type == "qwen2"):
        attention += heads * head_dim + 2 * kv_heads * head_dim + (hidden if model_type != "qwen2" else 0)
    if model_type == "qwen3":
        attention += 2 * head_dim
    norms = (4 if model_type == "gemma2" else 2) * hidden
    layer = attention + 3 * hidden * intermediate + norms
    tied_by_default = model_type.startswith("gemma")
    return vocab * hidden + layers * layer + hidden + _lm_head(config, vocab, hidden, default_tied=tied_by_default)


def _phi(config: Mapping[str, Any]) -> int:
    vocab, hidden, layers, _, _, _, intermediate = _dims(config)
    layer = 4 * (hidden * hidden + hidden) + 2 * hidden * intermediate + intermediate + hidden + 2 * hidden
    lm_head = _lm_head(config, vocab, hidden, default_tied=False)
    return vocab * hidden + layers * layer + 2 * hidden + lm_head + (vocab if lm_head else 0)


def _phi3(config: Mapping[str, Any]) -> int:
    vocab, hidden, layers, heads, kv_heads, head_dim, intermediate = _dims(config)
    attention = hidden * (heads + 2 * kv_heads) * head_dim + heads * head_dim * hidden
    layer = attention + 2 * hidden * intermediate + intermediate * hidden + 2 * hidden
    return vocab * hidden + layers * layer + hidden + _lm_head(config, vocab, hidden, default_tied=False)


def checkpoint_dtype(config: Mapping[str, Any]) -> str | None:
    """The dtype the weights were saved in (`dtype` since transformers 5, `torch_dtype` before)."""
    for part in (text_config(config), config):
        for key in ("dtype", "torch_dtype"):
            if part.get(key):
                return str(part[key])
    return None


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file (an 8-byte little-endian length, then JSON): no tensor is loaded."""
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header: dict[str, Any] = json.loads(handle.read(length))
    return header


def count_in_safetensors(path: Path) -> int:
    """The number of values of every tensor in one .safetensors file."""
    header = read_safetensors_header(path)
    return sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__")


def from_local_weights(folder: Path, config: Mapping[str, Any]) -> int | None:
    """The parameter count of a local checkpoint's safetensors files, or from its shard index's size."""
    files = sorted(folder.glob("*.safetensors"))
    index_path = folder / "model.safetensors.index.json"
    if index_path.is_file():
        index = json.loads(index_path.read_text(encoding="utf-8"))
        shards = {folder / name for name in index.get("weight_map", {}).values()}
        if shards and all(shard.is_file() for shard in shards):
            return sum(count_in_safetensors(shard) for shard in shards)
        # shards not downloaded: the index's byte size over the checkpoint dtype's width
        total_size = index.get("metadata", {}).get("total_size")
        width = TORCH_DTYPE_BYTES.get(str(checkpoint_dtype(config)))
        if total_size and width:
            return int(total_size) // width
    if files:
        return sum(count_in_safetensors(path) for path in files)
    return None
