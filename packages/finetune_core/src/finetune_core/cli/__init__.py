"""The `finetune` command line; plugins add commands through `finetune_register_commands`."""

from __future__ import annotations

from pathlib import Path

import click

from finetune_core import __version__
from finetune_core.cli.common import EXIT_STATUS_HELP, CliState
from finetune_core.cli.demo import demo
from finetune_core.cli.evaluate import evaluate
from finetune_core.cli.keys import keys
from finetune_core.cli.maintenance import maintenance
from finetune_core.cli.pipeline import chunk, chunks, export, generate, ingest, sources, stats
from finetune_core.cli.projects import project
from finetune_core.cli.run import run
from finetune_core.cli.training import fine_tunes_group, judge, models, train
from finetune_core.plugins import load_plugins


@click.group(epilog=EXIT_STATUS_HELP)
@click.version_option(__version__, prog_name="finetune")
@click.option("--workspace", "workspace_path", type=click.Path(path_type=Path), default=Path("finetune-workspace"),
              envvar="FINETUNE_WORKSPACE", show_default=True, help="Folder holding the database and files.")
@click.option("--database-url", envvar="FINETUNE_DATABASE_URL", default=None,
              help="SQLAlchemy URL (e.g. postgresql+psycopg://...); default: SQLite in the workspace.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
@click.pass_context
def cli(ctx: click.Context, workspace_path: Path, database_url: str | None, as_json: bool) -> None:
    """Turn documents into LLM fine-tuning datasets."""
    state = CliState(workspace_path=workspace_path, as_json=as_json, database_url=database_url)
    ctx.obj = state
    ctx.call_on_close(state.close)


for command in (demo, project, run, ingest, sources, chunk, chunks, generate, stats, export, judge, keys, train,
                fine_tunes_group, models, evaluate, maintenance):
    cli.add_command(command)

load_plugins().hook.finetune_register_commands(cli=cli)


def main() -> None:
    cli()
