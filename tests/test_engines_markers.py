"""Engine-specific SQL lives in models/backends/ only: a scan of every other module for SQLite's markers (pragmas,
FTS5, `INDEXED BY`, `lastrowid`, the driver, `data_version`, a connection's `interrupt()`, `sqlite_master`,
`INSERT OR IGNORE`, `GLOB`), and a planted marker to prove the scan finds one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "mail", "portal", "tui")
ENGINES = ROOT / "models" / "backends"

MARKERS = {
    "PRAGMA": re.compile(r"\bpragma\b", re.IGNORECASE),
    "FTS5": re.compile(r"fts5", re.IGNORECASE),
    "INDEXED BY": re.compile(r"\bINDEXED BY\b"),
    "lastrowid": re.compile(r"lastrowid"),
    "sqlite3": re.compile(r"\bsqlite3\b"),
    "data_version": re.compile(r"data_version"),
    "interrupt()": re.compile(r"\.interrupt\(\)"),
    "sqlite_master": re.compile(r"sqlite_master|sqlite_schema"),
    "INSERT OR": re.compile(r"\bINSERT OR (IGNORE|REPLACE)\b"),
    "GLOB": re.compile(r"\bGLOB\b"),
}
"""What only SQLite understands (or only the SQLite driver has), as it appears in SQL text or code."""


def engine_markers(root: Path, engines: Path) -> list[str]:
    """`path:line: marker` for each engine-specific marker in a module of `root`'s packages outside `engines`."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if engines in path.parents:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for name, pattern in MARKERS.items():
                    if pattern.search(line):
                        found.append(f"{path.relative_to(root)}:{number}: {name}: {line.strip()}")
    return found


def test_no_module_outside_the_backends_holds_engine_specific_sql():
    found = engine_markers(ROOT, ENGINES)
    assert not found, "\n".join(found)


def test_the_scan_finds_a_planted_marker_and_ignores_the_backends(tmp_path):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "models" / "backends").mkdir()
    (tmp_path / "models" / "backends" / "engine.py").write_text('SQL = "PRAGMA user_version"\n')
    (tmp_path / "tui" / "screen.py").write_text("def stop(connection):\n    connection.interrupt()\n")
    (tmp_path / "models" / "links.py").write_text("new_id = cursor.lastrowid\n")
    (tmp_path / "mail" / "clean.py").write_text('"""Indexed by id; nothing here is SQL."""\n')
    found = engine_markers(tmp_path, tmp_path / "models" / "backends")
    assert found == [
        "models/links.py:1: lastrowid: new_id = cursor.lastrowid",
        "tui/screen.py:2: interrupt(): connection.interrupt()",
    ]
