"""What a process that opens a workspace and loads the plugins does not import.

A training job, a worker between jobs and every CLI command open a workspace and load the
plugins; the libraries of the file loaders, the key cipher and the migrations are imported only
where a DOCX, an HTML page or a video is read, a key is stored or read, or the schema is behind.
Each stays ~2-7 MB resident and part of a second of start-up out of processes that never use them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from finetune_core.testing import open_test_workspace

ON_FIRST_USE = ("alembic", "cryptography", "docx", "lxml", "pypdf", "requests", "selectolax", "youtube_transcript_api")

PROBE = """
import json, sys
from finetune_core import Workspace
from finetune_core.plugins import registries

with Workspace.open(sys.argv[1]) as workspace:
    loaded = registries()
    assert {"docx", "html", "youtube"} <= set(loaded.sources.names()), loaded.sources.names()
print(json.dumps(sorted(name for name in json.loads(sys.argv[2]) if name in sys.modules)))
"""


def imported_by_an_open(root: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, str(root), json.dumps(ON_FIRST_USE)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_opening_a_workspace_at_head_imports_no_loader_library_cipher_or_alembic(tmp_path: Path) -> None:
    with open_test_workspace(tmp_path):
        pass  # the schema is created here, in the test's process
    assert imported_by_an_open(tmp_path) == []


def test_a_new_workspace_imports_alembic_to_create_its_schema(tmp_path: Path) -> None:
    assert imported_by_an_open(tmp_path / "new") == ["alembic"]
