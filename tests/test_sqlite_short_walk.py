"""A search of one or two letters in name order on SQLite: a common one fills its window in the first walk of the
contacts in name order, a less common one walks on from there, a rare one goes to the index at once (no walk of
SHORT_WALK contacts in vain first). Every road gives what a full sort done by hand gives, at every offset.

The letters' frequencies are set by the data: 'k' in one contact of two, 'q' in one of four, 'x' in one of thirty
(at random), and 'w' in every fourteenth in name order (36 in the first walk, 172 in all: fewer than a window).
"""

from __future__ import annotations

import random
import re

import pytest

from models import clock, contacts
from models.backends.sqlite import search
from models.contacts import ContactQuery
from models.db import database
from models.entities import Contact
from tests.test_table_order import _statements, assert_page_agrees, expected_ids

FIRST = ["Ada", "Bea", "Cid", "Dee", "Eve", "Fab", "Gil"]
LAST = ["Hill", "Ball", "Gale", "Dale", "Bell", "Mill"]
CONTACTS = 2_400
LIMIT = 200  # the dashboard's window


@pytest.fixture
def lettered(db):
    """CONTACTS contacts whose names hold no 'k', 'q' or 'x': those come from the company, at set frequencies."""
    now, rng = clock.now(), random.Random(12)
    rows = []
    for n in range(CONTACTS):
        company = " ".join(part for part, odds in (("Ka", 2), ("Qa", 4), ("Xe", 30)) if rng.randrange(odds) == 0)
        rows.append(dict(email=f"p{n}@mail.ed", first_name=rng.choice(FIRST), last_name=rng.choice(LAST),
                         company=company, status="not_invited", created_at=now, updated_at=now))
    with database.atomic():
        for start in range(0, len(rows), 500):
            Contact.insert_many(rows[start : start + 500]).execute()
        contacts.keep_name_order()
        in_order = [row[0] for row in database.execute_sql("SELECT id FROM contact ORDER BY name_rank")]
        Contact.update(company=Contact.company.concat(" Wo")).where(Contact.id.in_(in_order[::14])).execute()
    return list(Contact.select())


def _walked(statements: list[str]) -> list[tuple[int, int]]:
    """(how many contacts, after how many) each walk in name order read, from its SQL."""
    walks = []
    for sql in statements:
        found = re.search(r"ORDER BY name_rank (?:ASC|DESC) LIMIT (-?\d+)(?: OFFSET (\d+))?\)", sql)
        if found:
            walks.append((int(found.group(1)), int(found.group(2) or 0)))
    return walks


def _looked_up(statements: list[str]) -> bool:
    return any("MATCH" in sql for sql in statements)


@pytest.mark.parametrize("descending", [False, True])
def test_each_road_of_a_short_word_agrees_with_a_full_sort(lettered, descending):
    for text in ("k", "q", "w", "x", "ka", "xe", "k q", "zz"):
        query = ContactQuery(search=text, descending=descending)
        want = expected_ids(lettered, query)
        for offset in sorted({0, 1, 57, len(want) // 2, max(0, len(want) - 5), len(want) + 3}):
            search.forget_narrowing()
            assert_page_agrees(query, want, offset, LIMIT, count=False)
        assert contacts.count_contacts(query) == len(want)


def test_a_common_letter_fills_its_window_in_the_first_walk(lettered):
    search.forget_narrowing()
    statements = _statements(lambda: contacts.contact_page(ContactQuery(search="k"), 0, LIMIT, count=False))
    assert _walked(statements) == [(search.FIRST_WALK, 0)]
    assert not _looked_up(statements)


def test_a_less_common_letter_walks_on_from_where_the_first_walk_stopped(lettered):
    """'q', one contact in four: the first walk finds about 125 of 200, so the walk goes on after it (never
    reading its contacts again) rather than asking the index."""
    search.forget_narrowing()
    statements = _statements(lambda: contacts.contact_page(ContactQuery(search="q"), 0, LIMIT, count=False))
    walks = _walked(statements)
    assert walks[0] == (search.FIRST_WALK, 0)
    assert len(walks) == 2 and walks[1][1] == search.FIRST_WALK, walks
    assert not _looked_up(statements)


def test_a_rare_letter_goes_to_the_index_after_the_first_walk(lettered):
    """'x', one contact in thirty: the first walk finds about 17, so 200 would be some 6,000 contacts away. The
    index is asked at once, not after walking SHORT_WALK contacts."""
    search.forget_narrowing()
    statements = _statements(lambda: contacts.contact_page(ContactQuery(search="x"), 0, LIMIT, count=False))
    assert _walked(statements) == [(search.FIRST_WALK, 0)]
    assert _looked_up(statements)


def test_a_walk_that_looked_at_every_contact_knows_the_count(lettered):
    """'w': 172 matches, the 200th would be past the last contact (36 in the first walk), so the walk goes on to the
    end and finds them all. The page is exact (no count
    needed after it) and the index is not asked."""
    want = expected_ids(lettered, ContactQuery(search="w"))
    assert len(want) < LIMIT
    search.forget_narrowing()
    page = []
    statements = _statements(lambda: page.append(contacts.contact_page(ContactQuery(search="w"), 0, LIMIT,
                                                                       count=False)))
    assert page[0].exact and page[0].total == len(want)
    assert [r.id for r in page[0].rows] == want
    assert len(_walked(statements)) == 2 and not _looked_up(statements)


def test_a_small_list_is_answered_by_the_first_walk(db):
    """Fewer contacts than FIRST_WALK: the first walk sees them all, so even a rare letter's window is exact."""
    now = clock.now()
    Contact.insert_many([dict(email=f"p{n}@mail.ed", first_name="Ada", last_name="Xu" if n % 40 == 0 else "Hill",
                              status="not_invited", created_at=now, updated_at=now) for n in range(300)]).execute()
    contacts.keep_name_order()
    search.forget_narrowing()
    page = []
    statements = _statements(lambda: page.append(contacts.contact_page(ContactQuery(search="x"), 0, LIMIT,
                                                                       count=False)))
    assert page[0].exact and page[0].total == 8
    assert _walked(statements) == [(search.FIRST_WALK, 0)] and not _looked_up(statements)
