"""Shared fixtures: a real SQLite file per test, a frozen clock, and the CLI runner."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from models import clock
from models.db import database, open_database

pytest_plugins = ["tests.fixtures_smtp", "tests.fixtures_tui", "tests.fixtures_browser"]

FIXED_NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)

DATA = Path(__file__).resolve().parent / "fixtures"
"""Sample inputs in real-world layouts (copied from shared/data so a bare clone has them)."""
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh database file under tmp_path, opened and migrated; also what the CLI uses."""
    path = tmp_path / "portal.db"
    monkeypatch.setenv("CLIENT_PORTAL_DB", str(path))
    for var in ("CLIENT_PORTAL_SMTP_HOST", "CLIENT_PORTAL_SMTP_PORT", "CLIENT_PORTAL_SMTP_USER",
                "CLIENT_PORTAL_SMTP_PASSWORD", "CLIENT_PORTAL_SMTP_SECURITY", "CLIENT_PORTAL_MAIL_FROM",
                "SSH_CLIENT", "SSH_CONNECTION"):
        monkeypatch.delenv(var, raising=False)
    open_database(path)
    yield path
    database.close()


@pytest.fixture
def db(db_path: Path):
    """The open database, with a default domain set up (most operations need one)."""
    from models import domains

    domains.add_domain("portal.example.com")
    return database


@pytest.fixture
def frozen_clock():
    """Freeze the domain clock at FIXED_NOW; `frozen_clock[0] = ...` moves it."""
    with clock.frozen(FIXED_NOW) as cell:
        yield cell


@pytest.fixture
def cli(db_path: Path):
    """Run the real `client-portal` command (click's runner) against the test database."""
    from tui.cli import main

    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        database.close()  # the command opens the file itself, as it would in its own process
        result = runner.invoke(main, ["--db", str(db_path), *args], input=input, catch_exceptions=False)
        return result

    return run
