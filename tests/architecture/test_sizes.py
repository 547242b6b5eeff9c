"""Size limits on the five packages' source: no module over 400 lines, no class over 30 methods.

A module or class past them has grown more than one concept: split it along a concept boundary (as
finetune_core.domain and finetune_core.generation.parsing were), re-exporting so importers do not change.
Migration scripts (`migrations` folders) are generated and exempt.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = [
    REPO / "packages" / "finetune_core" / "src",
    REPO / "packages" / "finetune_providers" / "src",
    REPO / "packages" / "finetune_local_gpu" / "src",
    REPO / "apps" / "web" / "src",
    REPO / "apps" / "worker" / "src",
]
MAX_LINES = 400
MAX_METHODS = 30  # functions defined directly in the class body (properties and static methods included)


def source_modules() -> Iterator[Path]:
    for root in SOURCE_ROOTS:
        assert root.is_dir(), f"{root} is gone: update SOURCE_ROOTS"
        for path in sorted(root.rglob("*.py")):
            if "migrations" not in path.relative_to(root).parts:
                yield path


def test_the_source_is_found() -> None:
    modules = list(source_modules())
    assert len(modules) > 100, f"only {len(modules)} modules found: the limits below would check next to nothing"


def test_no_module_is_over_400_lines() -> None:
    over = {}
    for path in source_modules():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            over[str(path.relative_to(REPO))] = lines
    assert not over, f"modules over {MAX_LINES} lines (split each along a concept boundary): {over}"


def test_no_class_has_over_30_methods() -> None:
    over = {}
    for path in source_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                methods = sum(isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) for item in node.body)
                if methods > MAX_METHODS:
                    over[f"{path.relative_to(REPO)}:{node.lineno} {node.name}"] = methods
    assert not over, f"classes with over {MAX_METHODS} methods (split the concepts they hold): {over}"
