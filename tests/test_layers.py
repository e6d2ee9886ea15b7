"""The layers point one way: models/ and mail/ never import Textual (as harlequin checks its core)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "package,forbidden",
    [("models", {"textual", "rich", "tui", "mail", "smtplib", "yagmail"}), ("mail", {"textual", "rich", "tui"})],
)
def test_package_does_not_import(package, forbidden):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    for path in files:
        bad = _imports(path) & forbidden
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_widgets_hold_no_sql():
    for path in sorted((ROOT / "tui").rglob("*.py")):
        imports = _imports(path)
        assert "peewee" not in imports or path.name == "cli.py", f"{path.relative_to(ROOT)} imports peewee"
        assert "sqlite3" not in imports, f"{path.relative_to(ROOT)} imports sqlite3"
