"""PostgreSQL's search plan (models/backends/postgres/search.py) shows exactly what a full sort done by hand shows,
whichever road a window takes (a walk along the sort order that stops when the window is full, capped or not;
every match through the trigram index, sorted), for every sort order and direction, status filter, kind of search
and offset, counted or not; and each road runs the plan it is meant to (read with EXPLAIN), never a walk of the
whole table nor a scan of every row when the index can answer.

The contacts and the by-hand answer are `tests/test_table_order.py`'s (`mixed_contacts`, `_expected`). These tests
run on the tests' own PostgreSQL server only (with `CI=true`; skipped elsewhere, as tests/fixtures_pg.py says).
"""

from __future__ import annotations

import json

import pytest

from models import contacts
from models.backends.postgres import search
from models.contacts import ContactQuery
from models.db import database
from tests.test_table_order import (  # noqa: F401 - mixed_contacts is a fixture
    SORT_FIELDS,
    _everyone,
    _expected,
    assert_page_agrees,
    mixed_contacts,
)

SEARCHES = ["", "e", "jo", "ad", "smith", "ada love", "a.com", "zzqx", "j s", "lovelace e", "o'b", "%", "_",
            "\\", "ÉMILE", "é", "Ö"]
"""Each kind of search: none, one letter, pairs (common and rare), words the trigram index answers, two words (a
long one beside a short one, two short ones), a miss, LIKE's wildcards and its escape (literal here), and
non-ASCII letters (which LIKE does not fold: 'ÉMILE' finds no 'Émile')."""

FEWER = ["", "e", "jo", "smith", "j s", "zzqx", "%"]
"""The kinds the orders other than name are checked with (each road once)."""

STATUS_FILTERS = (None, "invited", "revoked", "expired")


@pytest.fixture
def engine() -> str:
    """Every test here runs on PostgreSQL (the `db` fixture opens a database on the tests' server)."""
    return "postgres"


def _check(everyone, query: ContactQuery, limit: int, *, count: bool) -> int:
    want = _expected(everyone, query)
    checked = 0
    for offset in sorted({0, 13, max(0, len(want) - 5), len(want) + 3}):
        assert_page_agrees(query, want, offset, limit, count=count)
        checked += 1
    return checked


def test_every_road_agrees_with_a_full_sort(db, mixed_contacts, monkeypatch):
    """Every order, direction, filter and search, at several offsets, uncounted as the dashboard asks (and
    counted): with a walk capped at 20 contacts, a common word fills its window on the walk, a rarer one falls
    back to the trigram index, a short one walks to the end, and company and status sort their matches."""
    monkeypatch.setattr(search, "WALK", 20)
    everyone = _everyone()
    checked = 0
    for sort in SORT_FIELDS:
        for descending in (False, True):
            for status in STATUS_FILTERS:
                for text in SEARCHES if sort == "name" else FEWER:
                    if status in ("revoked", "expired") and sort not in ("name", "invited_at"):
                        continue  # every filter with two orders; every order with two filters
                    query = ContactQuery(search=text, status=status, sort=sort, descending=descending)
                    checked += _check(everyone, query, 11, count=False)
                    assert contacts.count_contacts(query) == len(_expected(everyone, query)), query
    for text in SEARCHES:
        checked += _check(everyone, ContactQuery(search=text), 11, count=True)
    assert checked > 800


def test_a_second_walk_agrees_with_a_full_sort(db, mixed_contacts, monkeypatch):
    """When sorting is made to look dear, a capped walk that did not fill its window walks on, twice as far as
    the share of matches it saw predicts (`_further`), then gives way to sorting: every window still agrees. (No
    order slices here: with statistics, which autovacuum may take at any time, a rare word would skip the walk.)"""
    monkeypatch.setattr(search, "SLICED", {})
    monkeypatch.setattr(search, "WALK", 5)
    monkeypatch.setattr(search, "SORT_COST", 1e9)
    further = []
    real = search._further
    monkeypatch.setattr(search, "_further", lambda *args: further.append(real(*args)) or further[-1])
    everyone = _everyone()
    for sort in ("name", "email"):
        for descending in (False, True):
            for status in (None, "invited"):
                for text in SEARCHES[1:]:
                    query = ContactQuery(search=text, status=status, sort=sort, descending=descending)
                    _check(everyone, query, 11, count=False)
    assert len([cap for cap in further if cap is not None]) > 20  # second walks were taken


def test_each_road_alone_agrees_with_a_full_sort(db, mixed_contacts):
    """The walk (capped and not) and the sorted matches through the index, each asked for the first window and
    the one past the end: whenever the walk answers, its rows are the full sort's (and its total, when exact);
    the sorted road always answers, with the exact count."""
    everyone = _everyone()
    for sort in sorted(search.WALKABLE):
        for descending in (False, True):
            for status in (None, "expired"):
                for text in SEARCHES[1:]:
                    query = ContactQuery(search=text, status=status, sort=sort, descending=descending)
                    want = _expected(everyone, query)
                    words = text.split()
                    for offset in (0, len(want)):
                        for cap in (3, None):
                            page, seen = search._walk(query, words, offset, 7, cap)
                            if page is not None:
                                assert [r.id for r in page.rows] == want[offset : offset + 7], (query, cap, offset)
                                if page.exact:
                                    assert page.total == len(want), (query, cap, offset)
                            if offset == 0:
                                assert seen <= len(want), (query, cap)
                        page = search._sorted(query, words, offset, 7, hint=any(map(search.indexed, words)))
                        assert [r.id for r in page.rows] == want[offset : offset + 7], (query, offset)
                        assert page.total == len(want), (query, offset)


def _plan(statement: search.Statement) -> dict:
    """The executed plan of `statement` (EXPLAIN ANALYZE, under its own planner settings)."""
    explained = search.Statement(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement.sql}", statement.args,
                                 statement.settings)
    plan = explained.run()[0][0]
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def test_a_walk_reads_the_sort_index_and_stops_at_its_cap(db, mixed_contacts):
    """The capped walk reads the name index and no more than its cap; it sorts nothing and reads no row twice."""
    query = ContactQuery(search="a.com")
    plan = _plan(search.walk_statement(query, ["a.com"], 0, 11, 30))
    nodes = list(_nodes(plan))
    scans = [n for n in nodes if n["Node Type"] in ("Index Scan", "Index Only Scan", "Seq Scan", "Bitmap Heap Scan")]
    assert [(n["Node Type"], n.get("Index Name")) for n in scans] == [("Index Scan", "contact_names")]
    assert scans[0]["Actual Rows"] <= 30
    assert not [n for n in nodes if n["Node Type"] == "Sort"]


def test_a_walk_to_the_end_with_a_status_filter_reads_the_status_and_sort_index(db, mixed_contacts):
    """A short word with a status filter walks the (status, name) index: only that status's contacts are read."""
    query = ContactQuery(search="jo", status="invited")
    nodes = list(_nodes(_plan(search.walk_statement(query, ["jo"], 0, 11, None))))
    names = {n.get("Index Name") for n in nodes if n["Node Type"] == "Index Scan"}
    assert names == {"contact_status_names"}
    assert not [n for n in nodes if n["Node Type"] in ("Sort", "Seq Scan")]


def test_the_sorted_road_takes_the_trigram_index(db, mixed_contacts):
    """A word of three letters or more that the walk did not answer is found through the trigram index (a bitmap
    scan), then its matches are sorted: the name index is not walked, nor every row read."""
    query = ContactQuery(search="lovelace")
    nodes = list(_nodes(_plan(search.sorted_statement(query, ["lovelace"], 0, 11, hint=True))))
    indexes = {n.get("Index Name") for n in nodes if "Index" in n["Node Type"]}
    assert indexes == {"contact_search_trgm"}
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan"]


def test_planner_settings_stay_with_their_statement(db, mixed_contacts):
    """The settings a road runs under never outlive it: not on the connection afterwards, nor in a caller's
    transaction (a savepoint puts them back)."""

    def settings() -> tuple:
        return database.execute_sql("SELECT current_setting('enable_seqscan'), current_setting('enable_sort'), "
                                    "current_setting('enable_indexscan')").fetchone()

    before = settings()
    assert before == ("on", "on", "on")
    contacts.contact_page(ContactQuery(search="jo"), 0, 11, count=False)
    contacts.contact_page(ContactQuery(search="lovelace"), 0, 11, count=False)
    assert settings() == before
    with database.atomic():
        contacts.contact_page(ContactQuery(search="jo"), 0, 11, count=False)
        contacts.contact_page(ContactQuery(search="smith"), 0, 11, count=False)
        assert settings() == before
    assert settings() == before


# --- two-letter words through the trigram index (schema v9's alphabet) ----------------------------------------------


def _found_by_index(text: str) -> list[str]:
    """The emails of the contacts the sorted road finds for `text` through the trigram index (the walk set aside,
    as when it did not fill its window)."""
    query = ContactQuery(search=text)
    assert all(search.indexed(word) for word in text.split())
    page = search._sorted(query, text.split(), 0, 50, hint=True)
    return sorted(row.email for row in page.rows)


def test_a_pair_next_to_letters_outside_ascii_is_found_however_the_contact_came(db, tmp_path):
    """A two-letter word is looked up as the trigrams it makes with each character a search key has; a contact
    whose only neighbours of the pair are letters outside ASCII is found, whether it was added, renamed or
    imported (each path tells the alphabet its new characters), and the count agrees."""
    from models import csv_io

    added = contacts.add_contact("one@example.com", first_name="ŁqzŁ")
    assert _found_by_index("qz") == ["one@example.com"]
    assert _found_by_index("QZ") == ["one@example.com"]  # folded as SQLite's LIKE folds ASCII
    assert contacts.count_contacts(ContactQuery(search="qz")) == 1

    contacts.update_contact(added.id, first_name="ŦkvŦ")
    assert _found_by_index("kv") == ["one@example.com"]
    assert _found_by_index("qz") == []

    report = csv_io.import_contacts("email,first_name\ntwo@example.com,ĦwjĦ\nthree@example.com,wj\n")
    assert report.added == 2
    assert _found_by_index("wj") == ["three@example.com", "two@example.com"]
    alphabet = {row[0] for row in database.execute_sql("SELECT ch FROM search_alphabet")}
    assert {"Ł", "Ŧ", "Ħ"} <= alphabet
    assert not alphabet & set(search.PRINTABLE_ASCII)  # printable ASCII is never stored: it is always tried


def test_the_upgrade_to_version_9_learns_the_alphabet_of_the_contacts_already_there(db, db_path):
    """A database of version 8 (no alphabet) is upgraded: its contacts' characters are listed, so a pair next to
    them is found at once."""
    from models.backends.postgres import schema
    from models.db import SCHEMA_VERSION, open_database

    assert SCHEMA_VERSION >= 9
    contacts.add_contact("old@example.com", last_name="ÞxjÞ")
    for name in schema.ALPHABET_TRIGGERS:
        database.execute_sql(f'DROP TRIGGER "{name}" ON contact')
    database.execute_sql("DROP TABLE search_alphabet")
    database.execute_sql("UPDATE portal_schema SET version = 8")
    database.close()
    open_database(db_path)
    assert database.execute_sql("SELECT MAX(version) FROM portal_schema").fetchone()[0] == SCHEMA_VERSION
    assert _found_by_index("xj") == ["old@example.com"]
    contacts.add_contact("new@example.com", last_name="ÐxjÐ")  # and the triggers are back
    assert _found_by_index("xj") == ["new@example.com", "old@example.com"]


def test_a_pair_the_walk_does_not_fill_takes_the_index(db, mixed_contacts):
    """A pair, and a word whose trigrams pg_trgm finds, go through the trigram index when the walk did not fill
    the window; a word it finds no trigram in ('é', '..') never does (a LIKE with no trigram reads the whole
    index): it is a `strpos` filter."""
    for text, index in (("jo", True), ("lovelace", True), ("a.com", True), ("é", False), ("..", False),
                        ("j", False)):
        statement = search.sorted_statement(ContactQuery(search=text), [text], 0, 11, hint=search.indexed(text))
        nodes = list(_nodes(_plan(statement)))
        used = {n.get("Index Name") for n in nodes if "Index" in n["Node Type"]}
        assert (used == {"contact_search_trgm"}) is index, (text, used)
        if not index:
            assert "strpos" in statement.sql and "LIKE" not in statement.sql


def test_a_database_copied_onto_the_server_knows_its_alphabet(tmp_path, pg_empty_url, monkeypatch):
    """`db copy` of an SQLite file onto the server: the copied contacts' letters outside ASCII are in the alphabet
    (the copy's inserts run its trigger), so a pair next to them is found through the index."""
    from models.copy import copy_database
    from models.db import open_database

    monkeypatch.delenv("CLIENT_PORTAL_DB", raising=False)
    lite = tmp_path / "portal.db"
    open_database(lite)
    contacts.add_contact("copied@example.com", company="ǅqjǅ")
    database.close()
    report = copy_database(lite, pg_empty_url)
    assert report.stats_match
    open_database(pg_empty_url)
    try:
        assert _found_by_index("qj") == ["copied@example.com"]
    finally:
        from models.backends.postgres import close_listeners

        database.close()
        close_listeners()  # before the database is dropped


# --- the sorted matches a slice of the order at a time (`_sliced`, from the server's statistics) --------------------


def _check_sliced(everyone, slices: list) -> int:
    """Every indexed search, order that slices, direction, filter and offset, found a slice at a time from the
    smallest first slice (the estimate made huge): the rows are the full sort's; a total is exact when the last
    slice was read, else a lower bound."""
    checked = 0
    for sort in sorted(search.SLICED):
        for descending in (False, True):
            for status in STATUS_FILTERS:
                for text in SEARCHES[1:]:
                    words = text.split()
                    if not any(search.indexed(word) for word in words):
                        continue
                    query = ContactQuery(search=text, status=status, sort=sort, descending=descending)
                    want = _expected(everyone, query)
                    for offset in sorted({0, 5, max(0, len(want) - 3), len(want) + 2}):
                        page = search._sliced(query, words, offset, 7, 0.0, estimate=1e9)
                        assert page is not None, query
                        assert [r.id for r in page.rows] == want[offset : offset + 7], (query, offset, slices[-3:])
                        if page.exact:
                            assert page.total == len(want), (query, offset)
                        else:
                            assert offset + len(page.rows) <= page.total <= len(want), (query, offset)
                        checked += 1
    return checked


@pytest.fixture
def slices(monkeypatch) -> list:
    """Every slice the sliced road reads, as it reads it."""
    seen = []
    real = search.slice_statement
    monkeypatch.setattr(search, "slice_statement", lambda query, words, piece, limit: seen.append(piece) or
                        real(query, words, piece, limit))
    return seen


def test_the_sliced_road_agrees_with_a_full_sort(db, mixed_contacts, slices):
    """With the server's statistics, a window is found a slice of the sort order at a time, from the first slice
    to the last (name and email, both directions, every filter, several offsets): it shows what a full sort
    shows, and its slices follow one another without a gap or an overlap."""
    database.execute_sql("ANALYZE contact")
    assert search._cuts("last_name") and search._cuts("email")
    assert _check_sliced(_everyone(), slices) > 150
    assert len(slices) > 3 * 150  # most windows took several slices
    assert {piece.low for piece in slices} - {None} and {piece.high for piece in slices} - {None}


def test_the_sliced_road_agrees_with_stale_statistics_and_another_physical_order(db, mixed_contacts, slices):
    """Statistics taken before contacts were added under names outside them (below the first, after the last,
    between, non-ASCII, empty), renamed and deleted, and a table rewritten in another physical order (CLUSTER on
    the email index): the slices are only of other sizes, and every window still agrees with a full sort."""
    from models.entities import Contact

    database.execute_sql("ANALYZE contact")
    for n, last in enumerate(["", "AAAA", "aaa lovelace", "Zzz", "zzz", "Ölm", "Lovelacf", "Smith", "ÉMILE"]):
        contacts.add_contact(f"late{n}@a.com", first_name="Ada", last_name=last)
    first = Contact.select().order_by(Contact.id).first()
    contacts.update_contact(first.id, last_name="Lovelace")
    Contact.delete().where(Contact.id == first.id + 1).execute()
    database.execute_sql("CLUSTER contact USING contact_email_order")
    assert _check_sliced(_everyone(), slices) > 150


def test_without_statistics_the_sliced_road_gives_way(db, mixed_contacts):
    """Before the table was ever analyzed there is nothing to cut the order with: the sliced road answers None
    and the search sorts every match instead, still in the full sort's order."""
    if search._cuts("last_name"):
        pytest.skip("autovacuum analyzed the table already")
    assert search._sliced(ContactQuery(search="lovelace"), ["lovelace"], 0, 7, 0.0) is None
    page = contacts.contact_page(ContactQuery(search="lovelace"), 0, 7, count=False)
    assert [r.id for r in page.rows] == _expected(_everyone(), ContactQuery(search="lovelace"))[:7]


def test_a_slice_reads_the_trigram_index_and_never_every_row(db, mixed_contacts):
    """A slice's rows come through bitmaps (the trigram index's matches, the sort index's range, or both
    combined, as the planner finds cheaper: at a million contacts, both), never a scan of every row nor a walk of
    the sort index."""
    database.execute_sql("ANALYZE contact")
    cuts = search._cuts("last_name")
    piece = search.Slice(cuts[1][0], cuts[len(cuts) // 2][0])
    nodes = list(_nodes(_plan(search.slice_statement(ContactQuery(search="lovelace"), ["lovelace"], piece, 7))))
    indexes = {n.get("Index Name") for n in nodes if "Index" in n["Node Type"]}
    assert indexes and indexes <= {"contact_search_trgm", "contact_names"}
    assert not [n for n in nodes if n["Node Type"] in ("Seq Scan", "Index Scan", "Index Only Scan")]


def test_a_pair_beside_a_word_with_a_trigram_is_a_filter(db, mixed_contacts):
    """Two words, one with a trigram of its own and a pair: the index answers the word, the pair is a `strpos`
    filter (its hundred-odd patterns made the index read a posting list each: 100 ms at a million contacts), and
    the window agrees with a full sort; a pair alone still takes its patterns to the index."""
    query = ContactQuery(search="lovelace ad")
    statement = search.sorted_statement(query, ["lovelace", "ad"], 0, 11, hint=True)
    assert "ANY(" not in statement.sql and "strpos" in statement.sql
    assert "ANY(" in search.sorted_statement(ContactQuery(search="ad"), ["ad"], 0, 11, hint=True).sql
    everyone = _everyone()
    for text in ("lovelace ad", "ad lovelace", "ad jo"):
        page = search._sorted(ContactQuery(search=text), text.split(), 0, 11, hint=True)
        assert [r.id for r in page.rows] == _expected(everyone, ContactQuery(search=text))[:11], text


def test_the_search_key_keeps_finer_statistics_new_or_upgraded(db, db_path):
    """Schema v10: the search key's statistics keep 1,000 values (the share of a LIKE the slices are sized and
    planned by), on a new database and on one upgraded from version 9."""
    from models.backends.postgres import schema
    from models.db import SCHEMA_VERSION, open_database

    def target() -> int:
        return database.execute_sql("SELECT attstattarget FROM pg_attribute WHERE attrelid = 'contact'::regclass "
                                    "AND attname = 'search_key'").fetchone()[0]

    assert SCHEMA_VERSION >= 10
    assert target() == schema.SEARCH_KEY_STATISTICS
    database.execute_sql("ALTER TABLE contact ALTER COLUMN search_key SET STATISTICS -1")
    database.execute_sql("UPDATE portal_schema SET version = 9")
    database.close()
    open_database(db_path)
    assert database.execute_sql("SELECT MAX(version) FROM portal_schema").fetchone()[0] == SCHEMA_VERSION
    assert target() == schema.SEARCH_KEY_STATISTICS


def test_with_statistics_every_road_agrees_with_a_full_sort(db, mixed_contacts, monkeypatch, slices):
    """Analyzed, as autovacuum leaves a table: the planner's estimates now choose between walking, slicing and
    sorting (a rare word skips the walk; a window expected to hold every match is sorted); every window of the
    orders that slice, counted or not, still agrees with a full sort, and some were found in slices."""
    monkeypatch.setattr(search, "WALK", 20)
    database.execute_sql("ANALYZE contact")
    everyone = _everyone()
    for sort in sorted(search.SLICED):
        for descending in (False, True):
            for status in STATUS_FILTERS:
                for text in SEARCHES:
                    query = ContactQuery(search=text, status=status, sort=sort, descending=descending)
                    _check(everyone, query, 11, count=False)
                    _check(everyone, query, 11, count=True)
    assert slices


def test_a_new_database_keeps_its_contacts_in_name_order_after_a_plain_cluster(db, mixed_contacts):
    """A new database marks the name index as the one to cluster on (`schema.store_in_name_order`): the
    admin's plain `CLUSTER contact` stores the contacts in name order, by code point then id, and every road
    still agrees with a full sort."""
    from models.backends.postgres.schema import NAME_ORDER_INDEX

    marked = database.execute_sql("SELECT indexrelid::regclass::text FROM pg_index "
                                  "WHERE indrelid = 'contact'::regclass AND indisclustered").fetchall()
    assert marked == [(NAME_ORDER_INDEX,)]
    database.execute_sql("CLUSTER contact")
    stored = [row[0] for row in database.execute_sql("SELECT id FROM contact ORDER BY ctid")]
    assert stored == _expected(_everyone(), ContactQuery(sort="name")) != sorted(stored)
    database.execute_sql("ANALYZE contact")
    everyone = _everyone()
    for text in SEARCHES:
        for descending in (False, True):
            _check(everyone, ContactQuery(search=text, descending=descending), 11, count=False)


def test_a_common_word_fills_its_window_in_one_walk_sized_by_the_estimate(db, mixed_contacts, monkeypatch):
    """With statistics, a word the planner expects often enough to fill its window by walking (`_first_walk`)
    walks as far as the estimate predicts in one go, past the usual cap, instead of a capped walk and a second
    one; a rare one keeps the cap. Every window still agrees with a full sort."""
    monkeypatch.setattr(search, "WALK", 30)
    caps = []
    real = search.walk_statement
    monkeypatch.setattr(search, "walk_statement", lambda query, words, offset, limit, cap: caps.append(cap) or
                        real(query, words, offset, limit, cap))
    database.execute_sql("ANALYZE contact")
    everyone = _everyone()
    for text in ("a.com", "b.org"):  # half the contacts each
        for offset in (0, 3):
            caps.clear()
            query = ContactQuery(search=text)
            want = _expected(everyone, query)
            page = contacts.contact_page(query, offset, 40, count=False)
            assert [r.id for r in page.rows] == want[offset:offset + 40], (text, offset)
            assert caps and caps[0] > 30 + offset, (text, offset, caps)
    assert search._first_walk(0, 40, 30, 1.0, 1_000_000) == 30  # one match expected in a million: the cap stays
