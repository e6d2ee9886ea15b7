"""The search index filled in the background after a big import (issue 12, `models.search_fill`,
`models.backends.sqlite.fill`).

A big import with `fill_later` commits its contacts unranked (out of the search index) and returns; searches answer
through LIKE meanwhile; the fill then ranks and indexes them a chunk per short transaction. Checked on real files
and real processes: searches equal a full scan by hand while the fill is pending and after, the index then holds
exactly the contacts' text under ranks in name order, a filler killed inside a chunk loses nothing and the next
opener finishes, an invite or an edit during a pending fill does not run the fill, `contacts import` returns before
the fill and a detached process completes it, and two fillers never fill at once. Nothing here is timed."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from models import clock, contacts, csv_io, portal, search_fill
from models.backends.sqlite import fill, schema, search
from models.contacts import ContactQuery
from models.db import database, open_database
from models.entities import Contact
from tests.fixtures_search import index_matches_contacts
from tests.test_table_order import assert_page_agrees, expected_ids

ROOT = Path(__file__).resolve().parent.parent
FIRST = ["Ada", "Bea", "Cid", "Dee", "Éve", "Fab", "Gil", "Zoë"]
LAST = ["Hill", "Ball", "Gale", "Dale", "Bell", "Mill", "Öst", "Ng"]
QUERIES = ("", "a", "ll", "hill", "bea ball", "ÉVE", "zz", "mail.ed", "co 1", "st")
BIG = schema.INLINE_FILL_LIMIT + 500
"""Rows of an import big enough that its fill is left to the background."""


def _unranked_contacts(count: int, seed: int, start: int = 0) -> None:
    """`count` contacts written as a big import leaves them: no name rank, so not in the search index."""
    rng, now = random.Random(seed), clock.now()
    rows = [dict(email=f"p{start + n}@mail.ed", first_name=rng.choice(FIRST), last_name=rng.choice(LAST),
                 company=f"Co {rng.randrange(40)}", status="not_invited", created_at=now, updated_at=now)
            for n in range(count)]
    with database.atomic():
        schema.drop_search_index_triggers(database)
        for at in range(0, len(rows), 500):
            Contact.insert_many(rows[at : at + 500]).execute()
        schema.create_search_index_triggers(database)


def _unranked() -> int:
    return database.execute_sql("SELECT COUNT(*) FROM contact WHERE name_rank IS NULL").fetchone()[0]


def _searches_agree(few: bool = False) -> None:
    """Every query's windows equal a full scan and sort done by hand (`few`: fewer queries, for a big table)."""
    everyone = list(Contact.select())
    queries = [ContactQuery(search=text, descending=descending) for text in QUERIES for descending in (False, True)]
    queries += [ContactQuery(search=text, status=status, sort=sort)
                for text in ("", "ll") for status in (None, "invited", "not_invited")
                for sort in ("name", "invited_at", "last_login", "status")]
    if few:
        queries = queries[::6]
    for query in queries:
        want = expected_ids(everyone, query)
        for offset in sorted({0, 7, len(want) // 2}):
            search.forget_narrowing()
            assert_page_agrees(query, want, offset, 50, count=True)


def _schema() -> list[tuple]:
    return database.execute_sql("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()


def _csv(rows: int, start: int = 0) -> str:
    lines = [f"{FIRST[n % 8]},{LAST[n * 7 % 8]}{n % 13},q{start + n}@mail.ed,Co {n % 40}" for n in range(rows)]
    return "First Name,Last Name,Email,Company\n" + "\n".join(lines) + "\n"


@pytest.fixture
def pending(db_path):
    """200 contacts ranked and indexed, then 1,500 a big import left unranked."""
    _unranked_contacts(200, seed=1)
    contacts.keep_name_order()
    assert _unranked() == 0
    _unranked_contacts(1_500, seed=2, start=200)
    return db_path


def test_searches_equal_a_full_scan_while_the_fill_is_pending_and_after(pending):
    assert search_fill.pending() and not search.ranked()
    _searches_agree()
    assert fill.fill(database, pending, chunk=170, whole=0)  # ten chunks, each its own transaction
    assert not search_fill.pending() and search.ranked()
    assert index_matches_contacts(database)
    _searches_agree()


def test_a_big_import_with_fill_later_returns_unindexed_and_the_fill_completes_it(db_path):
    _unranked_contacts(300, seed=3)
    contacts.keep_name_order()
    before = _schema()
    report = csv_io.import_contacts(_csv(BIG), fill_later=True)
    assert report.added == BIG and report.search_pending
    assert _unranked() == BIG
    # The secondary indexes are left for the fill too, listed in the file (a killed filler's successor builds
    # them); the UNIQUE one on the address is kept.
    names = {row[1] for row in _schema()}
    left = {row[0] for row in database.execute_sql(f"SELECT name FROM {fill.DEFERRED_INDEXES}")}
    assert {"contact_invite_expiry", schema.STATUS_RANK_INDEX, *fill.FILL_READS} <= left and not left & names
    assert "contact_email" in names
    _searches_agree(few=True)
    assert search_fill.fill_now()
    assert not search_fill.pending() and index_matches_contacts(database)
    assert _schema() == before  # every index back, exactly as it was; the list gone
    _searches_agree(few=True)


def test_a_small_import_with_fill_later_is_indexed_before_it_returns(db_path):
    report = csv_io.import_contacts(_csv(12_000), fill_later=True)  # a big import, in a small table
    assert report.added == 12_000 and not report.search_pending
    assert index_matches_contacts(database)


def test_writes_during_a_pending_fill_do_not_run_the_fill(db):
    csv_io.import_contacts(_csv(BIG), fill_later=True)
    assert _unranked() == BIG
    added = contacts.add_contact("new@mail.ed", "Ada", "Hill")
    first = Contact.get(Contact.email == "q1@mail.ed")
    contacts.update_contact(first.id, last_name="Renamed")
    result = portal.invite(["q2@mail.ed", "fresh@mail.ed"])
    assert not result.skipped
    # Each write ranked at most the contacts it touched (between ranked neighbours); the import's wait for the fill.
    assert _unranked() >= BIG - 3
    found = contacts.contact_page(ContactQuery(search="renamed"), 0, 10)
    assert [row.id for row in found.rows] == [first.id]
    assert [row.id for row in contacts.contact_page(ContactQuery(search="new@mail"), 0, 10).rows] == [added.id]
    assert fill.fill(database, db)
    assert index_matches_contacts(database)


def test_a_filler_killed_inside_a_chunk_loses_nothing_and_the_next_open_finishes(pending, tmp_path):
    # A real process fills two chunks, then is killed (SIGKILL) in the middle of the third's transaction.
    child = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from models.db import database, open_database
        from models.backends.sqlite import fill
        open_database({str(pending)!r})
        real, done = fill._fill_chunk, []
        def chunk(db, *args):
            out = real(db, *args)
            done.append(1)
            if len(done) == 3:  # its rows changed, its transaction not committed
                os.kill(os.getpid(), signal.SIGKILL)
            return out
        fill._fill_chunk = chunk
        fill.fill(database, {str(pending)!r}, chunk=300, whole=0)
    """)
    database.close()
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert out.returncode == -9, out.stderr
    open_database(pending)
    left = _unranked()
    assert 0 < left < 1_500  # two chunks committed, the third rolled back
    _searches_agree()  # still right, through LIKE
    assert search_fill.fill_now()  # the next opener (the dashboard's worker does this at open)
    assert _unranked() == 0 and index_matches_contacts(database)
    _searches_agree()


def test_a_filler_killed_before_it_built_the_indexes_leaves_them_to_the_next(db_path):
    before = _schema()
    assert csv_io.import_contacts(_csv(BIG), fill_later=True).search_pending
    child = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from models.db import database, open_database
        from models.backends.sqlite import fill
        open_database({str(db_path)!r})
        real = fill.build_deferred_indexes
        def build(db, only=None):  # every contact ranked, one more index built and committed, then killed
            if only:
                return real(db, only)
            with db.atomic("IMMEDIATE"):
                name, sql = db.execute_sql(f"SELECT name, sql FROM {{fill.DEFERRED_INDEXES}} LIMIT 1").fetchone()
                db.execute_sql(sql)
                db.execute_sql(f"DELETE FROM {{fill.DEFERRED_INDEXES}} WHERE name = ?", (name,))
            os.kill(os.getpid(), signal.SIGKILL)
        fill.build_deferred_indexes = build
        fill.fill(database, {str(db_path)!r}, whole=0)
    """)
    database.close()
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert out.returncode == -9, out.stderr
    open_database(db_path)
    assert _unranked() == 0 and search_fill.pending()  # ranked, some indexes still to build
    assert search_fill.fill_now()
    assert not search_fill.pending() and _schema() == before and index_matches_contacts(database)


def test_a_second_filler_leaves_the_file_to_the_one_filling(pending):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(ROOT)!r})
            from models.backends.sqlite import fill
            with fill.fill_lock({str(pending)!r}) as held:
                print("held" if held else "not held", flush=True)
                sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        second = subprocess.run([sys.executable, "-m", "models.search_fill", str(pending)], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        assert not fill.fill(database, pending)  # nor this process
        assert _unranked() == 1_500
    finally:
        holder.communicate("\n", timeout=30)
    assert fill.fill(database, pending)
    assert _unranked() == 0 and index_matches_contacts(database)


def test_a_lock_file_that_is_a_link_is_not_followed(pending, tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    fill.lock_path(pending).symlink_to(target)
    assert not fill.fill(database, pending)
    assert target.read_text() == "keep" and _unranked() == 1_500


def test_an_import_landing_during_the_fill_is_filled_too(pending):
    real, imported = fill._fill_chunk, []

    def chunk(db, *args):  # another admin's big import commits between two of our chunks
        if not imported:
            imported.append(1)
            _unranked_contacts(400, seed=4, start=5_000)
        return real(db, *args)

    fill._fill_chunk = chunk
    try:
        assert fill.fill(database, pending, chunk=250, whole=0)
    finally:
        fill._fill_chunk = real
    assert _unranked() == 0 and index_matches_contacts(database)


def _wait_for(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _run_cli(db_path: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLIENT_PORTAL_DB": str(db_path)}
    exe = Path(sys.executable).with_name("client-portal")
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=120, cwd=cwd)


def test_the_cli_import_returns_before_the_fill(tmp_path):
    db_path, csv_path = tmp_path / "cli.db", tmp_path / "big.csv"
    csv_path.write_text(_csv(BIG))
    open_database(db_path)
    try:
        with fill.fill_lock(db_path) as held:  # a filler at work: the command must not wait for it
            assert held
            out = _run_cli(db_path, "contacts", "import", str(csv_path))
            assert out.returncode == 0, out.stderr
            assert f"imported {BIG:,} contacts" in out.stdout
            assert "search is being indexed in the background" in out.stdout
            assert _unranked() == BIG  # returned with the fill still to do
    finally:
        database.close()


def test_the_cli_import_leaves_a_detached_fill_that_completes(tmp_path):
    db_path, csv_path = tmp_path / "cli.db", tmp_path / "big.csv"
    csv_path.write_text(_csv(BIG))
    # The database named relative to the command's folder: the detached child, started elsewhere, fills this one.
    out = _run_cli(Path("cli.db"), "contacts", "import", "big.csv", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert '"search_indexing": true' in out.stdout
    open_database(db_path)  # the command has exited: only its detached child can fill
    try:
        assert _wait_for(lambda: not search_fill.pending())
        assert index_matches_contacts(database)
        assert _wait_for(lambda: not fill.lock_path(db_path).exists(), 10)
    finally:
        database.close()
    assert not (ROOT / "cli.db").exists()


def test_the_detached_filler_never_makes_a_new_database(tmp_path):
    out = subprocess.run([sys.executable, "-m", "models.search_fill", str(tmp_path / "none.db")], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stderr.strip() == f"search index not filled: no such file: {tmp_path}/none.db"
    assert not (tmp_path / "none.db").exists()
