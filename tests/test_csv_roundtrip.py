"""CSV that deceives nobody (issue 11): an export imports back to the same contacts, each row is decoded on its own,
an over-long cell or row is reported without losing the rows after it, and the reader agrees with the csv module
wherever a block of the file happens to end."""

from __future__ import annotations

import csv
import io
import json
import random

import pytest
from click.testing import CliRunner

from models import contacts, csv_io
from models.db import database, open_database
from models.errors import InvalidInput
from tui.cli import main

HOSTILE = [
    # (email, first name, last name, company, phone)
    ("calc@example.com", "=cmd|' /C calc'!A0", "Calc", "=HYPERLINK(\"http://evil\",\"x\")", "+33 6 12 34 56 78"),
    ("minus@example.com", "-5", "@SUM(1)", "+1", "-2+3"),
    ("quoted@example.com", "'quoted", "''twice", "'=not a formula", "'+33 6"),
    ("wide@example.com", "\uff1d1+1", "\uff0bx", "\uff20y", "\uff0d7"),
    ("-dash@example.com", "Dash", "", "", ""),
    ("+plus@example.com", "Plus", "", "", ""),
    ("=equals@example.com", "Equals", "", "", ""),
    ("'apostrophe@example.com", "Apostrophe", "O'Brien", "Smith, Jr.", ""),
    ("zoë@example.com", "Zoë", "Ñúñez-李", "Line one\nLine two", "+44 20 0000 0000"),
    ("plain@example.com", "Plain", "Person", "Acme", "555 0100"),
]


def _contacts() -> list[tuple[str, str, str, str, str]]:
    rows = database.execute_sql(
        "SELECT email, first_name, last_name, company, phone FROM contact ORDER BY email").fetchall()
    return [tuple(row) for row in rows]


def test_export_then_import_gives_back_the_same_contacts(db_path, tmp_path):
    for row in HOSTILE:
        contacts.add_contact(*row)
    before = _contacts()
    out = tmp_path / "export.csv"
    assert csv_io.export_file(out) == len(HOSTILE)

    # The file is still safe to open in a spreadsheet: every cell that would start a formula is guarded.
    cells = [cell for row in csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))) for cell in row]
    assert "'=cmd|' /C calc'!A0" in cells and "'+33 6 12 34 56 78" in cells and "'-5" in cells
    assert "'@SUM(1)" in cells and "''quoted" in cells and "'-dash@example.com" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")) for cell in cells)

    database.close()
    open_database(tmp_path / "fresh.db")
    report = csv_io.import_file(out)
    assert (report.added, report.skipped, report.warnings) == (len(HOSTILE), [], [])
    assert _contacts() == before


def test_round_trip_through_the_command_line(cli, db_path, tmp_path):
    contacts.add_contact("phone@example.com", "Pat", "", "", "+33 6 12")
    contacts.add_contact("quote@example.com", "'quoted", "", "@SUM(1)", "-5")
    before = _contacts()
    out = tmp_path / "out.csv"
    assert cli("contacts", "export", str(out)).exit_code == 0
    other = tmp_path / "other.db"
    result = CliRunner().invoke(main, ["--db", str(other), "contacts", "import", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "imported 2 contacts, skipped 0" in result.output
    database.close()
    open_database(other)
    assert _contacts() == before


def test_an_apostrophe_before_a_formula_in_any_file_is_taken_off(db):
    """A file that is not ours: the guard is taken off the same way (what someone typed to stop a formula)."""
    data = "email,first name,phone\n'+x@example.com,'=A1,'+33 6 12\ny@example.com,'plain,'123\n"
    report = csv_io.import_contacts(data.encode())
    assert report.added == 2
    x = contacts.find_contact("+x@example.com")
    assert (x.first_name, x.phone) == ("=A1", "+33 6 12")
    y = contacts.find_contact("y@example.com")
    assert (y.first_name, y.phone) == ("'plain", "'123")  # not a guard: kept as written


def test_each_row_is_decoded_on_its_own(db):
    """One Latin-1 row no longer turns every UTF-8 name of the file into mojibake."""
    rows = [
        "\ufeffemail,first name,last name,company\n".encode(),
        "zoe@example.com,Zoë,Ñúñez-李,\"École\nnuméro 2\"\n".encode(),
        "jose@example.com,José,Müller,Café Zürich\n".encode("latin-1"),
        "smart@example.com,“Smart”,O’Neil,Price: 5€\n".encode("cp1252"),
        "jurgen@example.com,Jürgen,Groß,Straße 1\n".encode(),
        "ascii@example.com,Plain,Ascii,Acme\n".encode("latin-1"),
    ]
    report = csv_io.import_contacts(b"".join(rows))
    assert report.added == 5 and report.skipped == []
    assert report.recoded_lines == [4, 5] and report.recoded_count == 2
    assert report.warnings == ["2 rows were not UTF-8 and read as Windows-1252 (Latin-1): line 4, 5; "
                               "check their accented letters"]
    found = {row.email: row for row in contacts.contact_page(limit=10).rows}
    assert (found["zoe@example.com"].first_name, found["zoe@example.com"].last_name) == ("Zoë", "Ñúñez-李")
    assert found["zoe@example.com"].company == "École\nnuméro 2"
    assert (found["jose@example.com"].last_name, found["jose@example.com"].company) == ("Müller", "Café Zürich")
    assert (found["smart@example.com"].first_name, found["smart@example.com"].company) == ("“Smart”", "Price: 5€")
    assert found["jurgen@example.com"].company == "Straße 1"


def _rows_around(middle: str) -> str:
    return ("email,first name,company\n"
            "before@example.com,Before,Co\n"
            f"{middle}\n"
            "after@example.com,After,\"Multi\nline\"\n"
            "last@example.com,Last,Co\n")


@pytest.mark.parametrize(
    "middle,reason",
    [
        # A quoted multi-line cell over the cell limit, under the row limit.
        ('big@example.com,Big,"' + ("x" * 1000 + "\n") * 100 + '"',
         f"a cell is too long (over {csv_io.MAX_CELL:,} characters)"),
        # Ten megabytes of quoted lines: over the row limit (the desync of issue 11).
        ('huge@example.com,Huge,"' + ("y" * 10_000 + "\n") * 1_050 + '"',
         "the row is too long (over 1,024 KiB, lines 3-1053)"),
        # One unquoted line of 3 MB.
        ("long@example.com,Long," + "z" * 3 * 1024 * 1024, "the row is too long (over 1,024 KiB, lines 3-3)"),
    ],
    ids=["cell over 64 KiB", "quoted cell of 10 MB", "line of 3 MB"],
)
def test_an_overlong_cell_or_row_is_reported_and_the_next_rows_are_read(db, middle, reason):
    report = csv_io.import_contacts(_rows_around(middle).encode())
    assert report.skipped == [(3, reason)]
    assert report.added == 3
    assert contacts.find_contact("after@example.com").company == "Multi\nline"
    assert contacts.find_contact("last@example.com").first_name == "Last"
    page = contacts.contact_page(limit=10)
    assert sorted(row.email for row in page.rows) == ["after@example.com", "before@example.com", "last@example.com"]


def test_a_quote_never_closed_is_reported_and_the_rows_before_it_kept(db):
    data = "email,first name\na@example.com,A\nb@example.com,\"B\nc@example.com,C\nd@example.com,D\n"
    report = csv_io.import_contacts(data.encode())
    assert report.added == 1
    assert report.skipped == [(3, "a quoted cell opened on line 3 is never closed")]


def test_an_unreadable_header_refuses_the_file(db):
    with pytest.raises(InvalidInput, match="line 1: cannot read the header: the row is too long"):
        csv_io.import_contacts(b'"email' + b"e" * (2 * 1024 * 1024) + b'"\na@example.com\n')
    assert contacts.count_contacts() == 0


TRICKY = [
    "email,first name,last name,company\r\n",
    'a@example.com,"Smith, Jr.","O""Brien","Line one\r\nLine two"\r\n',
    'b@example.com,5" screen,a"b"c,"x"y\r\n',  # quotes inside unquoted cells are text
    'c@example.com,"closed"then text,,"""quoted"""\r\n',
    "\r\n",
    'd@example.com,,"multi\n\nline, with ""quotes""\n",end\r',  # and a lone \r ends the row
    "e@example.com,Old Mac,line,ends\r",
    'f@example.com,"",",",";"\n',
    "g@example.com,Last,No,Newline",
]


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, csv_io.BLOCK])
def test_rows_are_read_as_the_csv_module_reads_them_wherever_a_block_ends(db, monkeypatch, block):
    monkeypatch.setattr(csv_io, "BLOCK", block)
    text = "".join(TRICKY)
    expected = [row for row in csv.reader(io.StringIO(text, newline="")) if row][1:]
    rows, report = csv_io.read_csv(text.encode())
    assert report.skipped == []
    assert [(f["email"], f["first_name"], f["last_name"], f["company"]) for _, f in rows] == [
        tuple(cell.strip() for cell in row[:4]) for row in expected]
    assert len(rows) == 7 and [line for line, _ in rows] == [2, 4, 5, 7, 11, 12, 13]


def test_import_streams_the_file_and_keeps_a_bounded_list_of_problems(db, monkeypatch):
    """Rows go in a chunk at a time while the file is still being read, and only the first MAX_REPORTED
    problems are kept (with the count of all of them)."""
    monkeypatch.setattr(csv_io, "CHUNK", 100)
    monkeypatch.setattr(csv_io, "BLOCK", 4096)
    monkeypatch.setattr(csv_io, "MAX_REPORTED", 10)
    lines = ["email,first name"]
    for n in range(1_000):
        lines.append(f"p{n}@example.com,P{n}" if n % 4 else f"not-an-address-{n},Bad")
    stream = io.BytesIO(("\n".join(lines) + "\n").encode())
    positions: list[int] = []
    real_insert = csv_io._insert_rows

    def insert_rows(rows, now):
        positions.append(stream.tell())
        return real_insert(rows, now)

    monkeypatch.setattr(csv_io, "_insert_rows", insert_rows)
    report = csv_io._import(stream, update_existing=False)
    assert report.added == 750 and report.skipped_count == 250
    assert [line for line, _ in report.skipped] == [2 + 4 * n for n in range(10)]
    assert report.skipped[0][1].startswith("'not-an-address-0' is not a valid email address")
    assert len(positions) == 8 and positions[0] < len(stream.getvalue()) / 2  # most of the file unread yet


def test_duplicates_across_chunks_are_found_without_a_set_of_addresses(db, monkeypatch):
    monkeypatch.setattr(csv_io, "CHUNK", 3)
    contacts.add_contact("old@example.com", "Old")
    data = ("email,first name,company\n"
            "a@example.com,A,\n"           # 2   chunk 1
            "b@example.com,B,\n"           # 3
            "A@example.com,Again,\n"       # 4   a duplicate in its own chunk
            "old@example.com,New,NewCo\n"  # 5   chunk 2: a contact already
            "c@example.com,C,\n"           # 6
            "a@example.com,Third,\n"       # 7   a duplicate of an earlier chunk's row
            "old@example.com,Twice,\n"     # 8   chunk 3: the existing contact again
            "d@example.com,D,\n"           # 9
            "d@example.com,D2,\n"          # 10
            "e@example.com,E,\n"           # 11  chunk 4
            "c@example.com,C2,\n")         # 12
    report = csv_io.import_contacts(data.encode(), update_existing=True)
    assert report.added == 5
    assert report.skipped == [
        (4, "a@example.com appears already on line 2"),
        (5, "old@example.com is already a contact (updated)"),
        (7, "a@example.com appears already on line 2"),
        (8, "old@example.com appears already on line 5"),
        (10, "d@example.com appears already on line 9"),
        (12, "c@example.com appears already on line 6"),
    ]
    old = contacts.find_contact("old@example.com")
    assert (old.first_name, old.company) == ("New", "NewCo")
    assert contacts.find_contact("d@example.com").first_name == "D"
    assert contacts.count_contacts() == 6


def test_the_row_scanner_agrees_with_the_csv_module_on_random_quoting(monkeypatch):
    """Random mixes of quotes, separators and every kind of line break (fixed seed): each block size gives the rows
    the csv module gives for the whole text, but for a row whose quote never closes, which is reported instead."""
    rng = random.Random(11)
    alphabet = ["a", ",", '"', '"', "\n", "\r\n", "\r", "'", "é"]
    for _ in range(400):
        text = "h1,h2\n" + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        expected = list(csv.reader(io.StringIO(text, newline="")))
        data = text.encode()
        for block in (1, 3, 1 << 20):
            monkeypatch.setattr(csv_io, "BLOCK", block)
            problems = csv_io._Problems()
            rows = csv_io._Rows(io.BytesIO(data[block:]), data[:block], ",", problems)
            rows.header = False
            got = list(csv.reader(rows))
            skipped = problems.skipped.items()
            if skipped:
                assert len(skipped) == 1 and skipped[0][1].endswith("is never closed"), text
                assert got == expected[:-1], (text, block)
            else:
                assert got == expected, (text, block)


def test_the_command_line_counts_every_skipped_row_and_lists_the_first(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_io, "MAX_REPORTED", 2)
    path = tmp_path / "in.csv"
    path.write_text("email\nok@example.com\n" + "".join(f"bad{n}\n" for n in range(5)))
    result = cli("contacts", "import", str(path))
    assert result.exit_code == 0
    assert result.stdout.strip() == "imported 1 contact, skipped 5"
    assert result.stderr.splitlines()[0].startswith("line 3: skipped: 'bad0' is not a valid email address")
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == [
        "line 3", "line 4", "… and 3 more rows skipped (the first 2 are listed)"]
    result = cli("contacts", "import", str(path), "--json")
    report = json.loads(result.stdout)
    assert (report["skipped_count"], len(report["skipped"])) == (6, 2)  # ok@ is a contact now
