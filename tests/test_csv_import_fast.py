"""The fast CSV import ends in exactly the state contacts added one at a time would.

`csv_io.import_contacts` sets the contact table's insert triggers (search text, counts per status, search index)
and, for a big import, its secondary indexes aside, inserts with one prepared statement, then does their work once
for all rows. These tests import tricky files (loose headers, Unicode, bad rows, duplicates, contacts that exist
already) both ways: by the import, and by `contacts.add_contact` row by row with every trigger live. The two
databases must agree on every contact column, the counts, the search index, the schema and what searches find.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from models import audit, clock, contacts, csv_io
from models.db import backend, database, open_database
from models.entities import Contact
from models.errors import InvalidInput
from models.backends.sqlite.schema import SEARCH_INDEX
from tests.fixtures_search import index_entries, index_matches_contacts

HEADER = ["Name", "Given Name", "Family Name", "E-mail 1 - Value", "E-mail 2 - Value", "Organization Name",
          "Phone 1 - Value"]
"""Google-style columns: a single Name, first and last name, two e-mail columns, company and phone."""

EXISTING = ("existing@example.com", "Earlier", "Entry", "OldCo", "")
"""A contact in the database before the import."""


@dataclass
class Row:
    """One data row of a test file and what the import must do with it."""

    key: str
    cells: list[str]
    """Values for HEADER, in order."""
    add: tuple[str, str, str, str, str] | None = None
    """(email as add_contact is given it, first name, last name, company, phone) when the row is added."""
    reason: str | None = None
    """Why the row is skipped; `{key}` stands for the line of the row with that key."""
    invalid: bool = False
    """Skipped for its address: the reason is normalize_email's."""
    update: dict[str, str] = field(default_factory=dict)
    """For the row of an existing contact: the fields an update_existing import changes."""


def _row(key, name, first, last, email, email2="", company="", phone="", **outcome) -> Row:
    return Row(key, [name, first, last, email, email2, company, phone], **outcome)


def head_rows() -> list[Row]:
    """Rows for the top of a file: every kind of value and problem the import knows about."""
    return [
        _row("ada", "", "Ada", "Lovelace", "ADA@Example.com", "", "Analytical Engines", "+44 20 0000 0000",
             add=("ADA@Example.com", "Ada", "Lovelace", "Analytical Engines", "+44 20 0000 0000")),
        _row("niels", "", "Niels", "Bohr", "niels@example.dk ::: niels.bohr@example.org",
             add=("niels@example.dk", "Niels", "Bohr", "", "")),
        _row("lise", "", "Lise", "Meitner", "", "lise@example.at", add=("lise@example.at", "Lise", "Meitner", "", "")),
        _row("grace", "Grace Brewster Hopper", "", "", "grace@example.com", "", "Navy",
             add=("grace@example.com", "Grace", "Brewster Hopper", "Navy", "")),
        _row("zoe", "", "Zoë", "Ñúñez-李", "zoë@example.com", "", "École 100% pure_co",
             add=("zoë@example.com", "Zoë", "Ñúñez-李", "École 100% pure_co", "")),
        _row("jurgen", "", "Jürgen", "Groß", "jürgen@münchen.de", add=("jürgen@münchen.de", "Jürgen", "Groß", "", "")),
        _row("markup", "", "[/x] <a@b>", "\x1b[31mred\x1b[0m", "markup@example.com", "", "[b]bold[/b]", "=1+1",
             add=("markup@example.com", "[/x] <a@b>", "\x1b[31mred\x1b[0m", "[b]bold[/b]", "=1+1")),
        _row("emoji", "", "😀 Smile", "e\u0301clair", "emoji@example.com", add=("emoji@example.com", "😀 Smile",
                                                                                "e\u0301clair", "", "")),
        _row("spaces", "", "  Tom  ", "  Thumb ", "  tom@example.com  ", "", "   ", " 123 ",
             add=("tom@example.com", "Tom", "Thumb", "", "123")),
        _row("quoted", "", "Smith, Jr.", "O'Brien", "o'brien+tag@example.com", "", "Line one\nLine two",
             add=("o'brien+tag@example.com", "Smith, Jr.", "O'Brien", "Line one\nLine two", "")),
        _row("after", "", "After", "Newline", "after@example.com", add=("after@example.com", "After", "Newline", "", "")),
        _row("invalid", "", "Broken", "", "not-an-email", invalid=True),
        _row("special", "", "Test", "", "someone@example.test", invalid=True),
        _row("noemail", "", "No", "Address", "", "", "Acme", reason="no email address"),
        _row("blank", "", "", "", "", "", "", ""),
        _row("long", "", "x" * 201, "", "long@example.com",
             reason=f"first name is too long (201 characters, at most {contacts.MAX_FIELD})"),
        _row("dup", "", "Ada", "Again", "ada@EXAMPLE.COM", reason="ada@example.com appears already on line {ada}"),
        _row("dupfallback", "", "Lise", "Again", "", "LISE@example.at",
             reason="lise@example.at appears already on line {lise}"),
        _row("existing", "", "Newer", "", "Existing@Example.com", "", "NewCo",
             reason="existing@example.com is already a contact", update={"first_name": "Newer", "company": "NewCo"}),
        _row("existingdup", "", "Again", "", "existing@example.com",
             reason="existing@example.com appears already on line {existing}"),
    ]


def tail_rows() -> list[Row]:
    """Rows for the end of a big file: a NUL byte is only read past the first 64 kB (before, the file is
    refused as binary), and duplicates of rows thousands of lines up."""
    return [
        _row("nul", "", "Nul", "", "nul@example.com", "", "Ac\x00me", reason="company contains a NUL byte"),
        _row("lateadd", "", "Late", "Comer", "LATE@example.com", add=("LATE@example.com", "Late", "Comer", "", "")),
        _row("latedup", "", "Zoe", "Again", "ZOË@example.com", reason="zoë@example.com appears already on line {zoe}"),
        _row("fillerdup", "", "Filler", "Again", "Filler7@Example.com",
             reason="filler7@example.com appears already on line {filler7}"),
        _row("lateinvalid", "", "Bad", "", "two@@example.com", invalid=True),
        _row("last", "Only Name", "", "", "last@example.com", add=("last@example.com", "Only", "Name", "", "")),
    ]


def filler_rows(count: int) -> list[Row]:
    return [_row(f"filler{n}", "", f"Filler{n}", f"Person{n}", f"filler{n}@example.com", "", f"Company {n % 97}",
                 f"+1 555 {n:07d}", add=(f"filler{n}@example.com", f"Filler{n}", f"Person{n}", f"Company {n % 97}",
                                         f"+1 555 {n:07d}"))
            for n in range(count)]


def make_file(rows: list[Row], delimiter: str = ",") -> tuple[str, dict[str, int]]:
    """The CSV text and the line each row starts on."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(HEADER)
    parts = [out.getvalue()]
    lines: dict[str, int] = {}
    line = 2
    for row in rows:
        out.seek(0)
        out.truncate()
        writer.writerow(row.cells)
        parts.append(out.getvalue())
        lines[row.key] = line
        line += parts[-1].count("\n")
    return "".join(parts), lines


def expected_skips(rows: list[Row], lines: dict[str, int], update_existing: bool) -> list[tuple[int, str]]:
    skips = []
    for row in rows:
        if row.invalid:
            with pytest.raises(InvalidInput) as exc:
                contacts.normalize_email(row.cells[3])
            skips.append((lines[row.key], str(exc.value)))
        elif row.reason:
            reason = row.reason.format(**lines)
            if row.update and update_existing:
                reason += " (updated)"
            skips.append((lines[row.key], reason))
    return skips


SEARCHES = ("lovelace", "LOVELACE", "zoë", "ÉCOLE", "école", "李", "100%", "pure_co", "[/x]", "<a@b>", "red", "ad",
            "o'brien", "jr.", "line two", "xn--mnchen", "münchen", "filler1", "person99 company", "company 5",
            "existing", "newco", "oldco", "newer", "example", "@example.com", "😀", "éclair", "e\u0301clair", "+44")


CONTACT_COLUMNS = [f'"{field.column_name}"' for field in Contact._meta.sorted_fields]


def pg_schema() -> list[tuple]:
    """PostgreSQL's indexes and triggers (with whether each is enabled), as `sqlite_master` lists SQLite's."""
    return database.execute_sql(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' UNION ALL "
        "SELECT tgname, tgenabled::text || ' ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal "
        "ORDER BY 1"
    ).fetchall()


def database_state() -> dict:
    """Everything an import leaves behind that must not depend on the path it took (the audit log aside)."""

    def rows(sql: str) -> list[tuple]:
        return database.execute_sql(sql).fetchall()

    on_sqlite = backend().name == "sqlite"
    if on_sqlite:
        assert rows("PRAGMA integrity_check") == [("ok",)]
        assert index_matches_contacts(database)
        database.execute_sql(f"INSERT INTO {SEARCH_INDEX} ({SEARCH_INDEX}) VALUES ('integrity-check')")
    searches = {}
    for text in SEARCHES:
        page = contacts.contact_page(contacts.ContactQuery(search=text, sort="email"), 0, 50)
        searches[text] = (page.total, [row.email for row in page.rows])
    return {
        # Every column but the rank, whose values depend on the path (a bulk import numbers evenly); its order
        # (name order) and the index entries under it are compared by contact id.
        "contacts": rows(f"SELECT {', '.join(CONTACT_COLUMNS)} FROM contact ORDER BY id"),
        "name order": rows("SELECT id FROM contact ORDER BY name_rank") if on_sqlite else None,
        "counts": rows("SELECT status, n FROM contact_status_count ORDER BY status"),
        "total": contacts.count_contacts(),
        "search index": index_entries(database) if on_sqlite else None,
        "schema": rows("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name") if on_sqlite
        else pg_schema(),
        "searches": searches,
    }


def one_by_one(rows: list[Row], update_existing: bool) -> None:
    """The reference: each contact the import should add, added with every trigger live, in file order. Tricky
    rows go through add_contact; runs of plain filler rows through Peewee's insert_many with the values
    add_contact would store (add_contact's own SQL building would make ten thousand rows take a minute)."""
    now = clock.now()
    plain: list[dict] = []

    def flush() -> None:
        for start in range(0, len(plain), 100):
            Contact.insert_many(plain[start : start + 100]).execute()
        plain.clear()

    with database.atomic("IMMEDIATE"):
        for row in rows:
            if row.add and row.key.startswith("filler"):
                email, first, last, company, phone = row.add
                plain.append({"email": contacts.normalize_email(email), "first_name": first, "last_name": last,
                              "company": company, "phone": phone, "created_at": now, "updated_at": now})
                continue
            flush()
            if row.add:
                contacts.add_contact(*row.add)
            elif row.update and update_existing:
                existing = contacts.find_contact(row.cells[3])
                contacts.update_contact(existing.id, **row.update)
        flush()


def fresh(path: Path) -> None:
    open_database(path)
    contacts.add_contact(*EXISTING)


VARIANTS = {
    # name: (rows, delimiter, encoding, update_existing, REBUILD_AT for the test)
    "small, UTF-8 with BOM": (head_rows(), ",", "utf-8-sig", False, csv_io.REBUILD_AT),
    "at the real threshold, semicolons": (head_rows() + filler_rows(csv_io.REBUILD_AT) + tail_rows(), ";", "utf-8",
                                          False, csv_io.REBUILD_AT),
    "big, tabs, updating existing": (head_rows() + filler_rows(1_500) + tail_rows(), "\t", "utf-8", True, 100),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_import_ends_as_adding_one_by_one(db_path, tmp_path, frozen_clock, monkeypatch, variant):
    rows, delimiter, encoding, update_existing, rebuild_at = VARIANTS[variant]
    monkeypatch.setattr(csv_io, "REBUILD_AT", rebuild_at)
    text, lines = make_file(rows, delimiter)

    fresh(tmp_path / "imported.db")
    report = csv_io.import_contacts(text.encode(encoding), update_existing=update_existing)
    imported = database_state()

    fresh(tmp_path / "reference.db")
    one_by_one(rows, update_existing)
    reference = database_state()

    added = sum(1 for row in rows if row.add)
    assert report.added == added
    assert (added >= rebuild_at) == (variant != "small, UTF-8 with BOM")  # which path each variant takes
    assert report.skipped == expected_skips(rows, lines, update_existing)
    assert report.warnings == []
    for part in reference:
        assert imported[part] == reference[part], part
    assert imported["counts"] == [("not_invited", added + 1)]
    assert imported["searches"]["李"] == (1, ["zoë@example.com"])
    assert imported["searches"]["o'brien"] == (1, ["o'brien+tag@example.com"])


def test_latin1_file_at_the_bulk_path(db_path, tmp_path, frozen_clock, monkeypatch):
    monkeypatch.setattr(csv_io, "REBUILD_AT", 100)

    def latin1(row: Row) -> bool:
        try:
            "".join(row.cells).encode("latin-1")
        except UnicodeEncodeError:
            return False
        return not any("\x80" <= ch <= "\x9f" for ch in "".join(row.cells))  # where cp1252 differs

    rows = [row for row in head_rows() + filler_rows(1_500) + tail_rows() if latin1(row)]
    rows = [row for row in rows if row.key != "latedup"]  # the row it repeats (Zoë's, with 李) is not Latin-1
    assert {"zoe", "emoji"}.isdisjoint(row.key for row in rows) and {"jurgen", "nul", "dup"} <= {r.key for r in rows}
    rows.append(_row("jose", "", "José", "Müller", "jose@example.com", "", "Café Zürich",
                     add=("jose@example.com", "José", "Müller", "Café Zürich", "")))
    text, lines = make_file(rows)

    fresh(tmp_path / "imported.db")
    report = csv_io.import_contacts(text.encode("latin-1"))
    imported = database_state()
    fresh(tmp_path / "reference.db")
    one_by_one(rows, False)

    # Each row is decoded on its own: the rows with an accented letter are the ones read as Windows-1252.
    recoded = [lines[row.key] for row in rows if not "".join(row.cells).isascii()]
    assert recoded == [lines["jurgen"], lines["jose"]] and report.recoded_lines == recoded
    assert report.warnings == [f"2 rows were not UTF-8 and read as Windows-1252 (Latin-1): line {recoded[0]}, "
                               f"{recoded[1]}; check their accented letters"]
    assert report.skipped == expected_skips(rows, lines, False)
    assert imported == database_state()
    assert contacts.find_contact("jose@example.com").company == "Café Zürich"


@pytest.mark.parametrize("failing", ["second insert", "after everything"])
def test_a_failed_big_import_leaves_nothing_behind(db, frozen_clock, monkeypatch, failing):
    """Rows, counts, search index, triggers and indexes are all as they were, wherever the import fails."""
    for email in ("ada@example.com", "grace@example.com"):
        contacts.add_contact(email, "Someone")
    fresh_state = database_state()
    real_insert, calls = csv_io._insert_rows, []

    def insert_rows(rows, now):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real_insert(rows, now)

    def record(action, *args, **kwargs):
        if action == "contact.import":
            raise RuntimeError("disk full")

    data = "email,first name\n" + "".join(f"c{n}@example.com,Name{n}\n" for n in range(csv_io.REBUILD_AT + 10))
    with monkeypatch.context() as patch, pytest.raises(RuntimeError):
        if failing == "second insert":
            patch.setattr(csv_io, "_insert_rows", insert_rows)
        else:
            patch.setattr(audit, "record", record)  # fails once the rows, counts, index and schema are all done
        csv_io.import_contacts(data.encode())
    assert database_state() == fresh_state
    assert csv_io.import_contacts(data.encode()).added == csv_io.REBUILD_AT + 10
    assert contacts.count_contacts() == csv_io.REBUILD_AT + 12
    assert database.execute_sql("SELECT n FROM contact_status_count").fetchall() == [(csv_io.REBUILD_AT + 12,)]


def test_read_csv_still_gives_fields_by_name(db):
    rows, report = csv_io.read_csv(Path(__file__).parent.joinpath("fixtures", "contacts_google.csv").read_bytes())
    assert [line for line, _ in rows] == [2, 3, 4, 5]
    assert rows[1][1] == {"email": "niels@example.dk", "first_name": "Niels", "last_name": "Bohr", "company": "",
                          "phone": ""}
    assert rows[3][1]["email"] == "" and report.skipped == []


def test_short_rows_and_unreadable_rows_keep_their_line_numbers(db):
    big = "x" * (11 * 1024 * 1024)  # over the longest row the import reads (1 MiB)
    data = f'email,first name,company\n,Nobody,Co\nshort@example.com\n"{big}",a\n\n  ,  , \nlate@example.com,Late,Co\n'
    report = csv_io.import_contacts(data.encode())
    assert report.added == 2
    # Every skipped row by its line, whatever found it wrong.
    assert report.skipped == [(2, "no email address"), (4, "the row is too long (over 1,024 KiB, lines 4-4)")]
    assert contacts.find_contact("short@example.com").first_name == ""
    assert contacts.find_contact("late@example.com").company == "Co"
