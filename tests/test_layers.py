"""The layers point one way: models/, mail/ and portal/ never import Textual (as harlequin checks its core),
and the portal and the dashboard never import each other."""

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
    [
        ("models", {"textual", "rich", "tui", "mail", "portal", "smtplib", "yagmail", "starlette", "uvicorn"}),
        ("mail", {"textual", "rich", "tui", "portal", "starlette", "uvicorn"}),
        ("portal", {"textual", "rich", "tui"}),
    ],
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


def test_only_the_portal_commands_import_the_portal():
    """`tui/` reaches `portal/` in one place, `cli_portal.py` (the `serve` command); the dashboard never does."""
    for path in sorted((ROOT / "tui").rglob("*.py")):
        if path.name != "cli_portal.py":
            assert "portal" not in _imports(path), f"{path.relative_to(ROOT)} imports the portal package"


def test_importing_the_portal_loads_no_textual():
    """As harlequin checks its core: import the portal app in a fresh interpreter and look at what got loaded
    (this sees imports made through `importlib` or relative imports, which reading the source would miss)."""
    import subprocess
    import sys

    code = (
        "import sys, portal.app, portal.serve, portal.api; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui', 'rich')); print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
