"""A third-party plugin is found through its entry point alone, with no change to core."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from finetune_core import DuplicateNameError, Workspace
from finetune_core.plugins import registries
from finetune_core.services import sources

PLUGIN_SOURCE = '''
from finetune_core import Document, FileLoader, SourceType, hookimpl


def _load(data, options):
    return Document(text=data.decode("utf-8").upper(), metadata={"loaded_by": "shouty"})


@hookimpl
def finetune_register_sources(register):
    register(FileLoader(name="shouty", source_type=SourceType.TEXT, mime_types=("text/plain",),
                        load=_load, priority=10))
'''

CLASHING_SOURCE = '''
from finetune_core import Document, FileLoader, SourceType, hookimpl


@hookimpl
def finetune_register_sources(register):
    register(FileLoader(name="pdf", source_type=SourceType.PDF, mime_types=("application/pdf",),
                        load=lambda data, options: Document(text="")))
'''


def _install_distribution(site: Path, dist: str, module: str, source: str) -> None:
    """Write a module and a .dist-info declaring it under the `finetune` entry-point group."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[finetune]\n{module} = {module}\n")
    importlib.invalidate_caches()


@pytest.fixture
def site_dir(tmp_path: Path) -> Iterator[Path]:
    site = tmp_path / "site"
    site.mkdir()
    sys.path.insert(0, str(site))
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        for name in [name for name in sys.modules if name.startswith("thirdparty_")]:
            del sys.modules[name]
        registries(refresh=True)


def test_entry_point_plugin_loader_is_used(site_dir: Path, finetune_workspace: Workspace) -> None:
    _install_distribution(site_dir, "finetune-shouty", "thirdparty_shouty", PLUGIN_SOURCE)
    loaders = registries(refresh=True).sources
    assert "shouty" in loaders
    assert loaders.owner("shouty") == "thirdparty_shouty"

    project = finetune_workspace.create_project("plugins")
    source = sources.add_file(finetune_workspace, project.id, "note.txt", b"quiet words here")
    loaded = sources.load_source(finetune_workspace, source.id)

    assert loaded.status.value == "ready"
    with finetune_workspace.unit_of_work() as uow:
        document = uow.documents.get(source.id)
    assert document is not None
    assert document.text == "QUIET WORDS HERE"
    assert loaded.metadata["loaded_by"] == "shouty"


def test_duplicate_name_is_refused_with_both_plugins_named(site_dir: Path) -> None:
    _install_distribution(site_dir, "finetune-clash", "thirdparty_clash", CLASHING_SOURCE)
    with pytest.raises(DuplicateNameError) as excinfo:
        registries(refresh=True)
    message = str(excinfo.value)
    assert "source loader 'pdf'" in message
    assert "thirdparty_clash" in message
    assert "core_sources" in message
