"""`finetune export-model`: a completed local fine-tuning's adapter, configs, metrics, report and zip; with
`--gguf f16|f32|q8_0`, also the merged model as model.gguf (llama.cpp) and an Ollama Modelfile.

Only click is imported at module level: `finetune_core.cli` loads the plugins, this one included, while
it is itself being imported, so its helpers are imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export-model")
@click.option("--project", "project_ref", required=True, help="Project name or id.")
@click.option("--fine-tune", "fine_tune_id", default=None,
              help="The fine-tuning to export (default: the project's latest completed local one).")
@click.option("--merge", is_flag=True, help="Also save the adapter merged into the base model (merged/).")
@click.option("--gguf", "gguf", type=click.Choice(["f16", "f32", "q8_0"]), default=None,
              help="Also write the merged model as model.gguf of this type, with an Ollama Modelfile "
                   "(implies --merge; llama-architecture models).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Output folder (default: exports/<project>/model/<fine-tune> in the workspace file store).")
def export_model(project_ref: str, fine_tune_id: str | None, merge: bool, gguf: str | None,
                 out_dir: Path | None) -> None:
    """Export a trained local model: adapter, training config, metrics, report.md with its plot, one zip."""
    from finetune_core.cli.common import handle_errors

    handle_errors(_export)(project_ref, fine_tune_id, merge, gguf, out_dir)


def _export(project_ref: str, fine_tune_id: str | None, merge: bool, gguf: str | None, out_dir: Path | None) -> None:
    from finetune_core.cli.common import emit, make_table, state
    from finetune_core.errors import InvalidInputError
    from finetune_core.services import fine_tunes, projects

    from finetune_local_gpu import export as exports

    workspace = state().workspace
    project = projects.get_project(workspace, project_ref)
    if fine_tune_id is None:
        fine_tune = exports.latest_trained(workspace, project.id)
    else:
        fine_tune = fine_tunes.get_fine_tune(workspace, fine_tune_id)
        if fine_tune.project_id != project.id:
            raise InvalidInputError(f"fine-tuning {fine_tune_id} belongs to another project", fine_tune_id=fine_tune_id)
    result = exports.export_model(workspace, fine_tune.id, merge=merge, out_dir=out_dir, gguf=gguf)
    emit({"fine_tune_id": result.fine_tune_id, "folder": str(result.folder), "zip_path": str(result.zip_path),
          "files": [{"filename": name, "size_bytes": size} for name, size in result.files]},
         make_table(f"Export of fine-tuning {result.fine_tune_id}", ["file", "bytes"], result.files),
         message=f"Wrote {len(result.files)} files to {result.folder}")
