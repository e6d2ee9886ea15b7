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
from tests.test_db_copy import cli_at, source, table_rows  # noqa: F401 - the fixtures are shared


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
