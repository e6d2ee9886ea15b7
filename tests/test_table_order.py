"""The contact table shows exactly what a full sort done by hand shows: for every sort order and direction, every
status filter, searches of each kind (none, one letter, two letters, a word, two words, a miss), at the top, in
the middle and at the end of the result. The table's painted lines are compared, not only its data.

The expected rows come from Python, not SQL: every contact read once, filtered with `in` on ASCII-folded text
(SQLite's LIKE folds ASCII only), sorted by the same keys with NULLs first ascending and last descending (as
SQLite orders them), ties broken by id in the same direction.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

import pytest

from models import clock, contacts
from models.contacts import ContactQuery
from models.db import database
from models.entities import STATUSES, Contact
from tests.fixtures_tui import settle
from tui.widgets.contact_table import SORTABLE, ContactTable

_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
FIRST = ["Ada", "Zoé", "ada", "Émile", "Jo", "Björn", "", "Anne-Marie", "Ωmega", "José", "Lu"]
LAST = ["Lovelace", "lovelace", "Öberg", "Smith", "smith", "O'Brien", "", "Zhang", "Müller", "Ng", "Van Dyke"]
COMPANIES = ["Acme", "ACME GmbH", "", "Zeta & Co", "Éclair SA"]
SEARCHES = ["", "e", "jo", "smith", "ada love", "zzzq"]
SORT_FIELDS = {
    "name": ("last_name", "first_name", "id"),
    "email": ("email",),
    "status": ("status", "id"),
    "invited_at": ("invited_at", "id"),
    "last_login": ("last_login_at", "id"),
    "company": ("company", "id"),
    "created": ("id",),
}


@pytest.fixture
def mixed_contacts(db, frozen_clock):
    """260 contacts: repeated, accented, empty and case-varied names; every status; timestamps with NULLs and ties."""
    rng = random.Random(7)
    now = clock.now()
    rows = []
    for n in range(260):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        status = STATUSES[n % len(STATUSES)]
        invited = None if status == "not_invited" else now - timedelta(hours=rng.choice([1, 2, 2, 5, 30]))
        login = invited if status == "joined" and n % 3 else None
        expires = invited + timedelta(hours=rng.choice([-3, 1, 20, 200])) if status == "invited" else None
        rows.append(dict(email=f"{(first or 'x').lower()}.{n}@{rng.choice(['a.com', 'b.org'])}", first_name=first,
                         last_name=last, company=rng.choice(COMPANIES), status=status, invited_at=invited,
                         last_login_at=login, joined_at=login, invite_expires_at=expires, created_at=now,
                         updated_at=now))
    with database.atomic():
        Contact.insert_many(rows).execute()
        contacts.keep_name_order()  # as our own writers do after writing contacts
    return list(Contact.select())


def expected_ids(everyone, query: ContactQuery) -> list[int]:
    words = [w.translate(_FOLD) for w in query.search.split()]
    found = [c for c in everyone
             if (query.status is None or c.status == query.status)
             and all(w in f"{c.first_name} {c.last_name} {c.email} {c.company}".translate(_FOLD) for w in words)]

    def key(contact):
        out = []
        for field in SORT_FIELDS[query.sort]:
            value = getattr(contact, field)
            out.append((value is not None, value if value is not None else 0))
        return out

    found.sort(key=key, reverse=query.descending)
    return [c.id for c in found]


async def _show(pilot, table: ContactTable, query: ContactQuery) -> None:
    table.set_query(query)
    await settle(pilot, rounds=4)
    for _ in range(200):
        if not table.busy and table.counted and table.query_spec == query:
            return
        await pilot.pause(0.01)
    raise AssertionError(f"the table never settled on {query}")


def _painted_emails(table: ContactTable) -> list[str]:
    """The email column as drawn on screen, one entry per drawn row."""
    lines = [table.render_line(table.header_height + i).text for i in range(table.row_count)]
    widths = table._col_widths  # noqa: SLF001 - where the email column starts is the table's own layout
    start = sum(widths[k] + 2 * table.cell_padding for k in ("mark", "name")) + table.cell_padding
    return [line[start : start + widths["email"]].rstrip() for line in lines]


async def test_every_order_filter_and_offset_shows_what_a_full_sort_shows(portal_app, mixed_contacts):
    everyone = mixed_contacts
    app = portal_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ContactTable)
        checked = 0
        for sort in SORTABLE + ("company", "created"):
            for descending in (False, True):
                for status in (None, *STATUSES):
                    for search in SEARCHES:
                        if status not in (None, "invited") and search not in ("", "e"):
                            continue  # every filter with every order; the searches with two of them
                        query = ContactQuery(search=search, status=status, sort=sort, descending=descending)
                        await _show(pilot, table, query)
                        want = expected_ids(everyone, query)
                        assert table.total == len(want), query
                        for offset in sorted({0, len(want) // 2, max(0, len(want) - 1)}):
                            if not want:
                                assert table.row_count == 0
                                continue
                            table._move_to(offset, offset)  # noqa: SLF001 - jump as pgdn/end would
                            for _ in range(200):
                                if not table.busy and table.shown_rows and \
                                        table.shown_rows[0].id == want[table.top_index]:
                                    break
                                await pilot.pause(0.01)
                            top = table.top_index
                            shown = [row.id for row in table.shown_rows]
                            assert shown == want[top : top + len(shown)], (query, offset)
                            assert len(shown) == min(table._view_height(), len(want) - top)  # noqa: SLF001
                            by_id = {c.id: c for c in everyone}
                            for painted, contact_id in zip(_painted_emails(table), shown):
                                email = by_id[contact_id].email
                                assert painted == email or (painted.endswith("…") and email.startswith(painted[:-1]))
                            checked += 1
        assert checked > 150


async def test_the_search_plan_agrees_with_a_full_sort_in_the_model(db, mixed_contacts):
    """The model layer alone: every page of every query, against the same by-hand answer."""
    everyone = mixed_contacts
    for sort in SORT_FIELDS:
        for descending in (False, True):
            for search in SEARCHES:
                query = ContactQuery(search=search, sort=sort, descending=descending)
                want = expected_ids(everyone, query)
                assert contacts.count_contacts(query) == len(want)
                for offset in range(0, len(want) + 1, 37):
                    page = contacts.contact_page(query, offset, 37)
                    assert [r.id for r in page.rows] == want[offset : offset + 37], (query, offset)
                    assert dataclasses.replace(page, rows=[]).total == len(want)


# --- the name order kept in the data (schema v8) ---------------------------------------------------------------

ORDER_SEARCHES = ["", "e", "jo", "ad", "smith", "ada love", "a.com", "zzqx", "j s"]
"""Each kind of search the name-order plan answers differently: none (the rank index), one letter and pairs (a
walk, or the index's terms), words of three letters or more (the index in rank order), two words, a miss."""


def _unranked() -> int:
    return database.execute_sql("SELECT COUNT(*) FROM contact WHERE name_rank IS NULL").fetchone()[0]


def _check_every_page(everyone, *, count: bool = True, statuses=(None, "invited", "revoked", "expired")) -> int:
    """Every page of every name-ordered query (both directions, the given status filters), against the by-hand
    answer; with `count` false, a page's total is a lower bound until it is exact, and never more than the truth."""
    checked = 0
    for descending in (False, True):
        for status in statuses:
            for search in ORDER_SEARCHES:
                query = ContactQuery(search=search, status=status, sort="name", descending=descending)
                want = _expected(everyone, query)
                if count:
                    assert contacts.count_contacts(query) == len(want), query
                for offset in sorted({0, 1, 13, len(want) // 2, max(0, len(want) - 5), len(want) + 3}):
                    assert_page_agrees(query, want, offset, 11, count=count)
                    checked += 1
    return checked


def assert_page_agrees(query: ContactQuery, want: list[int], offset: int, limit: int, *, count: bool) -> None:
    """The window `contact_page` gives at `offset` is `want`'s (a full sort by hand), and its total is exact when
    counted (or known exact), else a lower bound that is never above the real count."""
    page = contacts.contact_page(query, offset, limit, count=count)
    assert [r.id for r in page.rows] == want[offset : offset + limit], (query, offset)
    if count or page.exact:
        assert page.total == len(want), (query, offset, page.total)
    else:
        assert offset + len(page.rows) <= page.total <= len(want), (query, offset)


def _expected(everyone, query: ContactQuery) -> list[int]:
    """`expected_ids`, with the expired filter (invited, link lapsed by now) done by hand too."""
    if query.status != "expired":
        return expected_ids(everyone, query)
    now = clock.now().replace(tzinfo=None)
    lapsed = [c for c in everyone if c.status == "invited" and c.invite_expires_at is not None
              and c.invite_expires_at.replace(tzinfo=None) <= now]
    return [i for i in expected_ids(lapsed, dataclasses.replace(query, status=None))]


def _everyone():
    return list(Contact.select())


def test_the_name_order_plan_agrees_with_a_full_sort(db, mixed_contacts):
    """Every name-ordered page, counted and uncounted (as the dashboard asks), with the expired filter too."""
    everyone = _everyone()
    assert _unranked() == 0
    assert _check_every_page(everyone) > 300
    assert _check_every_page(everyone, count=False) > 300


def test_the_name_order_survives_adds_renames_deletes_and_crowding(db, mixed_contacts):
    """The ranks stay in name order through everything our writers do, including forty contacts added at the
    same place in the order (the gap between two ranks runs out, the neighbourhood is spread again), renames that
    move a contact across the list, and deletes; the search index follows every rank."""
    rng = random.Random(12)
    for n in range(40):  # the same name over and over: each new one goes after the last, before the next name
        contacts.add_contact(f"crowd{n}@a.com", first_name="Jo", last_name="Lovelace", company="Acme")
    for n in range(30):
        contacts.add_contact(f"new{n}@b.org", first_name=rng.choice(FIRST), last_name=rng.choice(LAST),
                             company=rng.choice(COMPANIES))
    ids = [c.id for c in Contact.select(Contact.id)]
    for contact_id in rng.sample(ids, 40):
        contacts.update_contact(contact_id, first_name=rng.choice(FIRST), last_name=rng.choice(LAST))
    for contact_id in rng.sample(ids, 25):
        try:
            contacts.delete_contact(contact_id)
        except contacts.NotFound:
            pass
    assert _unranked() == 0
    everyone = _everyone()
    assert _check_every_page(everyone, statuses=(None, "joined")) > 150
    assert _check_every_page(everyone, count=False, statuses=(None,)) > 75


def test_rows_written_behind_our_back_are_still_found_in_order(db, mixed_contacts):
    """A writer that is not ours (plain SQL, a tool) crowding one place in the order leaves contacts without a
    rank: searches then fall back to LIKE and the names, and stay right; our next write ranks them all again."""
    with database.atomic():
        Contact.insert_many([dict(email=f"tool{n}@a.com", first_name="Ada", last_name="Smith", company="Acme",
                                  created_at=clock.now(), updated_at=clock.now()) for n in range(30)]).execute()
    assert _unranked() > 0
    assert _check_every_page(_everyone(), statuses=(None,)) > 50
    contacts.add_contact("late@b.org", first_name="Zoé", last_name="Zhang")
    assert _unranked() == 0
    assert _check_every_page(_everyone(), statuses=(None,)) > 50


def test_narrowing_reuses_a_complete_result_only_while_it_is_current(db, mixed_contacts, tmp_path):
    """Typing on ('a', 'ad', 'ada', 'ada ', 'ada l' ...) answers from the previous complete result; a contact added
    between two keys (on this connection, or by another one) is found by the next key all the same."""
    typed = "ada lovelace"
    for i in range(1, len(typed) + 1):
        query = ContactQuery(search=typed[:i])
        page = contacts.contact_page(query, 0, 500, count=False)
        assert [r.id for r in page.rows] == expected_ids(_everyone(), query), query
        if i == 5:
            contacts.add_contact("ada.lovelace.2@c.net", first_name="Ada", last_name="Lovelace")
    contacts.contact_page(ContactQuery(search="ada lov"), 0, 500, count=False)

    def other_writer():
        from peewee import SqliteDatabase

        other = SqliteDatabase(database.database)
        other.execute_sql("INSERT INTO contact (email, first_name, last_name, phone, company, status, created_at, "
                          "updated_at, invite_count, search_text) VALUES ('ada.lovelace.3@c.net', 'Ada', 'Lovelace', "
                          "'', '', 'not_invited', '2024-01-01', '2024-01-01', 0, '')")
        other.close()

    import threading

    thread = threading.Thread(target=other_writer)
    thread.start()
    thread.join()
    query = ContactQuery(search="ada love")
    page = contacts.contact_page(query, 0, 500, count=False)
    assert "ada.lovelace.3@c.net" in [r.email for r in page.rows]
    assert [r.id for r in page.rows] == expected_ids(_everyone(), query)


def test_a_version_7_file_is_upgraded_to_the_name_order(tmp_path, monkeypatch):
    """A real version-7 file (made by this code's own upgrades stopped at 7: index keyed by id with its own copy
    of the text, names-by-id and status-and-names indexes), with contacts written by v7's triggers, opens as v8:
    ranks in name order, the index keyed by rank and holding exactly the contacts' text, the old indexes gone,
    and searches, renames and deletes right."""
    from models import db as dbmod
    from tests.fixtures_search import index_matches_contacts

    path = tmp_path / "v7.db"
    monkeypatch.setattr(dbmod, "SCHEMA_VERSION", 7)
    dbmod.open_database(path)
    assert database.execute_sql("PRAGMA user_version").fetchone()[0] == 7
    rng = random.Random(5)
    with database.atomic():
        for n in range(120):
            database.execute_sql(
                "INSERT INTO contact (email, first_name, last_name, phone, company, status, created_at, updated_at, "
                "invite_count, search_text) VALUES (?, ?, ?, '', ?, 'not_invited', '2026-01-01', '2026-01-01', 0, '')",
                (f"p{n}@{rng.choice(['a.com', 'b.org'])}", rng.choice(FIRST), rng.choice(LAST), rng.choice(COMPANIES)))
    v7_indexes = {row[1] for row in database.execute_sql("PRAGMA index_list(contact)")}
    assert {"contact_id_names", "contact_status_names"} <= v7_indexes
    assert database.execute_sql("SELECT COUNT(*) FROM contact_fts").fetchone()[0] == 120  # v7: a copy of the text
    database.close()
    monkeypatch.undo()
    dbmod.open_database(path)
    assert database.execute_sql("PRAGMA user_version").fetchone()[0] == dbmod.SCHEMA_VERSION >= 8
    indexes = {row[1] for row in database.execute_sql("PRAGMA index_list(contact)")}
    assert not {"contact_id_names", "contact_status_names"} & indexes
    assert {"contact_name_rank", "contact_status_rank"} <= indexes
    assert index_matches_contacts(database)
    assert _check_every_page(_everyone(), statuses=(None, "not_invited")) > 100
    someone = Contact.select().order_by(Contact.id).first()
    contacts.update_contact(someone.id, first_name="Aaron", last_name="Aardvark")
    contacts.delete_contact(Contact.select().order_by(Contact.id.desc()).first().id)
    assert index_matches_contacts(database)
    assert contacts.contact_page(ContactQuery(search="aardv"), 0, 5).rows[0].id == someone.id
    database.close()


def _statements(run) -> list[str]:
    """The SQL statements `run()` sends to SQLite on this connection (not FTS5's reads of its own tables)."""
    seen: list[str] = []
    connection = database.connection()
    connection.set_trace_callback(seen.append)
    try:
        run()
    finally:
        connection.set_trace_callback(None)
    return [s for s in seen if "contact_fts_" not in s and "_config" not in s]


def test_a_window_in_name_order_sorts_and_counts_nothing(db, mixed_contacts):
    """As the dashboard asks (no count), a window in name order runs no COUNT and no sort: the index's matches,
    in rank order, are the window; the list without a search reads the rank index."""
    from models.backends.sqlite import search

    for text in ("smith", "ada love", "", "a.com"):
        for descending in (False, True):
            query = ContactQuery(search=text, descending=descending)
            search.forget_narrowing()
            statements = _statements(lambda: contacts.contact_page(query, 0, 20, count=False))
            assert not [s for s in statements if "COUNT(" in s.upper()], statements
            for sql in statements:
                if sql.lstrip().upper().startswith("SELECT") and "contact" in sql:
                    plan = " | ".join(row[-1] for row in database.execute_sql("EXPLAIN QUERY PLAN " + sql))
                    assert "TEMP B-TREE" not in plan, (sql, plan)


def test_a_key_that_narrows_a_complete_result_runs_no_query(db, mixed_contacts):
    """'ada lovelac' answered completely (every match in the window): 'ada lovelace' is the same rows filtered
    again, with no SQL beyond asking whether anything changed."""
    contacts.contact_page(ContactQuery(search="ada lovelac"), 0, 200, count=False)
    statements = _statements(lambda: contacts.contact_page(ContactQuery(search="ada lovelace"), 0, 200, count=False))
    assert [s.strip().upper() for s in statements] == ["PRAGMA DATA_VERSION"]
