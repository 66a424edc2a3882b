"""What ships: no module under chaos/ or functions/ imports a test-only library."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEST_ONLY = frozenset({"hypothesis", "pytest", "_pytest", "pytest_localserver"})


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_shipped_code_imports_no_test_library() -> None:
    modules = sorted([*(REPO / "chaos").rglob("*.py"), *(REPO / "functions").rglob("*.py")])
    assert len(modules) > 20  # the walk found the packages
    offenders = {str(p.relative_to(REPO)): sorted(_imports(p) & TEST_ONLY) for p in modules}
    assert not {k: v for k, v in offenders.items() if v}


def test_the_check_sees_an_import(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import os\nfrom hypothesis import strategies as st\n")
    assert _imports(sample) & TEST_ONLY == {"hypothesis"}
