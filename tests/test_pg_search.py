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
from tests.test_table_order import SORT_FIELDS, _everyone, _expected, mixed_contacts  # noqa: F401 - a fixture

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
        page = contacts.contact_page(query, offset, limit, count=count)
        assert [r.id for r in page.rows] == want[offset : offset + limit], (query, offset)
        if count or page.exact:
            assert page.total == len(want), (query, offset, page.total)
        else:
            assert offset + len(page.rows) <= page.total <= len(want), (query, offset)
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
                            page = search._walk(query, words, offset, 7, cap)
                            if page is not None:
                                assert [r.id for r in page.rows] == want[offset : offset + 7], (query, cap, offset)
                                if page.exact:
                                    assert page.total == len(want), (query, cap, offset)
                        page = search._sorted(query, words, offset, 7, hint=True)
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
