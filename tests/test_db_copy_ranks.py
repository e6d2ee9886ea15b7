"""`db copy` into SQLite ranks and indexes the contacts as they go in: the source's contacts read once in name order
(keyset batches) fill the search index and give each contact its rank, then the contacts go in by id with their
ranks, and the unique address index, set aside meanwhile, is built at the end. These tests hold the ranks and the
index to a full sort and a scan where the name order is hard (ties, case, accents, batch edges), where the source's
search text is empty, where ids are spread thinly, and check that a shared address still stops the copy in one line,
leaving the target empty with its schema."""

from __future__ import annotations

import sqlite3

import pytest

from models import contacts
from models.backends.sqlite.bulk import NameRanks
from models.copy import copy_database
from models.db import database, open_database
from models.entities import Contact, search_text
from tests.fixtures_search import index_matches_contacts
from tests.test_db_copy import (  # noqa: F401 - the fixtures are shared
    assert_derived_state_is_exact,
    assert_schema_as_new,
    cli_at,
    copy_refused,
    source,
    sqlite_schema,
    table_rows,
)

HARD_NAMES = [("Ann", "Smith"), ("ann", "Smith"), ("Ann", "smith"), ("Ánn", "Smith"), ("", "Smith"), ("Ann", ""),
              ("Zoë", "Ärger"), ("zed", "Arger"), ("Ann", "Smith"), ("Ann", "Smith"), ("Bo", "Smith "),
              ("Bo", " Smith")]
"""Names whose order by code point differs from a dictionary's, ties broken by id, and a space at either end."""


def _add_hard_names(path) -> None:
    open_database(path)
    try:
        for n, (first, last) in enumerate(HARD_NAMES * 3):
            contacts.add_contact(f"hard{n}@example.com", first, last, f"Firm {n % 4}")
    finally:
        database.close()


@pytest.mark.parametrize("batch_size", [1, 3, 7])
def test_ties_case_and_accents_across_batch_edges_get_ranks_in_full_name_order(source, tmp_path, batch_size):
    _add_hard_names(source)
    target = tmp_path / "copy.db"
    report = copy_database(source, target, batch_size=batch_size)
    assert report.stats_match, report.differences()
    assert table_rows(source) == table_rows(target)
    assert_derived_state_is_exact(target)  # ranks against a sort by code point, the index against a scan
    assert_schema_as_new(target, tmp_path)
    open_database(target)
    try:
        assert index_matches_contacts(database)  # each entry under its contact's rank, nothing more
    finally:
        database.close()


def test_a_contact_with_an_empty_search_text_in_the_source_is_indexed_by_the_text_it_should_have(source, tmp_path):
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE contact SET search_text = '' WHERE id IN (3, 17)")
    conn.close()
    target = tmp_path / "copy.db"
    assert copy_database(source, target, batch_size=5).stats_match
    open_database(target)
    try:
        for contact in Contact.select().where(Contact.id.in_([3, 17])):
            assert contact.search_text == search_text(contact.first_name, contact.last_name, contact.email,
                                                      contact.company) != ""
    finally:
        database.close()
    assert_derived_state_is_exact(target)


def test_ids_spread_thinly_are_ranked_through_a_dict_not_a_huge_array(source, tmp_path):
    """A contact id far beyond the others (ids given out elsewhere, rows deleted): the ranks by id are kept in a
    dict, not an array over fifty million ids, and every contact is still ranked and indexed."""
    open_database(source)
    try:
        contacts.add_contact("far@example.com", "Far", "Away")
        far = Contact.get(Contact.email == "far@example.com").id
    finally:
        database.close()
    with sqlite3.connect(source) as conn:
        for table in ("contact", "audit_entry"):
            column = "id" if table == "contact" else "contact_id"
            conn.execute(f"UPDATE {table} SET {column} = 50000000 WHERE {column} = ?", (far,))
    conn.close()
    target = tmp_path / "copy.db"
    assert copy_database(source, target, batch_size=7).stats_match
    assert table_rows(source) == table_rows(target)
    assert_derived_state_is_exact(target)
    assert isinstance(NameRanks(range(1, 50_000_001), 42).ranks, dict)
    assert not isinstance(NameRanks(range(1, 1_000_001), 1_000_000).ranks, dict)


def test_a_link_token_two_source_rows_share_stops_the_copy_when_the_links_index_is_built(source, tmp_path, cli_at):
    """The links' indexes, their unique token index too, are set aside while the links go in and built at the end:
    a token two source links share (the source's unique index dropped) stops the copy there, in one line, and the
    target is left empty with its schema."""
    with sqlite3.connect(source) as conn:
        conn.execute("DROP INDEX magic_link_token_hash")
        conn.execute("UPDATE magic_link SET token_hash = (SELECT MIN(token_hash) FROM magic_link) "
                     "WHERE id = (SELECT MAX(id) FROM magic_link)")
    conn.close()
    target, error = copy_refused(source, tmp_path, cli_at)
    assert error == (f"error: db copy stopped at the counts, ranks and indexes made at the end: UNIQUE constraint "
                     f"failed: magic_link.token_hash; nothing was copied, the target {target} is as it was\n")
