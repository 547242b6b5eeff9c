"""A merged Hugging Face model folder as one GGUF file (llama.cpp, Ollama), and the Ollama Modelfile beside it.

    write_gguf(folder, out_file, out_type="f16", source_gguf=None, name=None)
        config.json, the safetensors and the tokenizer of `folder` -> `out_file` (general.name: `name`, else
        the file's stem), written through a temporary file (no partial file is left on error). Llama-architecture
        models only (LlamaForCausalLM, MistralForCausalLM); any other is refused, naming llama.cpp's
        convert_hf_to_gguf.py, the way out for them (as for rope scalings and tokenizers this writer does not map).
    ollama_modelfile(gguf_file, system_prompt=None)
        FROM, a ChatML TEMPLATE in Ollama's Go template syntax, its stop and the system prompt.

The layout is that of llama.cpp's convert_hf_to_gguf.py (LlamaModel): the Q and K projections permuted to
llama.cpp's rotary layout, norms kept in float32, no `output.weight` when the head is tied to the embeddings.
The tokenizer's key-values are copied from `source_gguf` when the base model was itself a GGUF (the embedded
model: exactly what llama.cpp read from it), else built from the folder's byte-level BPE tokenizer (vocab,
merges, special ids, pre-tokenizer). Either way the chat template is the folder's: the one trained with, its
transformers-only `{% generation %}` markers (read for assistant masks) turned into plain `{% if true %}` blocks.
Light on import: gguf, numpy, safetensors, torch, transformers and jinja2 are imported by the functions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_core.errors import InvalidInputError

if TYPE_CHECKING:
    import gguf
    import numpy as np

OUT_TYPES = ("f16", "f32", "q8_0")
ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM")
CONVERTER = ("llama.cpp's convert_hf_to_gguf.py (https://github.com/ggml-org/llama.cpp: "
             "`python convert_hf_to_gguf.py MERGED_FOLDER --outtype f16`)")
# tokenizer.json pre-tokenizers llama.cpp implements, by the name it knows them under (tokenizer.ggml.pre)
BYTE_LEVEL = {"type": "ByteLevel", "use_regex": True}
PRE_TOKENIZERS: dict[str, list[dict[str, Any]]] = {
    "gpt-2": [BYTE_LEVEL],
    "smollm": [{"type": "Digits", "individual_digits": True}, BYTE_LEVEL],
}
GENERATION_TAG = re.compile(r"\{%(-?)\s*(end)?generation\s*(-?)%\}")
CHATML_TURN = "<|im_start|>{role}\n{content}<|im_end|>\n"
CHATML_PROMPT = "<|im_start|>assistant\n"
OLLAMA_CHATML = '''TEMPLATE """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range .Messages }}
{{- if ne .Role "system" }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}
{{- end }}<|im_start|>assistant
"""
PARAMETER stop "<|im_end|>"'''


def write_gguf(model_folder: Path, out_file: Path, *, out_type: str = "f16", source_gguf: Path | None = None,
               name: str | None = None) -> Path:
    """Write the model of `model_folder` as a GGUF file of `out_type` (f16, f32, q8_0); see the module doc."""
    import gguf

    config = _llama_config(model_folder, out_type)
    partial = out_file.with_name(f".{out_file.name}.part")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    # the tensors are spooled to a temporary file as they are converted (the header, written first, needs them all)
    writer = gguf.GGUFWriter(partial, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA], use_temp_file=True)
    try:
        try:
            writer.add_name(name or out_file.stem)
            _add_hyperparameters(writer, config, out_type)
            template = chat_template(model_folder)  # the one trained with, rather than a copied one
            if source_gguf is not None:
                n_vocab = _copy_tokenizer(writer, source_gguf, copy_template=template is None)
            else:
                n_vocab = _add_tokenizer(writer, model_folder, int(config["vocab_size"]))
            if n_vocab != config["vocab_size"]:
                raise InvalidInputError(f"the tokenizer has {n_vocab} tokens, the model {config['vocab_size']}")
            if template is not None:
                writer.add_chat_template(template)
            _add_tensors(writer, model_folder, config, out_type)
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
        finally:
            writer.close()
        partial.replace(out_file)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return out_file


def _llama_config(folder: Path, out_type: str) -> dict[str, Any]:
    """config.json, checked: a llama-architecture model whose layout this writer knows; InvalidInputError if not."""
    if out_type not in OUT_TYPES:
        raise InvalidInputError(f"unknown GGUF type {out_type!r} (accepted: {', '.join(OUT_TYPES)})")
    path = folder / "config.json"
    if not path.is_file():
        raise InvalidInputError(f"{folder} holds no config.json: it is not a Hugging Face model folder")
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    architectures = config.get("architectures") or [config.get("model_type")]
    if architectures[0] not in ARCHITECTURES:
        raise InvalidInputError(f"GGUF export writes llama-architecture models ({', '.join(ARCHITECTURES)}), not "
                                f"{architectures[0]}: convert the merged folder with {CONVERTER}",
                                architecture=architectures[0])
    scaling = _rope(config).get("rope_type", "default")
    if scaling not in ("default", "linear"):
        raise InvalidInputError(f"GGUF export does not write {scaling!r} rope scaling: convert the merged folder "
                                f"with {CONVERTER}", rope_type=scaling)
    return config


def _rope(config: dict[str, Any]) -> dict[str, Any]:
    """The rope settings, whichever transformers wrote them (rope_parameters, or rope_theta and rope_scaling)."""
    rope: dict[str, Any] = dict(config.get("rope_parameters") or config.get("rope_scaling") or {})
    if "type" in rope:
        rope.setdefault("rope_type", rope["type"])
    if "rope_theta" in config:
        rope.setdefault("rope_theta", config["rope_theta"])
    return rope


def _head_dim(config: dict[str, Any]) -> int:
    """The size of one attention head."""
    return int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])


def _add_hyperparameters(writer: gguf.GGUFWriter, config: dict[str, Any], out_type: str) -> None:
    """The llama.* key-values llama.cpp reads, as convert_hf_to_gguf.py writes them."""
    import gguf

    heads = int(config["num_attention_heads"])
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(heads)
    writer.add_head_count_kv(int(config.get("num_key_value_heads") or heads))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_vocab_size(int(config["vocab_size"]))
    head_dim = _head_dim(config)
    writer.add_rope_dimension_count(head_dim)
    if head_dim != config["hidden_size"] // heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    rope = _rope(config)
    if "rope_theta" in rope:
        writer.add_rope_freq_base(float(rope["rope_theta"]))
    if rope.get("rope_type") == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))
    file_types = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                  "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}
    writer.add_file_type(file_types[out_type])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _copy_tokenizer(writer: gguf.GGUFWriter, source: Path, *, copy_template: bool) -> int:
    """Copy the tokenizer.* key-values of the source GGUF (its chat template if told); the number of tokens."""
    import gguf

    reader = gguf.GGUFReader(source)
    for key, field in reader.fields.items():
        if key.startswith("tokenizer.") and (copy_template or key != "tokenizer.chat_template"):
            sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(key, field.contents(), field.types[0], sub_type=sub_type)
    return len(reader.fields["tokenizer.ggml.tokens"].data)


def _add_tokenizer(writer: gguf.GGUFWriter, folder: Path, vocab_size: int) -> int:
    """A byte-level BPE tokenizer's vocab, merges, special ids and pre-tokenizer (convert_hf_to_gguf's gpt2 vocab)."""
    import gguf
    from transformers import AutoTokenizer

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer(folder))
    tokenizer: Any = AutoTokenizer.from_pretrained(folder)
    vocab: dict[str, int] = tokenizer.get_vocab()
    by_id = {index: token for token, index in vocab.items()}
    added = tokenizer.get_added_vocab()
    tokens: list[str] = []
    types: list[int] = []
    for index in range(vocab_size):
        token = by_id.get(index)
        if token is None:  # the embedding matrix padded past the tokenizer
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        tokens.append(token)
        if token not in added:
            types.append(gguf.TokenType.NORMAL)
        elif tokenizer.added_tokens_decoder[index].special:
            types.append(gguf.TokenType.CONTROL)
        else:
            types.append(gguf.TokenType.USER_DEFINED)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(folder, load_merges=True, n_vocab=len(tokens))
    special.chat_template = None  # written by write_gguf, without generation markers
    special.add_to_gguf(writer, quiet=True)
    return len(tokens)


def _pre_tokenizer(folder: Path) -> str:
    """llama.cpp's name of the folder's pre-tokenizer; InvalidInputError for a tokenizer this writer cannot map."""
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise InvalidInputError(f"{folder} holds no tokenizer.json: convert it with {CONVERTER}")
    spec = json.loads(path.read_text(encoding="utf-8"))
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    if spec.get("model", {}).get("type") == "BPE" and spec.get("normalizer") is None:
        for name, expected in PRE_TOKENIZERS.items():
            if len(steps) == len(expected) and all(step.items() >= want.items()
                                                    for step, want in zip(steps, expected, strict=True)):
                return name
    raise InvalidInputError(f"GGUF export writes byte-level BPE tokenizers (GPT-2 style, as SmolLM's), not this "
                            f"one ({spec.get('model', {}).get('type')}, pre-tokenizer {pre.get('type')}): "
                            f"convert the merged folder with {CONVERTER}")


def chat_template(folder: Path) -> str | None:
    """The folder's chat template (chat_template.jinja or tokenizer_config.json), generation markers made plain."""
    jinja = folder / "chat_template.jinja"
    config = folder / "tokenizer_config.json"
    if jinja.is_file():
        template: Any = jinja.read_text(encoding="utf-8")
    elif config.is_file():
        template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
    else:
        return None
    if not isinstance(template, str) or not template:
        return None
    # each marker becomes an `if true` block with the same whitespace control: the rendering is unchanged, with
    # or without trim_blocks, and llama.cpp's and Ollama's template engines know no `generation` tag
    return GENERATION_TAG.sub(lambda tag: "{%" + tag[1] + (" endif " if tag[2] else " if true ") + tag[3] + "%}",
                              template)


def _add_tensors(writer: gguf.GGUFWriter, folder: Path, config: dict[str, Any], out_type: str) -> None:
    """Every weight under its GGUF name, Q/K permuted for llama.cpp's rotary layout, in `out_type`."""
    import gguf
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise InvalidInputError(f"{folder} holds no .safetensors weights: convert it with {CONVERTER}")
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, int(config["num_hidden_layers"]))
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    for file in files:
        with safe_open(str(file), framework="pt") as weights:
            for key in sorted(weights.keys()):
                if key == "lm_head.weight" and config.get("tie_word_embeddings", False):
                    continue  # llama.cpp reads a tied head from token_embd: no output.weight
                if key.endswith("rotary_emb.inv_freq"):
                    continue  # computed by llama.cpp from rope.freq_base
                target = names.get_name(key, try_suffixes=(".weight", ".bias"))
                if target is None:
                    raise InvalidInputError(f"the weight {key} of {file.name} has no GGUF name: convert the merged "
                                            f"folder with {CONVERTER}")
                data = weights.get_tensor(key).float().numpy()
                if key.endswith(("q_proj.weight", "q_proj.bias")):
                    data = _permute(data, heads)
                elif key.endswith(("k_proj.weight", "k_proj.bias")):
                    data = _permute(data, kv_heads)
                _add_tensor(writer, target, data, out_type)


def _permute(weights: np.ndarray[Any, Any], heads: int) -> np.ndarray[Any, Any]:
    """convert_hf_to_gguf.py's LlamaModel.permute: each head's rotary halves interleaved, as llama.cpp rotates."""
    return (weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _add_tensor(writer: gguf.GGUFWriter, name: str, data: np.ndarray[Any, Any], out_type: str) -> None:
    """Norms and other 1-D tensors in float32; matrices in f16, f32 or q8_0 (f16 where a row is no Q8_0 block)."""
    import gguf
    import numpy as np

    if data.ndim < 2 or out_type == "f32":
        writer.add_tensor(name, data.astype(np.float32))
        return
    if out_type == "q8_0":
        try:
            quantized = gguf.quants.quantize(data.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
        except gguf.QuantError:  # a row length not a multiple of Q8_0's 32-value block
            pass
        else:
            writer.add_tensor(name, quantized, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            return
    writer.add_tensor(name, data.astype(np.float16))


def ollama_modelfile(gguf_file: Path, *, system_prompt: str | None = None) -> str:
    """An Ollama Modelfile for `gguf_file` (FROM beside it), with a TEMPLATE when its chat template is ChatML."""
    import gguf

    field = gguf.GGUFReader(gguf_file).fields.get("tokenizer.chat_template")
    template = str(field.contents()) if field is not None else None
    lines = ["# Ollama: `ollama create NAME -f Modelfile` in this folder, then `ollama run NAME`",
             f"FROM ./{gguf_file.name}"]
    default_system = _chatml_default_system(template) if template else None
    if default_system is None:
        lines.append("# no TEMPLATE: the chat template is not ChatML; Ollama uses the GGUF's tokenizer.chat_template")
    else:
        lines.append(OLLAMA_CHATML)
        system_prompt = system_prompt or default_system  # what the template adds when a chat has no system turn
    if system_prompt:
        lines.append(f'SYSTEM """{system_prompt.replace(chr(34) * 3, chr(39) * 3)}"""')  # """ would end it
    return "\n".join(lines) + "\n"


def _chatml_default_system(template: str) -> str | None:
    """None where the template does not render ChatML; else the system prompt it adds to a chat without one ("")."""
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def render(messages: list[dict[str, str]]) -> str:
        """The template rendered as transformers and llama-cpp-python render it, with the generation prompt."""
        environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                    extensions=["jinja2.ext.loopcontrols"])
        return environment.from_string(template).render(messages=messages, add_generation_prompt=True,
                                                        bos_token="", eos_token="<|im_end|>")

    chat = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
            {"role": "assistant", "content": "A"}, {"role": "user", "content": "V"}]
    expected = "".join(CHATML_TURN.format(**message) for message in chat) + CHATML_PROMPT
    try:
        if render(chat) != expected:
            return None
        alone = render(chat[1:2])
    except (TemplateError, TypeError, ValueError):  # a template that refuses such a chat is no ChatML one
        return None
    user_turn = CHATML_TURN.format(**chat[1]) + CHATML_PROMPT
    if alone == user_turn:
        return ""
    match = re.fullmatch(re.escape("<|im_start|>system\n") + r"(.*)" + re.escape("<|im_end|>\n" + user_turn),
                         alone, flags=re.DOTALL)
    return match[1] if match else None
