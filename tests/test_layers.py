"""The layers point one way, as `.importlinter` says: tui/ and portal/ -> mail/ -> models/; models/, mail/ and
portal/ never import Textual (as harlequin checks its core); tui/ holds no SQL and never touches the tables; only
models/backends/ imports a database driver; no package has an import loop. The contracts are checked by
import-linter (grimp's graph: relative imports and imports inside functions count) plus the imports made with
importlib (`tests/import_contracts.py`), and each kind of violation is planted in a copy to prove it is caught."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "tests" / "import_contracts.py"
PACKAGES = ("models", "mail", "portal", "tui")


def _check(root: Path) -> subprocess.CompletedProcess:
    """Run the contract check on the packages under `root` (in a fresh interpreter, `root` first on the path)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HOME": str(root)}
    return subprocess.run([sys.executable, str(CHECK), str(root)], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def test_every_import_contract_is_kept():
    result = _check(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def copy_root(tmp_path_factory) -> Path:
    """A copy of the packages and the contracts, to plant violations in."""
    root = tmp_path_factory.mktemp("layers")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", root / ".importlinter")
    return root


PLANTED = {
    # (file, text appended or the replacement), the contract that must break
    "relative import loop": ("models/base.py", "\nfrom . import db  # noqa\n", "No import loops"),
    "widget imports the tables": (
        "tui/widgets/search_bar.py", "\nfrom models.entities import Contact  # noqa\n", "tui/ holds no SQL"),
    "widget imports the tables with importlib": (
        "tui/widgets/search_bar.py",
        "\nimport importlib\n\n_entities = importlib.import_module('models.entities')\n", "tui/ holds no SQL"),
    "screen imports the driver relatively through the engine": (
        "tui/screens/main.py", "\nfrom models.backends.sqlite import database as _db  # noqa\n",
        "nothing imports the engines"),
    "domain module imports the driver": ("models/contacts.py", "\nimport sqlite3  # noqa\n", "database driver"),
    "model layer imports Textual": ("models/listing.py", "\nimport textual  # noqa\n", "never import Textual"),
    "mail imports the dashboard": ("mail/outbox.py", "\nimport tui.text  # noqa\n", "Layers point one way"),
    "the command loop of a late import": (
        "tui/cli_web.py", None, "No import loops"),
}


@pytest.mark.parametrize("name", list(PLANTED))
def test_a_planted_violation_is_caught(copy_root, tmp_path, name):
    root = tmp_path / "root"
    shutil.copytree(copy_root, root)
    relative, text, contract = PLANTED[name]
    target = root / relative
    source = target.read_text()
    if text is None:  # what tui/cli_mail did before: import tui.cli, which loads it with importlib
        assert "from tui import cli_common as base" in source
        target.write_text(source.replace("from tui import cli_common as base", "from tui import cli as base"))
    else:
        target.write_text(source + text)
    result = _check(root)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken, broken


def test_importing_the_portal_loads_no_textual():
    """As harlequin checks its core: import the portal app in a fresh interpreter and look at what got loaded
    (this sees imports made through `importlib` or relative imports, which reading the source would miss)."""
    code = (
        "import sys, portal.app, portal.serve, portal.api; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui', 'rich')); print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
