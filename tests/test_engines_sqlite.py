"""The engine interface (`models.backends.Backend`) on SQLite: how `open_database` picks the backend, the shared
database as a proxy (with SQLite's rollback fix kept), and each engine call the domain and the dashboard use
without knowing the engine: change notification, interrupting a query, insert-returning-id, error mapping."""

from __future__ import annotations

import sqlite3
import threading
import time

import peewee
import pytest

from models import db as dbmod
from models.backends import Backend, backend_for, is_server_url
from models.backends.sqlite import SqliteBackend
from models.backends.sqlite.database import PortalDatabase, _Savepoint
from models.base import database
from models.errors import PortalError


def test_open_database_picks_sqlite_for_a_path_and_initialises_the_shared_proxy(db_path):
    assert isinstance(dbmod.backend(), SqliteBackend)
    assert dbmod.backend().name == "sqlite"
    assert isinstance(database, peewee.DatabaseProxy)
    assert isinstance(database.obj, PortalDatabase)
    assert database.database == str(db_path)


def test_a_postgresql_url_is_a_server_and_anything_else_a_file(tmp_path):
    assert is_server_url("postgresql://admin@db.example.com:5432/portal")
    assert is_server_url("  POSTGRES://admin@localhost/portal")
    assert not is_server_url(str(tmp_path / "portal.db"))
    assert not is_server_url(tmp_path / "postgresql:" / "x.db")  # a Path is always a file
    assert isinstance(backend_for(tmp_path / "portal.db"), SqliteBackend)


def test_the_sqlite_backend_provides_every_call_of_the_interface():
    members = [name for name in Backend.__dict__ if not name.startswith("_")] + list(Backend.__annotations__)
    missing = [name for name in members if not hasattr(SqliteBackend, name)]
    assert not missing, missing
    assert isinstance(SqliteBackend(), Backend)


def test_reopening_another_file_keeps_one_sqlite_object_so_other_threads_follow_it(tmp_path):
    dbmod.open_database(tmp_path / "a.db")
    first = database.obj
    dbmod.open_database(tmp_path / "b.db")
    try:
        assert database.obj is first
        assert database.database == str(tmp_path / "b.db")
    finally:
        database.close()


def test_a_savepoint_through_the_proxy_is_the_one_with_the_rollback_fix(db_path):
    """Peewee's proxy makes its own plain savepoints; the rollback fix (a rollback after SQLite ended the
    transaction must not replace the real error) lives in PortalDatabase's, so the proxy hands out those."""
    with database.atomic():
        with database.atomic() as inner:
            assert isinstance(inner, _Savepoint)
    with database.transaction():
        assert isinstance(database.savepoint(), _Savepoint)


def test_the_change_token_moves_when_another_connection_commits(db_path):
    before = dbmod.changes_token()
    assert dbmod.changes_token() == before  # reading it changes nothing
    other = sqlite3.connect(db_path)
    other.execute("INSERT INTO setting (key, value) VALUES ('x', 'y')")
    other.commit()
    other.close()
    assert dbmod.changes_token() != before


def test_wait_for_change_returns_when_another_connection_commits_and_times_out_otherwise(db_path):
    token = dbmod.changes_token()
    assert dbmod.wait_for_change(token, 0.2) == token  # nothing changed: the same token after the timeout

    def write() -> None:
        time.sleep(0.2)
        other = sqlite3.connect(db_path)
        other.execute("INSERT INTO setting (key, value) VALUES ('seen', 'yes')")
        other.commit()
        other.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert dbmod.wait_for_change(token, 30) != token
    finally:
        writer.join()


def test_interrupt_stops_a_query_running_on_another_thread(db_path):
    handles: list[object] = []
    outcome: list[BaseException | None] = []
    started = threading.Event()

    def run() -> None:
        with database.connection_context():
            handles.append(dbmod.query_handle())
            started.set()
            try:  # counts to ten billion unless stopped
                database.execute_sql(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000000) "
                    "SELECT COUNT(*) FROM n"
                ).fetchone()
                outcome.append(None)
            except peewee.OperationalError as exc:
                outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(30)
    time.sleep(0.2)
    dbmod.interrupt(handles[0])
    worker.join(60)
    assert not worker.is_alive()
    assert outcome and outcome[0] is not None and "interrupt" in str(outcome[0])


def test_insert_returning_id_gives_the_new_id_or_none_when_nothing_went_in(db):
    from models import contacts

    ada = contacts.add_contact("ada@example.com", "Ada")
    sql = ('INSERT INTO "magic_link" ("contact_id", "purpose", "token_hash", "created_at", "created_by", '
           '"expires_at", "channel") SELECT "id", ?, ?, ?, ?, ?, ? FROM "contact" WHERE "id" = ?')
    stamp = "2026-11-24 09:30:00"
    engine = dbmod.backend()
    with database.atomic():
        first = engine.insert_returning_id(sql, ("login", "a" * 64, stamp, "t", stamp, "shown", ada.id))
        second = engine.insert_returning_id(sql, ("login", "b" * 64, stamp, "t", stamp, "shown", ada.id))
        none = engine.insert_returning_id(sql, ("login", "c" * 64, stamp, "t", stamp, "shown", ada.id + 99))
    assert isinstance(first, int) and second == first + 1
    assert none is None
    ids = [row[0] for row in database.execute_sql('SELECT "id" FROM "magic_link" ORDER BY "id"')]
    assert ids == [first, second]


def test_errors_are_mapped_to_one_line_for_people(db_path):
    engine = dbmod.backend()
    locked = peewee.OperationalError("database is locked")
    assert engine.is_busy(locked)
    assert "busy" in dbmod.database_error_message(locked)
    full = peewee.OperationalError("database or disk is full")
    assert engine.is_full(full) and dbmod.is_disk_full(full)
    assert dbmod.database_error_message(full) == dbmod.DiskFull.MESSAGE
    assert dbmod.database_error_message(ValueError("not ours")) is None
    assert "cannot be used" in dbmod.database_error_message(peewee.DatabaseError("file is not a database"))


def test_no_database_open_is_said_in_words():
    saved = dbmod._backend[0]
    dbmod._backend[0] = None
    try:
        with pytest.raises(PortalError, match="no database is open"):
            dbmod.backend()
    finally:
        dbmod._backend[0] = saved


def test_before_any_open_the_shared_database_says_it_is_closed_as_the_deferred_one_did():
    """The dashboard asks `database.database` and `is_closed()` before it opens its file; a bare Peewee proxy
    raised "Cannot use uninitialized Proxy" there (a fresh interpreter: nothing opened yet)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("from models.db import database; "
            "print(database.is_closed(), database.database, database.close())")
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "None", "False"]
