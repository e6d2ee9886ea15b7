"""What a user can fix about a PostgreSQL URL is said in one line, with no traceback: the server cannot be reached,
the password is wrong, the database does not exist, `pg_trgm` cannot be made. Each is tried for real against the
tests' own server (tests/fixtures_pg.py), through the command line as a user meets it, and through
`open_database` as the dashboard and the portal service meet it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from models.db import database, open_database
from models.errors import PortalError
from tests.fixtures_pg import PASSWORD_GROUP, PostgresServer, free_port


def _cli_error(url: str, *args: str) -> str:
    """Run `client-portal --db URL ...`; it must fail with exactly one line on stderr and no traceback."""
    from tui.cli import main

    _close()
    result = CliRunner().invoke(main, ["--db", url, *(args or ("stats", "--json"))], catch_exceptions=False)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert result.stdout == ""
    return lines[0]


def _close() -> None:
    if getattr(database, "obj", database) is not None:
        database.close()


def _open_error(url: str) -> str:
    with pytest.raises(PortalError) as raised:
        open_database(url)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_a_server_that_is_not_there_is_unreachable(pg_server: PostgresServer, monkeypatch):
    monkeypatch.delenv("CLIENT_PORTAL_DB", raising=False)
    port = free_port()  # nothing listens there
    url = f"postgresql://postgres@127.0.0.1:{port}/portal"
    line = _cli_error(url)
    assert line == (f"error: cannot reach the PostgreSQL server at 127.0.0.1:{port}: is it running, and are the host "
                    "and port right?")
    assert "cannot reach the PostgreSQL server" in _open_error(url)


def test_a_wrong_password_is_an_authentication_failure(pg_server: PostgresServer, pg_empty_url: str, monkeypatch):
    monkeypatch.delenv("CLIENT_PORTAL_DB", raising=False)
    pg_server.admin("DROP ROLE IF EXISTS alice")
    pg_server.admin(f"CREATE ROLE alice LOGIN PASSWORD 'right horse battery' IN ROLE {PASSWORD_GROUP}")
    name = pg_empty_url.rsplit("/", 1)[1]
    wrong = pg_server.url(name, user="alice", password="wrong")
    line = _cli_error(wrong)
    assert line == (f"error: the PostgreSQL server at 127.0.0.1:{pg_server.port} refused user 'alice': "
                    "authentication failed; check the user and password in the URL")
    assert "wrong" not in line  # the password is never repeated
    assert "authentication failed" in _open_error(wrong)
    missing = pg_server.url(name, user="alice")  # no password at all
    assert "authentication failed" in _cli_error(missing)


def test_a_database_that_does_not_exist_is_named(pg_server: PostgresServer, monkeypatch):
    monkeypatch.delenv("CLIENT_PORTAL_DB", raising=False)
    url = pg_server.url("no_such_portal")
    line = _cli_error(url)
    assert line == (f"error: the database 'no_such_portal' does not exist on the PostgreSQL server at "
                    f"127.0.0.1:{pg_server.port}: create it (createdb no_such_portal) or check the URL")
    assert "does not exist" in _open_error(url)
    # Nothing was made on the way.
    assert pg_server.admin("SELECT 1 FROM pg_database WHERE datname = 'no_such_portal'") == []


def test_a_database_where_pg_trgm_cannot_be_created_says_so_and_changes_nothing(
        pg_server: PostgresServer, pg_empty_url: str, monkeypatch):
    """A role that is no superuser and may not create extensions in the database (no CREATE on it), while it may
    create tables: the schema stops at pg_trgm, with the fix, and leaves no table behind."""
    monkeypatch.delenv("CLIENT_PORTAL_DB", raising=False)
    name = pg_empty_url.rsplit("/", 1)[1]
    pg_server.admin("DROP ROLE IF EXISTS bob")
    pg_server.admin("CREATE ROLE bob LOGIN")
    pg_server.admin(f'GRANT CONNECT ON DATABASE "{name}" TO bob')
    pg_server.admin("GRANT CREATE, USAGE ON SCHEMA public TO bob", database=name)
    url = pg_server.url(name, user="bob")
    line = _cli_error(url)
    assert line.startswith(f"error: PostgreSQL's pg_trgm extension is not available in the database '{name}'")
    assert line.endswith("install postgresql-contrib on the server and run CREATE EXTENSION pg_trgm in it as a "
                         "superuser")
    assert "pg_trgm" in _open_error(url)
    tables = pg_server.admin("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", database=name)
    assert tables == []
    # Once an admin made the extension there, the same user opens it and gets the whole schema.
    pg_server.admin("CREATE EXTENSION pg_trgm", database=name)
    open_database(url)
    try:
        assert database.execute_sql("SELECT COUNT(*) FROM contact").fetchone()[0] == 0
    finally:
        database.close()
