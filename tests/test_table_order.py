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
        rows.append(dict(email=f"{(first or 'x').lower()}.{n}@{rng.choice(['a.com', 'b.org'])}", first_name=first,
                         last_name=last, company=rng.choice(COMPANIES), status=status, invited_at=invited,
                         last_login_at=login, joined_at=login, created_at=now, updated_at=now))
    with database.atomic():
        Contact.insert_many(rows).execute()
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
