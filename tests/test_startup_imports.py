"""What the dashboard's start imports: not the PostgreSQL driver on SQLite (Peewee would import it, 90-240 ms of
the start; `models` hides it while Peewee is imported and the PostgreSQL backend binds it when first used)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_dashboard_and_the_cli_start_without_the_postgresql_driver():
    assert _run("import sys, tui.cli, tui.app, models.db; print('psycopg' in sys.modules)") == "False"


def test_the_driver_is_bound_when_a_postgresql_database_is_made():
    pytest.importorskip("psycopg")
    out = _run(
        "import models, peewee, sys; assert peewee.psycopg is None and 'psycopg' not in sys.modules; "
        "from models.backends.postgres.database import PostgresDatabase; "
        "db = PostgresDatabase('postgresql://nobody@127.0.0.1:1/none'); "
        "print(peewee.psycopg is sys.modules['psycopg'], type(db._adapter).__name__, "
        "peewee.Psycopg3Adapter.txn_idle is not None)"
    )
    assert out == "True Psycopg3Adapter True"
