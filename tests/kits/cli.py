"""The real `finetune` executable, run in a subprocess as a user runs it (the end-to-end CLI tests)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

FINETUNE = shutil.which("finetune")  # None: the console script is not installed (the tests skip)


def finetune(workspace: Path, *args: str, check: bool = True, input_text: str | None = None,
             timeout: float = 600) -> subprocess.CompletedProcess[str]:
    assert FINETUNE is not None
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([FINETUNE, "--workspace", str(workspace), *args], capture_output=True, text=True,
                          check=check, env=env, timeout=timeout, input=input_text)


def finetune_json(workspace: Path, *args: str) -> Any:
    return json.loads(finetune(workspace, "--json", *args).stdout)
