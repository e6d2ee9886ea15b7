"""What the PostgreSQL backend does that SQLite's does not need to: claims that skip rows another sender holds,
change notification by LISTEN/NOTIFY, cancelling a running query, the schema version table, the counts kept by
plpgsql triggers, and the `?` SQL every module writes once for both engines. All against the tests' own server
(tests/fixtures_pg.py); the model, mail and CLI tests run on it too (tests/conftest.py, BOTH_ENGINES)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import peewee
import pytest

from models import clock, contacts
from models.backends.postgres import PostgresBackend, schema
from models.backends.postgres.database import to_pyformat
from models.db import SCHEMA_VERSION, backend, database, open_database, schema_version
from models.entities import Contact, OutboxMessage
from models.errors import PortalError
from tests.fixtures_pg import PostgresServer, in_thread


@pytest.fixture
def pg_db(pg_url: str, monkeypatch):
    """A fresh database on the tests' server, opened as the shared database, with a portal domain."""
    from models import domains

    monkeypatch.setenv("CLIENT_PORTAL_DB", pg_url)
    open_database(pg_url)
    domains.add_domain("portal.example.com")
    yield pg_url
    _close_backend()
    database.close()


def _close_backend() -> None:
    engine = backend()
    if isinstance(engine, PostgresBackend):
        engine.close()


def _queue(n: int) -> list[int]:
    now = clock.now()
    ids = []
    with database.atomic():
        for i in range(n):
            contact = Contact.create(email=f"c{i}@example.com", created_at=now, updated_at=now)
            ids.append(OutboxMessage.create(contact=contact, kind="invite", batch="b", next_attempt_at=now,
                                            message_id=f"<m{i}@example.com>", created_at=now, created_by="t").id)
    return ids


DUE = 'SELECT "id" FROM "outbox_message" WHERE "status" = ? ORDER BY "id" LIMIT ?'


def test_a_claim_passes_over_rows_another_sender_holds_instead_of_waiting(pg_db):
    queued = _queue(6)
    holding = threading.Event()
    release = threading.Event()

    def first_sender():
        with database.atomic():
            ids = backend().due_outbox_ids(DUE, ("queued", 3))
            holding.set()
            assert release.wait(30)
            return ids

    first, first_box = in_thread(first_sender)
    assert holding.wait(30)

    def second_sender():
        with database.atomic():
            return backend().due_outbox_ids(DUE, ("queued", 3))

    second, second_box = in_thread(second_sender)
    second.join(30)
    finished_while_held = not second.is_alive()
    release.set()
    first.join(30)
    assert "error" not in first_box and "error" not in second_box
    assert finished_while_held  # it did not wait for the first sender's transaction
    assert first_box["value"] == queued[:3]
    assert second_box["value"] == queued[3:]


def test_two_senders_claiming_at_once_never_take_the_same_row(pg_db):
    from models import outbox

    queued = set(_queue(40))
    start = threading.Barrier(2)

    def sender(owner: str) -> list[int]:
        start.wait(30)
        taken: list[int] = []
        while True:
            claim = outbox.claim_due(owner, 3, batch=None, due_by=clock.now(), max_attempts=5)
            if not claim.messages:
                return taken
            taken += [message.id for message in claim.messages]

    a, a_box = in_thread(sender, "host-a:1")
    b, b_box = in_thread(sender, "host-b:2")
    a.join(60)
    b.join(60)
    assert "error" not in a_box and "error" not in b_box, (a_box.get("error"), b_box.get("error"))
    assert not set(a_box["value"]) & set(b_box["value"])
    assert set(a_box["value"]) | set(b_box["value"]) == queued


def test_another_clients_change_is_announced_not_polled(pg_db, pg_url):
    import psycopg

    token = backend().changes_token()
    assert backend().wait_for_change(token, 0) == token  # nothing happened
    with psycopg.connect(pg_url, autocommit=True) as other:  # another admin, on another host
        other.execute("INSERT INTO setting (key, value) VALUES ('agency_name', 'Acme')")
    changed = backend().wait_for_change(token, 30)
    assert changed != token
    assert backend().wait_for_change(changed, 0) == changed  # and it is quiet again


def test_a_change_wakes_a_waiting_dashboard_at_once(pg_db):
    token = backend().changes_token()
    waiter, box = in_thread(lambda: backend().wait_for_change(token, 60))

    def writer():
        contacts.add_contact("ada@example.com", "Ada", "Lovelace")

    w, w_box = in_thread(writer)
    w.join(30)
    waiter.join(30)
    assert not waiter.is_alive() and "error" not in box and "error" not in w_box
    assert box["value"] != token


def test_a_running_query_is_cancelled(pg_db):
    started = threading.Event()
    handles: list[object] = []

    def slow():
        handles.append(backend().query_handle())
        started.set()
        database.execute_sql("SELECT pg_sleep(60)")

    thread, box = in_thread(slow)
    assert started.wait(30)
    time.sleep(0.2)  # let it reach the server
    backend().interrupt(handles[0])
    thread.join(30)
    assert not thread.is_alive()
    assert isinstance(box.get("error"), peewee.OperationalError)
    assert "cancel" in str(box["error"]).lower()
    assert database.execute_sql("SELECT 1").fetchone() == (1,)  # this thread's connection is untouched


def test_the_schema_version_is_kept_in_its_table_and_a_newer_one_is_refused(pg_db, pg_url):
    assert schema_version() == SCHEMA_VERSION
    assert database.execute_sql(f"SELECT version FROM {schema.VERSION_TABLE}").fetchall() == [(SCHEMA_VERSION,)]
    contacts.add_contact("ada@example.com")
    open_database(pg_url)  # opening again changes nothing
    assert schema_version() == SCHEMA_VERSION and contacts.count_contacts() == 1
    database.execute_sql(f"UPDATE {schema.VERSION_TABLE} SET version = {SCHEMA_VERSION + 1}")
    database.close()
    with pytest.raises(PortalError, match=rf"newer client-portal \(schema {SCHEMA_VERSION + 1}, this one knows {SCHEMA_VERSION}\)"):
        open_database(pg_url)


def test_a_schema_another_client_commits_while_we_look_is_taken_as_ours(pg_empty_url: str, tmp_path: Path,
                                                                        monkeypatch):
    """Another client's new schema committed while this one looks at the database (here: just before it asks
    whether a contact table exists, by a real second process) is client-portal's own: it opens, it is not refused
    as a stranger's table. Looked at in the other order (version first, then tables), that commit fell between the
    two reads in a CI run of the test below."""
    script = tmp_path / "open.py"
    script.write_text("import sys\nfrom models.db import open_database\nopen_database(sys.argv[1])\n")
    root = Path(__file__).resolve().parent.parent
    real = schema.has_tables
    created: list[int] = []

    def another_client_commits_first(db):
        if not created:
            created.append(subprocess.run([sys.executable, str(script), pg_empty_url], cwd=root, timeout=120,
                                          env={**os.environ, "PYTHONPATH": str(root)}).returncode)
        return real(db)

    monkeypatch.setattr(schema, "has_tables", another_client_commits_first)
    try:
        open_database(pg_empty_url)
        assert created == [0] and schema_version() == SCHEMA_VERSION
    finally:
        database.close()


def test_two_clients_creating_the_schema_at_once_both_open_it(pg_server: PostgresServer, pg_empty_url: str,
                                                              tmp_path: Path):
    """Two processes opening the same new database at the same moment: one creates the schema, the other waits
    for it and finds it done."""
    script = tmp_path / "open.py"
    script.write_text(
        "import sys\nfrom models.db import open_database, schema_version\n"
        "open_database(sys.argv[1])\nprint(schema_version())\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    procs = [subprocess.Popen([sys.executable, str(script), pg_empty_url], cwd=root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outs
    assert [out.strip() for out, _ in outs] == [str(SCHEMA_VERSION)] * 2
    name = pg_empty_url.rsplit("/", 1)[1]
    assert pg_server.admin(f"SELECT version FROM {schema.VERSION_TABLE}", database=name) == [(SCHEMA_VERSION,)]


def test_a_database_holding_other_tables_is_refused(pg_server: PostgresServer, pg_empty_url: str):
    name = pg_empty_url.rsplit("/", 1)[1]
    pg_server.admin("CREATE TABLE contact (id serial PRIMARY KEY, who text)", database=name)
    with pytest.raises(PortalError, match="not client-portal's"):
        open_database(pg_empty_url)
    assert pg_server.admin("SELECT to_regclass('outbox_message') IS NULL", database=name) == [(True,)]


def test_the_counts_the_triggers_keep_are_what_counting_finds(pg_db, frozen_clock):
    from models import links, outbox, portal

    for n in range(30):
        contacts.add_contact(f"p{n}@example.com", f"P{n}")
    portal.invite([f"p{n}@example.com" for n in range(12)])
    for n in range(9, 12):
        links.redeem(links.issue_link(f"p{n}@example.com").url)
    frozen_clock[0] = frozen_clock[0] + timedelta(days=30)  # the rest of the invitations lapse
    contacts.delete_contact(contacts.find_contact("p20@example.com").id)
    claim = outbox.claim_due("me:1", 4, batch=None, due_by=clock.now(), max_attempts=5)
    assert [message.contact.email for message in claim.messages] == [f"p{n}@example.com" for n in range(4)]
    for message in claim.messages[:2]:
        outbox.mark_sent(message.id, "me:1")
    kept = {
        "status": sorted(database.execute_sql("SELECT status, n FROM contact_status_count WHERE n <> 0").fetchall()),
        "expiry": sorted(database.execute_sql("SELECT hour, n FROM invite_expiry_count WHERE n <> 0").fetchall()),
        "delivery": sorted(database.execute_sql("SELECT state, n FROM invite_delivery_count WHERE n <> 0").fetchall()),
    }
    with database.atomic() as txn:
        schema.recount(database)
        counted = {
            "status": sorted(database.execute_sql("SELECT status, n FROM contact_status_count").fetchall()),
            "expiry": sorted(database.execute_sql("SELECT hour, n FROM invite_expiry_count").fetchall()),
            "delivery": sorted(database.execute_sql("SELECT state, n FROM invite_delivery_count").fetchall()),
        }
        txn.rollback()
    assert kept == counted
    assert dict(kept["status"]) == {"not_invited": 17, "invited": 9, "joined": 3}
    assert dict(kept["delivery"]) == {"queued": 7, "sent": 2}


def test_question_marks_become_placeholders_only_outside_quotes():
    assert to_pyformat('SELECT "a?" FROM t WHERE x = ? AND y LIKE \'%?%\'') == (
        'SELECT "a?" FROM t WHERE x = %s AND y LIKE \'%%?%%\''
    )
    assert to_pyformat("SELECT 'it''s ?' , ?") == "SELECT 'it''s ?' , %s"
    assert to_pyformat("SELECT '?'") is None  # no placeholder at all: left as it is
    assert to_pyformat("SELECT 1") is None


def test_a_server_left_behind_by_a_killed_test_run_is_stopped(tmp_path: Path):
    """The fixture's watchdog: a test process killed outright (no session end) takes its server with it."""
    from tests.fixtures_pg import missing_reason

    if missing_reason():
        pytest.skip(missing_reason())
    script = tmp_path / "crash.py"
    script.write_text(
        "import os\nfrom tests.fixtures_pg import PostgresServer\n"
        "server = PostgresServer().start()\n"
        "print(server.folder, open(server.data / 'postmaster.pid').readline().strip(), flush=True)\n"
        "os._exit(9)\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(script)], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                          capture_output=True, text=True, timeout=120)
    folder, pid = done.stdout.split()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (Path(folder).exists() or _alive(int(pid))):
        time.sleep(0.2)
    assert not _alive(int(pid))
    assert not Path(folder).exists()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False
