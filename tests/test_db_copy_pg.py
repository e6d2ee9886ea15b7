"""`client-portal db copy` onto a real PostgreSQL server and back: SQLite -> PostgreSQL -> SQLite keeps every row
and id, the three `stats --json` are equal, the server's id sequences continue after the copied ids, and a server
database that already holds rows is refused. The server is the tests' own (tests/fixtures_pg.py)."""

from __future__ import annotations

import json

import peewee

from models import contacts
from models.copy import COPY_ORDER
from models.db import database, open_database
from models.entities import Contact, OutboxMessage
from tests.test_db_copy import (  # noqa: F401 - the fixtures are shared
    assert_derived_state_is_exact,
    assert_schema_as_new,
    cli_at,
    source,
    sqlite_schema,
    table_rows,
)


def rows_at(spec) -> dict[str, list[tuple]]:
    return table_rows(spec)


def test_sqlite_to_postgres_and_back_keeps_every_row_and_the_stats(source, pg_empty_url, tmp_path, cli_at):
    there = cli_at(source, "db", "copy", str(source), pg_empty_url)
    assert there.exit_code == 0, there.output
    assert "its stats equal the source's (41 contacts)" in there.stdout
    back_path = tmp_path / "back.db"
    back = cli_at(source, "db", "copy", pg_empty_url, str(back_path))
    assert back.exit_code == 0, back.output
    original = rows_at(source)
    assert rows_at(pg_empty_url) == original
    assert rows_at(back_path) == original
    figures = [json.loads(cli_at(spec, "stats", "--json").stdout) for spec in (source, pg_empty_url, back_path)]
    assert figures[0] == figures[1] == figures[2]
    assert figures[0]["invites_no_mail"] and figures[0]["outbox_failed"] and figures[0]["joined"]
    # the server's search finds what the file's does
    for words in ("company 3", "first1", "cødé", "[bold]", "pe"):
        found = [json.loads(cli_at(spec, "contacts", "list", "--search", words, "--json").stdout)
                 for spec in (source, pg_empty_url)]
        assert found[0] == found[1] and found[0]["total"], words


def test_the_servers_ids_continue_after_the_copied_ones(source, pg_empty_url, cli_at):
    assert cli_at(source, "db", "copy", str(source), pg_empty_url).exit_code == 0
    assert cli_at(pg_empty_url, "contacts", "add", "after-copy@example.com").exit_code == 0
    assert cli_at(pg_empty_url, "invite", "after-copy@example.com").exit_code == 0
    open_database(pg_empty_url)
    try:
        new = Contact.get(Contact.email == "after-copy@example.com")
        assert new.id == Contact.select(peewee.fn.MAX(Contact.id)).scalar() > 41
        assert OutboxMessage.select().where(OutboxMessage.contact == new.id).count() == 1
    finally:
        database.close()


def test_a_server_database_with_rows_is_refused_and_left_as_it_was(source, pg_url, cli_at):
    open_database(pg_url)
    contacts.add_contact("keep@example.com")
    database.close()
    before = rows_at(pg_url)
    result = cli_at(source, "db", "copy", str(source), pg_url)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the target postgresql://") and result.stderr.count("\n") == 1
    assert "is not empty (it has rows in contact, audit_entry)" in result.stderr
    assert rows_at(pg_url) == before
    assert set(before) == {model._meta.table_name for model in COPY_ORDER}


def test_an_unreachable_server_is_one_line(source, tmp_path, cli_at):
    from tests.fixtures_pg import free_port

    url = f"postgresql://portal:secret@127.0.0.1:{free_port()}/portal"
    result = cli_at(source, "db", "copy", str(source), url)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "cannot reach the PostgreSQL server" in result.stderr
    assert "secret" not in result.output
    result = cli_at(source, "db", "copy", url, str(tmp_path / "t.db"))
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "t.db").exists()


def _upkeep(url: str) -> tuple[list[tuple], list[tuple]]:
    """The database's secondary indexes (name, definition) and its user triggers (table, name, enabled)."""
    open_database(url)
    try:
        indexes = database.execute_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "ORDER BY indexname").fetchall()
        triggers = database.execute_sql(
            "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal "
            "ORDER BY 1, 2").fetchall()
    finally:
        database.close()
    return indexes, triggers


def test_the_copy_leaves_the_servers_indexes_triggers_and_search_keys_as_a_new_database_has_them(
        source, pg_empty_url, pg_url, cli_at):
    assert cli_at(source, "db", "copy", str(source), pg_empty_url).exit_code == 0
    fresh_indexes, fresh_triggers = _upkeep(pg_url)
    copied_indexes, copied_triggers = _upkeep(pg_empty_url)
    assert copied_indexes == fresh_indexes
    assert copied_triggers == fresh_triggers and {enabled for _, _, enabled in copied_triggers} == {"O"}
    open_database(pg_empty_url)
    try:
        from models.backends.postgres import schema

        stale = database.execute_sql(
            f"SELECT COUNT(*) FROM contact WHERE search_text IS DISTINCT FROM {schema.SEARCH_TEXT.format(p='')} "
            f"OR {schema.SEARCH_KEY} IS DISTINCT FROM {schema.SEARCH_KEY_SQL.format(p='')}").fetchone()[0]
        assert stale == 0 and Contact.select().count() == 41
        # Analyzed with the copy: search plans by the statistics at once, not after autovacuum's first pass.
        analyzed = {row[0] for row in database.execute_sql(
            "SELECT attname FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'contact'")}
        assert {"last_name", "email", schema.SEARCH_KEY} <= analyzed
    finally:
        database.close()
    # The triggers keep up again: a contact added and invited after the copy is counted and found.
    assert cli_at(pg_empty_url, "invite", "after-copy@example.com").exit_code == 0
    stats = json.loads(cli_at(pg_empty_url, "stats", "--json").stdout)
    assert stats["contacts"] == 42
    found = json.loads(cli_at(pg_empty_url, "contacts", "list", "--search", "after-copy", "--json").stdout)
    assert found["total"] == 1


def test_a_copy_the_server_refuses_midway_leaves_the_target_empty_with_its_indexes_and_triggers(
        source, pg_empty_url, pg_url, cli_at):
    import sqlite3

    # A NUL character: SQLite keeps it in a text value, PostgreSQL refuses it, in the last rows of the copy.
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE audit_entry SET detail = 'nul' || char(0) || 'here' "
                     "WHERE id = (SELECT MAX(id) FROM audit_entry)")
    conn.close()
    open_database(pg_empty_url)  # the target's schema first, so what the failed copy leaves can be compared
    database.close()
    before = _upkeep(pg_empty_url)
    result = cli_at(source, "db", "copy", str(source), pg_empty_url)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert _upkeep(pg_empty_url) == before == _upkeep(pg_url)
    assert all(not rows for rows in rows_at(pg_empty_url).values())


def test_the_copy_back_makes_counts_ranks_and_search_index_as_a_recount_a_sort_and_a_scan(
        source, pg_empty_url, tmp_path, cli_at):
    """Into SQLite from a server through the bulk path: the server's stored values (datetimes, booleans) land as
    the file's own rows hold them, and what the set-aside triggers keep is made once, exactly."""
    from models.copy import copy_database

    assert copy_database(source, pg_empty_url).stats_match
    back = tmp_path / "back.db"
    report = copy_database(pg_empty_url, back)
    assert report.stats_match, report.differences()
    import sqlite3

    def stored(path):  # the values as the file stores them, not as Peewee reads them (the name ranks are the
        # file's own: checked against a sort by `assert_derived_state_is_exact`)
        with sqlite3.connect(path) as conn:
            found = {model._meta.table_name: conn.execute(
                "SELECT {} FROM \"{}\" ORDER BY 1".format(
                    ", ".join(f'"{f.column_name}"' for f in model._meta.sorted_fields), model._meta.table_name)
            ).fetchall() for model in COPY_ORDER}
        conn.close()
        return found

    assert stored(back) == stored(source)
    assert_derived_state_is_exact(back)
    assert_schema_as_new(back, tmp_path)


def test_a_copy_back_the_file_refuses_midway_leaves_it_empty_with_its_triggers_and_indexes(
        source, pg_empty_url, tmp_path, cli_at):
    """Two API keys in use under one name on the server (its partial unique index dropped): the SQLite target
    refuses the second after every contact went in; one line, and the file is as a new one."""
    from models.copy import copy_database

    assert copy_database(source, pg_empty_url).stats_match
    open_database(pg_empty_url)
    try:
        database.execute_sql("DROP INDEX api_key_live_name")
        database.execute_sql("INSERT INTO api_key (name, key_hash, prefix, created_at, created_by) SELECT name, "
                             "key_hash || 'x', prefix, created_at, created_by FROM api_key "
                             "WHERE name = 'billing-portal'")
    finally:
        database.close()
    back = tmp_path / "back.db"
    open_database(back)
    database.close()
    before = sqlite_schema(back)
    result = cli_at(source, "db", "copy", pg_empty_url, str(back))
    assert result.exit_code == 1, result.output
    assert result.stderr == (f"error: db copy stopped at api_key: UNIQUE constraint failed: api_key.name; nothing "
                             f"was copied, the target {back} is as it was\n")
    assert sqlite_schema(back) == before
    assert all(not rows for rows in rows_at(back).values())


def test_the_copy_stores_the_contacts_in_name_order(db_path, pg_empty_url, tmp_path):
    """The contacts go onto the server stored in the name order (`schema.store_in_name_order`), whatever order
    their ids have in the source (here the reverse, with capitals, non-ASCII letters and equal names, which sort
    by code point and then id): a walk of the name order reads them page by page. The name index stays marked as
    the one to cluster on, and a name-order search on the copy shows what a full sort shows."""
    from models.backends.postgres.schema import NAME_ORDER_INDEX, search_key
    from models.copy import copy_database

    names = [("Zoë", "Zed"), ("amy", "zed"), ("Bob", "Émile"), ("Al", "Ng"), ("al", "Ng"), ("Al", "Ng"), ("x", "ÖZ"),
             ("Cy", "Brown"), ("cy", "brown"), ("Dee", ""), ("Ed", "A"), ("Fay", "a b")]
    open_database(db_path)
    for n, (first, last) in enumerate(reversed(names * 4)):
        contacts.add_contact(f"c{n}@example.com", first_name=first, last_name=last)
    database.close()
    copy_database(db_path, pg_empty_url)
    open_database(pg_empty_url)
    try:
        stored = [row[0] for row in database.execute_sql("SELECT id FROM contact ORDER BY ctid")]
        rows = Contact.select(Contact.id, Contact.first_name, Contact.last_name).tuples()
        by_name = [id_ for id_, first, last in sorted(rows, key=lambda r: (r[2], r[1], r[0]))]  # code points
        assert stored == by_name != sorted(by_name)
        clustered = database.execute_sql("SELECT indexrelid::regclass::text FROM pg_index "
                                         "WHERE indrelid = 'contact'::regclass AND indisclustered").fetchall()
        assert clustered == [(NAME_ORDER_INDEX,)]
        keys = dict(Contact.select(Contact.id, Contact.search_text).tuples())
        for text in ("", "ng", "zed", "ng al"):
            want = [id_ for id_ in by_name if all(search_key(word) in search_key(keys[id_]) for word in text.split())]
            page = contacts.contact_page(contacts.ContactQuery(search=text), 0, 100, count=True)
            assert [row.id for row in page.rows] == want and page.total == len(want), text
    finally:
        database.close()


def test_the_copy_back_ranks_by_code_point_whatever_the_servers_collation(source, pg_server, tmp_path):
    """A server database whose default collation is a dictionary's (ICU en-US: 'apple' before 'Banana', 'Ärger'
    before 'zed'): the copy back reads the contacts in code-point order (`COLLATE "C"`), the order the file's
    ranks follow, across keyset batches."""
    import os

    from models.copy import copy_database
    from tests.test_db_copy_ranks import _add_hard_names

    _add_hard_names(source)
    name = f"icu_{os.getpid()}_{tmp_path.name}"
    pg_server.admin(f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' "
                    "LOCALE 'C.UTF-8'")
    try:
        url = pg_server.url(name)
        assert copy_database(source, url).stats_match
        back = tmp_path / "back.db"
        report = copy_database(url, back, batch_size=5)
        assert report.stats_match, report.differences()
        assert table_rows(back) == table_rows(source)
        assert_derived_state_is_exact(back)
    finally:
        database.close()
        pg_server.drop_database(name)
