"""`client-portal db copy SOURCE TARGET` between SQLite files: every table with its ids, the derived counts rebuilt
by the target's own triggers, the same `stats --json`, and an empty target required.

A source with every kind of row is built through the real operations (invite, send, redeem, shown links, revoke,
API keys, handoff codes, templates, settings, domains); the copy is run through the real command.
"""

from __future__ import annotations

import json
from pathlib import Path

import peewee
import pytest

from mail.templates import save_template
from models import contacts, domains, handoff, links, portal, settings
from models.copy import COPY_ORDER, copy_database, display_name
from models.db import database, open_database
from models.entities import CHANNEL_SHOWN, Contact, OutboxMessage

HOSTILE = "[/x] <a@b> \x1b[31mred"
"""A name that is markup, an address and an escape sequence: copied as data."""


def populate(cli) -> None:
    """Every table of the open database gets rows, in every state the stats count."""
    domains.add_domain("portal.example.com")
    domains.add_domain("clients.example.org", select=True)
    for index in range(40):
        contacts.add_contact(f"person{index}@example.com", f"First{index}", f"Last{index}", f"Company {index % 7}")
    contacts.add_contact("hostile@example.com", HOSTILE, "Ünïcødé", "ACME [bold]")
    portal.invite([f"person{index}@example.com" for index in range(25)] + ["hostile@example.com"])
    assert cli("outbox", "send").exit_code == 0  # to the Maildir: every queued invitation is sent
    portal.invite(["person30@example.com", "person31@example.com"])  # queued, not sent
    OutboxMessage.update(status="failed", attempts=5, last_error="550 no such user").where(
        OutboxMessage.id == OutboxMessage.select(peewee.fn.MAX(OutboxMessage.id)).scalar()
    ).execute()
    for index in range(5):  # joined
        links.redeem(links.issue_link(f"person{index}@example.com", "login", CHANNEL_SHOWN).url)
    for index in (5, 6):  # revoked
        links.revoke_access(f"person{index}@example.com")
    # A login email queued for a contact not invited, then a login link shown to them: invited with "no mail",
    # where the queued login row, copied alone, would say "queued".
    assert cli("login-email", "person36@example.com").exit_code == 0
    links.issue_link("person36@example.com", "login", CHANNEL_SHOWN)
    links.issue_link("person35@example.com", "login", CHANNEL_SHOWN)  # never invited: invited by a shown link
    assert cli("api-keys", "create", "billing-portal").exit_code == 0
    assert cli("api-keys", "create", "old-portal").exit_code == 0
    assert cli("api-keys", "revoke", "old-portal").exit_code == 0
    settings.set_value("login_ttl_hours", "12")
    token = links.issue_link("person9@example.com", "login", CHANNEL_SHOWN).token
    handoff.confirm(token, issue_code=True, client="127.0.0.1")
    save_template("invite", subject="Welcome {{ contact.first_name }}",
                  text_body="Hello {{ contact.first_name }}: {{ link.url }}\n")


def table_rows(path: Path) -> dict[str, list[tuple]]:
    """Every row of every copied table, by primary key, as Peewee reads it."""
    open_database(path)
    try:
        return {model._meta.table_name: list(model.select().order_by(model._meta.primary_key).tuples())
                for model in COPY_ORDER}
    finally:
        database.close()


def stats_json(cli_at, path: Path) -> dict:
    result = cli_at(path, "stats", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def cli_at(cli, frozen_clock):
    """The CLI on any database file (the `cli` fixture's runner with --db PATH)."""
    from click.testing import CliRunner

    from tui.cli import main

    def run(path: Path | str, *args: str):
        database.close()
        return CliRunner().invoke(main, ["--db", str(path), *args], catch_exceptions=False)

    return run


@pytest.fixture
def source(db_path, cli, frozen_clock) -> Path:
    open_database(db_path)
    populate(cli)
    database.close()
    return db_path


def test_copy_keeps_every_row_and_id_and_the_stats(source, tmp_path, cli_at):
    target = tmp_path / "copy.db"
    result = cli_at(source, "db", "copy", str(source), str(target))
    assert result.exit_code == 0, result.output
    assert f"copied into {target}: its stats equal the source's (41 contacts)" in result.stdout
    before, after = table_rows(source), table_rows(target)
    printed = dict(line.split() for line in result.stdout.splitlines()[:-1])
    assert printed == {table: f"{len(rows):,}" for table, rows in before.items()}
    assert before == after
    assert all(before[model._meta.table_name] for model in COPY_ORDER)  # the source really had rows of each
    source_stats = stats_json(cli_at, source)
    assert source_stats == stats_json(cli_at, target)
    # every state is represented, so equal stats mean something
    for key in ("not_invited", "invited", "joined", "revoked", "invites_sent", "invites_queued", "invites_no_mail",
                "outbox_queued", "outbox_failed"):
        assert source_stats[key] > 0, key


def test_the_targets_search_index_and_counts_are_its_own(source, tmp_path, cli_at):
    target = tmp_path / "copy.db"
    assert cli_at(source, "db", "copy", str(source), str(target)).exit_code == 0
    for words in ("company 3", "first1", "cødé", "[bold]", "pe"):
        found = [json.loads(cli_at(path, "contacts", "list", "--search", words, "--json").stdout)
                 for path in (source, target)]
        assert found[0] == found[1] and found[0]["total"] > 0, words
    hostile = json.loads(cli_at(target, "contacts", "list", "--search", "hostile", "--json").stdout)["contacts"]
    assert hostile[0]["first_name"] == HOSTILE
    # a new row continues after the copied ids, and the counts the triggers keep move with it
    assert cli_at(target, "contacts", "add", "new@example.com").exit_code == 0
    open_database(target)
    try:
        assert Contact.get(Contact.email == "new@example.com").id == Contact.select(peewee.fn.MAX(Contact.id)).scalar()
        assert Contact.get(Contact.email == "new@example.com").id > 41
        assert portal.stats().not_invited == stats_json(cli_at, source)["not_invited"] + 1
    finally:
        database.close()


def test_a_shown_link_after_a_queued_login_email_keeps_its_delivery_state(source, tmp_path, cli_at):
    """The target's outbox triggers derive "queued" from the contact's login email; the source says "no mail"
    (the contact holds a link an admin showed them), and the copy keeps the source's."""
    target = tmp_path / "copy.db"
    assert copy_database(source, target).stats_match
    states = {}
    for path in (source, target):
        open_database(path)
        states[path] = {c.email: c.invite_delivery for c in Contact.select().order_by(Contact.id)}
        database.close()
    assert states[source]["person36@example.com"] is None
    assert states[source] == states[target]


def test_small_batches_copy_the_same_rows(source, tmp_path):
    """Keyset batches meet at their edges without losing or repeating a row (7 does not divide any count)."""
    target = tmp_path / "copy.db"
    seen: list[tuple[str, int]] = []
    report = copy_database(source, target, batch_size=7, progress=lambda table, rows: seen.append((table, rows)))
    assert report.stats_match, report.differences()
    assert table_rows(source) == table_rows(target)
    assert ("contact", 7) in seen and ("contact", 41) in seen
    assert report.counts["contact"] == 41


def test_a_target_with_rows_is_refused_and_left_as_it_was(source, tmp_path, cli_at):
    target = tmp_path / "other.db"
    open_database(target)
    contacts.add_contact("keep@example.com")
    database.close()
    before = table_rows(target)
    result = cli_at(source, "db", "copy", str(source), str(target))
    assert result.exit_code == 1
    assert result.stderr == (f"error: the target {target} is not empty (it has rows in contact, audit_entry): "
                             "db copy writes only into an empty database\n")
    assert table_rows(target) == before


@pytest.mark.parametrize("case", ["missing source", "same file", "target folder missing", "not a database"])
def test_bad_arguments_get_one_line_and_change_nothing(source, tmp_path, cli_at, case):
    args = {
        "missing source": (str(tmp_path / "nope.db"), str(tmp_path / "t.db")),
        "same file": (str(source), str(source.parent / "." / source.name)),
        "target folder missing": (str(source), str(tmp_path / "no" / "t.db")),
        "not a database": (str(source), str(tmp_path / "notes.txt")),
    }[case]
    (tmp_path / "notes.txt").write_text("not a database\n")
    before = table_rows(source)
    result = cli_at(source, "db", "copy", *args)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "t.db").exists()
    assert (tmp_path / "notes.txt").read_text() == "not a database\n"
    assert table_rows(source) == before


def test_an_empty_database_copies_to_an_empty_database(db_path, tmp_path, cli_at):
    database.close()
    target = tmp_path / "copy.db"
    result = cli_at(db_path, "db", "copy", str(db_path), str(target), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["stats_match"] is True
    assert set(data["counts"]) == {model._meta.table_name for model in COPY_ORDER}
    assert not any(data["counts"].values())


def test_a_url_is_printed_without_its_password():
    assert display_name("postgresql://ann:s3cret@db.example.com:5432/portal") == (
        "postgresql://ann:***@db.example.com:5432/portal")
    assert display_name("postgresql://ann@db.example.com/portal") == "postgresql://ann@db.example.com/portal"
    assert display_name("/var/lib/portal.db") == "/var/lib/portal.db"


def test_the_copy_leaves_the_callers_frozen_clock_as_it_was(source, tmp_path, frozen_clock):
    """Both stats are taken at one frozen moment; the caller's own frozen clock is still frozen afterwards (it was
    the real clock again, so a second copy counted lapsed invitations at another time)."""
    from models import clock

    before = clock.now()
    copy_database(source, tmp_path / "one.db")
    assert clock.now() == before
    second = copy_database(tmp_path / "one.db", tmp_path / "two.db")
    assert second.stats_match and clock.now() == before


def test_every_copied_column_has_a_stored_form_a_bulk_loader_takes_as_it_is():
    """Into a server the copy hands each value over as the source stored it (`COPY_STORED_FORMS`): a new field
    type must be added there on purpose, with its stored forms checked on both engines."""
    from models.copy import COPY_STORED_FORMS

    odd = [f"{model.__name__}.{field.name}: {type(field).__name__}" for model in COPY_ORDER
           for field in model._meta.sorted_fields if not isinstance(field, COPY_STORED_FORMS)]
    assert odd == []


# --- the bulk path into SQLite: what the set-aside triggers keep is made once, and made right --------------------

SEARCHES = ("first1", "last3", "company 3", "cødé", "[bold]", "pe", "x", "example.com", "person3 company")
"""Words of every kind the planner tells apart (trigrams, two letters, one, several, non-ASCII, markup)."""


def _ascii_lower(text: str) -> str:
    return text.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


def sqlite_schema(path: Path | str) -> set[tuple]:
    """The file's tables, indexes and triggers, each with the SQL that made it."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        found = set(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))
    conn.close()
    return found


def assert_derived_state_is_exact(path: Path | str) -> None:
    """In the SQLite file at `path`: every count the triggers keep equals a recount, every contact has a rank and
    the ranks follow a full sort by name, and each search finds what a scan of the search text finds."""
    from models.backends.sqlite.schema import DELIVERY_KEY, EXPIRY_HOUR
    from models.db import backend
    from models.listing import ContactQuery

    open_database(path)
    try:
        def kept(sql: str) -> dict:
            return {key: n for key, n in database.execute_sql(sql).fetchall() if n}

        assert kept("SELECT status, n FROM contact_status_count") == kept(
            "SELECT status, COUNT(*) FROM contact GROUP BY 1")
        assert kept("SELECT hour, n FROM invite_expiry_count") == kept(
            f"SELECT {EXPIRY_HOUR.format(p='')}, COUNT(*) FROM contact WHERE status = 'invited' "
            "AND invite_expires_at IS NOT NULL GROUP BY 1")
        assert kept("SELECT state, n FROM invite_delivery_count") == kept(
            f"SELECT {DELIVERY_KEY.format(p='')}, COUNT(*) FROM contact WHERE status = 'invited' GROUP BY 1")
        ranked = database.execute_sql("SELECT id, name_rank, last_name, first_name FROM contact").fetchall()
        assert ranked and all(rank is not None for _, rank, _, _ in ranked)
        assert len({rank for _, rank, _, _ in ranked}) == len(ranked)
        by_rank = [row[0] for row in sorted(ranked, key=lambda row: row[1])]
        assert by_rank == [row[0] for row in sorted(ranked, key=lambda row: (row[2], row[3], row[0]))]
        texts = dict(database.execute_sql("SELECT id, search_text FROM contact").fetchall())
        for words in SEARCHES:
            scan = {contact_id for contact_id, text in texts.items()
                    if all(word in _ascii_lower(text) for word in words.split())}
            assert set(backend().matching_ids(ContactQuery(search=words))) == scan and scan, words
    finally:
        database.close()


def assert_schema_as_new(path, tmp_path) -> None:
    """`path`'s tables, indexes and triggers are exactly a new database's (nothing set aside was left out)."""
    fresh = tmp_path / "fresh.db"
    open_database(fresh)
    database.close()
    assert sqlite_schema(path) == sqlite_schema(fresh)


def test_the_copy_makes_counts_ranks_and_search_index_as_a_recount_a_sort_and_a_scan(source, tmp_path):
    target = tmp_path / "copy.db"
    report = copy_database(source, target)
    assert report.stats_match, report.differences()
    assert table_rows(source) == table_rows(target)
    assert_derived_state_is_exact(target)
    # the triggers and indexes set aside for the load are back, each as a new database has it
    assert_schema_as_new(target, tmp_path)
    # and they keep up again: a contact added and invited after the copy is counted, ranked and found
    open_database(target)
    try:
        contacts.add_contact("after-copy@example.com", "Zed", "Aardvark")
        portal.invite(["after-copy@example.com"])
    finally:
        database.close()
    assert_derived_state_is_exact(target)


@pytest.mark.parametrize("shared, batch_size, refused, first", [
    ({"person3": ("person20",)}, 7, 1, "#21 'person3@example.com'"),
    ({"person2": ("person11", "person33"), "person9": ("person39",)}, 4, 3, "#12 'person2@example.com'"),
])
def test_contacts_the_target_refuses_are_one_line_and_the_target_is_left_empty(source, tmp_path, cli_at, shared,
                                                                              batch_size, refused, first):
    """The source holds contacts that share an address (its unique index dropped). The target's unique address
    index is set aside while the contacts go in; building it again finds every contact whose address an earlier
    one has (one here, three with two addresses there), the whole copy is rolled back, and the line names the
    first of them."""
    import sqlite3

    with sqlite3.connect(source) as conn:
        conn.execute("DROP INDEX contact_email")
        for kept, others in shared.items():
            for other in others:
                conn.execute("UPDATE contact SET email = ? WHERE email = ?", (f"{kept}@example.com",
                                                                            f"{other}@example.com"))
    conn.close()
    target = tmp_path / "copy.db"
    open_database(target)  # the target's schema first, so what the failed copy leaves can be compared
    database.close()
    before = sqlite_schema(target)
    with pytest.raises(Exception) as refused_copy:
        copy_database(source, target, batch_size=batch_size)
    assert str(refused_copy.value) == (f"the target refused {refused} of the source's contacts (an address or id "
                                       f"another contact has, or a value missing), the first {first}: nothing was "
                                       "copied")
    assert sqlite_schema(target) == before
    assert all(not rows for rows in table_rows(target).values())
    result = cli_at(source, "db", "copy", str(source), str(target))
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert result.stderr.startswith(f"error: the target refused {refused} of the source's contacts")
    assert sqlite_schema(target) == before


def copy_refused(source: Path, tmp_path: Path, cli_at) -> tuple[Path, str]:
    """`client-portal db copy` of `source` into a new target (its schema made first), which must fail: its one-line
    error, and the target as it was, empty with its schema. Returns the target and the error."""
    target = tmp_path / "copy.db"
    open_database(target)
    database.close()
    before = sqlite_schema(target)
    result = cli_at(source, "db", "copy", str(source), str(target))
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert sqlite_schema(target) == before
    assert all(not rows for rows in table_rows(target).values())
    return target, result.stderr


def test_a_row_the_target_refuses_after_the_contacts_leaves_it_empty_with_its_triggers_and_indexes(
        source, tmp_path, cli_at):
    """Two API keys in use under one name (the source's partial unique index dropped): the target refuses the
    second after every contact went in, its triggers and indexes set aside; all of it is rolled back."""
    import sqlite3

    with sqlite3.connect(source) as conn:
        conn.execute("DROP INDEX api_key_live_name")
        conn.execute("INSERT INTO api_key (name, key_hash, prefix, created_at, created_by) SELECT name, "
                     "key_hash || 'x', prefix, created_at, created_by FROM api_key WHERE name = 'billing-portal'")
    conn.close()
    target, error = copy_refused(source, tmp_path, cli_at)
    assert error == (f"error: db copy stopped at api_key: UNIQUE constraint failed: api_key.name; nothing was "
                     f"copied, the target {target} is as it was\n")
    # the same target takes a good copy afterwards
    with sqlite3.connect(source) as conn:
        conn.execute("DELETE FROM api_key WHERE key_hash LIKE '%x'")
    conn.close()
    assert copy_database(source, target).stats_match
    assert_derived_state_is_exact(target)
