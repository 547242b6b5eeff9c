"""Model resolution (finetuneflow §3): a Hugging Face model id or a local folder → what it is and what it needs.

From the Hub: the model info (`GET /api/models/{id}`: licence, gating, the safetensors parameter count) and
its config.json. From a folder: config.json, the safetensors headers and the README's licence. Where no
safetensors count exists the parameters are computed from the config (see `parameters`). The memory
estimates and their formulas are in `estimates`. The Hub's address is `endpoint`, else HF_ENDPOINT.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune_core.errors import FinetuneError, InvalidInputError, NotFoundError
from finetune_core.model_tools import HardwareReport
from finetune_core.model_tools import ModelInfo as ModelInfo  # the core's; re-exported for old imports

from finetune_local_gpu import estimates, parameters

DEFAULT_BATCH_SIZE = 4
DEFAULT_SEQ_LEN = 2048
GATED_LICENCES = re.compile(r"^(llama|gemma)", re.IGNORECASE)
TRAINABLE_ARCHITECTURE = re.compile(r"(ForCausalLM|LMHeadModel|ForConditionalGeneration)$")
REPO_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
HUB_TIMEOUT_S = 15
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


@dataclass
class Found:
    """What a source (the Hub or a folder) says about a model, before any estimate."""

    model_id: str
    config: Mapping[str, Any] = field(default_factory=dict)
    weights_parameters: int | None = None
    license: str | None = None
    gated: bool = False
    warnings: list[str] = field(default_factory=list)


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection errors of the HTTP client huggingface_hub uses: httpx2 since its 2.0, httpx before."""
    errors: list[type[BaseException]] = [OSError]
    for name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(name).HTTPError)
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def not_found(ref: str) -> NotFoundError:
    return NotFoundError(f"Model '{ref}' not found on HuggingFace Hub", error_code="MODEL_NOT_FOUND", model_id=ref)


def _looks_like_path(ref: str) -> bool:
    return ref.startswith(("/", ".", "~")) or "\\" in ref or not REPO_ID.match(ref)


def find_local(folder: Path, ref: str) -> Found:
    """A model saved with `save_pretrained` (config.json, *.safetensors) in `folder`."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise InvalidInputError(f"'{ref}' has no config.json: it is not a Hugging Face model folder", model_id=ref)
    config = json.loads(config_path.read_text(encoding="utf-8"))
    return Found(model_id=str(folder.resolve()), config=config,
                 weights_parameters=parameters.from_local_weights(folder, config), license=_readme_licence(folder))


def _readme_licence(folder: Path) -> str | None:
    readme = folder / "README.md"
    if not readme.is_file():
        return None
    from huggingface_hub.repocard import metadata_load

    try:
        metadata = metadata_load(readme) or {}
    except Exception:  # a README whose front matter is not YAML: no licence, not an error
        return None
    licence = metadata.get("license_name") if metadata.get("license") == "other" else metadata.get("license")
    return str(licence) if licence else None


def find_on_hub(repo_id: str, *, endpoint: str | None, token: str | None, cache_dir: str | Path | None) -> Found:
    """The model info and config.json of `repo_id` on the Hub at `endpoint`."""
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HFValidationError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    transport_errors = _transport_errors()
    try:
        info = HfApi(endpoint=endpoint, token=token).model_info(repo_id, token=token, timeout=HUB_TIMEOUT_S)
    except (RepositoryNotFoundError, HFValidationError):
        raise not_found(repo_id) from None
    except OfflineModeIsEnabled:
        raise _hub_unavailable(repo_id, "offline mode is on (HF_HUB_OFFLINE=1)") from None
    except transport_errors as exc:
        raise _hub_unavailable(repo_id, f"{type(exc).__name__}: {exc}") from None
    found = Found(model_id=repo_id, config=info.config or {}, license=_hub_licence(info),
                  gated=bool(info.gated), weights_parameters=info.safetensors.total if info.safetensors else None)
    try:
        path = hf_hub_download(repo_id, "config.json", revision=info.sha, endpoint=endpoint, token=token,
                               cache_dir=cache_dir, etag_timeout=HUB_TIMEOUT_S)
        found.config = json.loads(Path(path).read_text(encoding="utf-8"))
    except GatedRepoError:
        found.gated = True
        found.warnings.append("config.json could not be read: the model is gated and this token has no access, "
                              "so the shape and context length are unknown")
    except EntryNotFoundError:
        found.warnings.append("The model has no config.json: it is not a transformers model")
    except transport_errors as exc:
        raise _hub_unavailable(repo_id, f"{type(exc).__name__}: {exc}") from None
    return found


def _hub_licence(info: Any) -> str | None:
    card = info.card_data
    licence = getattr(card, "license", None) if card is not None else None
    if licence == "other":
        licence = getattr(card, "license_name", None) or licence
    if not licence:
        tags = [tag for tag in (info.tags or []) if tag.startswith("license:")]
        licence = tags[0].removeprefix("license:") if tags else None
    return str(licence) if licence else None


def _hub_unavailable(repo_id: str, why: str) -> FinetuneError:
    return FinetuneError(f"Cannot reach the Hugging Face Hub to resolve '{repo_id}': {why}",
                         error_code="HUB_UNAVAILABLE", model_id=repo_id)


def _shape(config: Mapping[str, Any]) -> estimates.ModelShape | None:
    try:
        return estimates.ModelShape(int(config["hidden_size"]), int(config["num_hidden_layers"]),
                                    int(config["vocab_size"]))
    except (KeyError, TypeError, ValueError):
        return None


def _fit_warning(info: ModelInfo, hardware: HardwareReport, batch_size: int, seq_len: int) -> str | None:
    """One warning naming every estimate that exceeds the detected GPU's memory, or None if all fit."""
    vram = hardware.vram_total_gb
    if vram is None or info.estimated_vram_fp16_gb is None or info.estimated_vram_4bit_gb is None:
        return None
    training = info.estimated_training_gb or {}
    needs = [("fp16 inference", info.estimated_vram_fp16_gb), ("4-bit inference", info.estimated_vram_4bit_gb),
             ("full fine-tuning", training.get("full")), ("LoRA", training.get("lora")),
             ("QLoRA", training.get("qlora"))]
    too_big = [f"{label} ~{gb} GB" for label, gb in needs if gb is not None and not estimates.fits(gb, vram)]
    if not too_big:
        return None
    gpu = f"{hardware.gpu_name or 'GPU'}, {vram * estimates.GIB / estimates.GB:.1f} GB"
    advice = "" if training.get("qlora") is None or estimates.fits(training["qlora"], vram) else \
        " Nothing trains on it: use a smaller model, batch size or sequence length."
    return (f"Will not fit the detected GPU ({gpu}) at batch size {batch_size} and sequence length {seq_len}: "
            f"{', '.join(too_big)}.{advice}")


def describe(found: Found, *, batch_size: int, seq_len: int, hardware: HardwareReport | None) -> ModelInfo:
    """Fill in the architecture, the parameter count, the estimates and the warnings."""
    text = parameters.text_config(found.config)
    architectures = found.config.get("architectures") or []
    warnings = list(found.warnings)
    num_parameters = found.weights_parameters or parameters.from_config(found.config)
    model_type = found.config.get("model_type") or text.get("model_type")
    if num_parameters is None:
        families = ", ".join(sorted(parameters.SUPPORTED_FAMILIES))
        warnings.append(f"Parameter count unknown: no safetensors weights, and the {model_type or 'unknown'} family "
                        f"is not one this computes from config.json ({families})")
    shape = _shape(text)
    info = ModelInfo(
        model_id=found.model_id,
        model_type=model_type,
        num_parameters=num_parameters,
        architecture=architectures[0] if architectures else None,
        vocab_size=text.get("vocab_size"),
        max_position_embeddings=next((text[key] for key in CONTEXT_KEYS if text.get(key)), None),
        license=found.license,
        gated=found.gated or bool(found.license and GATED_LICENCES.match(found.license)),
    )
    if num_parameters is not None:
        info.estimated_vram_fp16_gb = estimates.fp16_inference_gb(num_parameters)
        info.estimated_vram_4bit_gb = estimates.nf4_inference_gb(num_parameters)
        info.estimated_training_gb = estimates.training_gb(num_parameters, shape, batch_size=batch_size,
                                                           seq_len=seq_len)
        if shape is None:
            warnings.append("Training estimates leave out activation memory: the model's shape is unknown")
    if info.gated:
        warnings.append(f"Model '{found.model_id}' is gated ({info.license or 'licence'}): accept its terms on the "
                        "Hugging Face Hub and use a token (HF_TOKEN) that has access")
    trainable = info.architecture is None or bool(TRAINABLE_ARCHITECTURE.search(info.architecture))
    if not trainable:
        warnings.append(f"{info.architecture} is not a causal language model: the local trainer cannot fine-tune it")
    if hardware is not None and (fit := _fit_warning(info, hardware, batch_size, seq_len)):
        warnings.append(fit)
    info.valid = trainable and num_parameters is not None and bool(info.architecture or model_type)
    info.warnings = warnings
    return info


def _is_folder(path: Path) -> bool:
    """Whether `path` is a folder; a name the system cannot even look up (too long...) is not one."""
    try:
        return path.is_dir()
    except OSError:
        return False


def resolve_model(
    ref: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seq_len: int = DEFAULT_SEQ_LEN,
    endpoint: str | None = None,
    token: str | None = None,
    hardware: HardwareReport | None = None,
    cache_dir: str | Path | None = None,
    allow_local: bool = True,
) -> ModelInfo:
    """Resolve a Hub model id or a local folder; `hardware` adds the warning for what will not fit its GPU.

    Raises NotFoundError("Model 'ref' not found on HuggingFace Hub") for an unknown id or a missing folder.
    With `allow_local=False` (what a server takes from its clients) folders are never read: only the Hub.
    """
    if batch_size < 1 or seq_len < 1:
        raise InvalidInputError("batch_size and seq_len must be at least 1", batch_size=batch_size, seq_len=seq_len)
    folder = Path(ref).expanduser()
    if allow_local and _is_folder(folder):
        found = find_local(folder, ref)
    elif _looks_like_path(ref):
        raise not_found(ref)
    else:
        found = find_on_hub(ref, endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token,
                            cache_dir=cache_dir)
    return describe(found, batch_size=batch_size, seq_len=seq_len, hardware=hardware)
