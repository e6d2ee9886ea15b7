"""CSV in and out, for the exports people really have (Google Contacts, Outlook, Mailchimp, spreadsheets).

Import matches header names loosely, reads UTF-8 with or without a BOM (and falls back to Latin-1 for old
Excel exports), reports each bad row by its line number and keeps the good ones, all in one transaction.
Export neutralises cells a spreadsheet would run as a formula.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from models import audit, clock
from models.contacts import MAX_FIELD, normalize_email
from models.db import write_transaction
from models.entities import Contact
from models.errors import InvalidInput
from models.files import private_file_opener
from models.schema import SEARCH_INDEX_FILL, search_text

MAX_COLUMNS = 1_000
"""More columns than this is not a contacts export; the file is refused before it is read whole."""
MAX_FILE_BYTES = 512 * 1024 * 1024

_ALIASES = {
    "email": {
        "email", "emailaddress", "e-mail", "mail", "primaryemail", "emailaddr", "workemail", "personalemail",
        "email1", "email1value", "e-mail1-value", "e-mailaddress", "emailvalue", "contactemail",
    },
    "first_name": {"firstname", "first", "givenname", "forename", "fname"},
    "last_name": {"lastname", "last", "surname", "familyname", "lname"},
    "name": {"name", "fullname", "displayname", "contactname", "contact"},
    "company": {"company", "organization", "organisation", "organizationname", "organisationname", "companyname",
                "account", "accountname", "employer"},
    "phone": {"phone", "phonenumber", "telephone", "mobile", "mobilephone", "phone1value", "primaryphone",
              "businessphone", "workphone", "cell", "tel"},
}


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.strip().lower())


_LOOKUP = {_key(alias): target for target, aliases in _ALIASES.items() for alias in aliases}
_EXTRA_EMAIL = re.compile(r"^e?mail\d+(value)?$|^emailaddress\d+$")
_EXTRA_PHONE = re.compile(r"^phone\d+value$")


@dataclass
class ImportReport:
    """What an import did, row by row."""

    added: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    """(line number, reason) for every row not imported."""
    warnings: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    """Our field -> the header it was read from."""


def _map_columns(headers: list[str]) -> tuple[dict[str, int], list[int], dict[str, str]]:
    """Which column feeds which field; further e-mail columns (Google's "E-mail 2 - Value") as fallbacks."""
    mapping: dict[str, int] = {}
    email_fallbacks: list[int] = []
    names: dict[str, str] = {}
    for index, header in enumerate(headers):
        key = _key(header)
        target = _LOOKUP.get(key)
        if target is None and _EXTRA_EMAIL.match(key):
            target = "email"
        if target is None and _EXTRA_PHONE.match(key):
            target = "phone"
        if target is None:
            continue
        if target in mapping:
            if target == "email":
                email_fallbacks.append(index)
            continue
        mapping[target] = index
        names[target] = header.strip()
    return mapping, email_fallbacks, names


def _decode(data: bytes, report: ImportReport) -> str:
    if b"\x00" in data[:65536]:
        raise InvalidInput("this file is not a CSV text file (it contains NUL bytes); export it as CSV first")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.warnings.append("the file is not UTF-8; read it as Latin-1 (Windows-1252)")
        return data.decode("cp1252", errors="replace")


def _cell(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


def _first_address(cell: str) -> str:
    if ":" not in cell and ";" not in cell and "," not in cell:
        return cell.strip()  # one address, as nearly every row has: no regular expression needed
    # Google joins several addresses in one cell with " ::: "; others use ; or ,
    for part in re.split(r"\s*:::\s*|[;,]", cell):
        if part.strip():
            return part.strip()
    return ""


FIELDS = ("email", "first_name", "last_name", "company", "phone")
"""What a row gives a contact, in the order `_records` yields them."""

_Record = tuple[int, str, str, str, str, str]
"""(line number, email as written, first name, last name, company, phone), every cell trimmed."""


@contextlib.contextmanager
def _long_fields() -> Iterator[None]:
    """Let the csv module read cells up to 10 MB (its default limit is 128 kB), for the length of a read."""
    old_limit = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 10 * 1024 * 1024))
    try:
        yield
    finally:
        csv.field_size_limit(old_limit)


@dataclass(frozen=True)
class _Columns:
    """Where each field is in a row (None: the file has no such column)."""

    email: int
    first_name: int | None
    last_name: int | None
    company: int | None
    phone: int | None
    name: int | None
    """A single "Name" column, split at the first space when there is no first or last name."""
    email_fallbacks: tuple[int, ...]
    """Further e-mail columns (Google's "E-mail 2 - Value"), read when the first one is empty."""


def _open(text: str, report: ImportReport) -> tuple[Iterator[list[str]], _Columns]:
    """A csv reader past the header, and where the fields are (call it under `_long_fields`).

    Raises:
        InvalidInput: the file as a whole is unusable (empty, no email column, too many columns).
    """
    if not text or text.isspace():
        raise InvalidInput("the file is empty")
    end = text.find("\n")
    first_line = text if end < 0 else text[:end]
    if first_line.count(",") + first_line.count(";") + first_line.count("\t") > MAX_COLUMNS:
        raise InvalidInput(f"the file has more than {MAX_COLUMNS} columns; that is not a contacts export")
    # Only the separator is guessed (from the header). The rest is Excel's quoting: the sniffer, seeing no quote
    # in a header, turns off `""` as an escaped quote, and `"O""Brien"` would then be read as `O"Brien"`.
    try:
        delimiter = csv.Sniffer().sniff(first_line, delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), csv.excel, delimiter=delimiter)
    try:
        headers = next(reader)
    except csv.Error as exc:
        raise InvalidInput(f"line 1: cannot read the header: {exc}") from None
    mapping, fallbacks, names = _map_columns(headers)
    report.columns = names
    if "email" not in mapping:
        raise InvalidInput(
            "no email column found in the header (looked for Email, E-mail Address, E-mail 1 - Value, ...)"
        )
    columns = _Columns(mapping["email"], mapping.get("first_name"), mapping.get("last_name"),
                       mapping.get("company"), mapping.get("phone"), mapping.get("name"), tuple(fallbacks))
    return reader, columns


def _records(reader, columns: _Columns, report: ImportReport) -> Iterator[_Record]:
    """The rows with something in them, as `_Record`s; a row the csv module cannot read is reported and skipped.

    This runs once per row of a file that may have a million: rows stay lists (no dict per row), the column
    positions are local variables, and rows are padded once rather than each cell bounds-checked."""
    at_email, at_first, at_last = columns.email, columns.first_name, columns.last_name
    at_company, at_phone, at_name, fallbacks = columns.company, columns.phone, columns.name, columns.email_fallbacks
    width = 1 + max(i for i in (at_email, at_first, at_last, at_company, at_phone, at_name) if i is not None)
    padding = [""] * width
    read_to = reader.line_num  # the last line of the previous record (the header)
    while True:
        try:
            for row in reader:
                line, read_to = read_to + 1, reader.line_num
                if len(row) < width:
                    row += padding[len(row):]
                address = row[at_email].strip()
                if ":" in address or ";" in address or "," in address:
                    address = _first_address(address)
                if not address:
                    if not any(cell.strip() for cell in row):
                        continue  # a blank line, or a row of empty cells: nothing to report
                    for index in fallbacks:
                        address = _first_address(_cell(row, index))
                        if address:
                            break
                first = "" if at_first is None else row[at_first].strip()
                last = "" if at_last is None else row[at_last].strip()
                if not first and not last and at_name is not None:
                    first, _, last = row[at_name].strip().partition(" ")
                    first, last = first.strip(), last.strip()
                yield (line, address, first, last, "" if at_company is None else row[at_company].strip(),
                       "" if at_phone is None else row[at_phone].strip())
        except csv.Error as exc:
            report.skipped.append((read_to + 1, f"unreadable row: {exc}"))
            read_to = reader.line_num
            continue
        return


def read_csv(data: bytes | str) -> tuple[list[tuple[int, dict[str, str]]], ImportReport]:
    """Parse CSV content into (line number, fields) rows, reporting rows that cannot be used.

    Raises:
        InvalidInput: the file as a whole is unusable (empty, binary, no email column, too many columns).
    """
    report = ImportReport()
    text = data if isinstance(data, str) else _decode(data, report)
    with _long_fields():
        reader, columns = _open(text, report)
        rows = [(line, dict(zip(FIELDS, values))) for line, *values in _records(reader, columns, report)]
    return rows, report


def _field_problem(first_name: str, last_name: str, company: str, phone: str) -> str | None:
    for name, value in (("first name", first_name), ("last name", last_name), ("company", company),
                        ("phone", phone)):
        if len(value) > MAX_FIELD:
            return f"{name} is too long ({len(value)} characters, at most {MAX_FIELD})"
        if "\x00" in value:
            return f"{name} contains a NUL byte"
    return None


@write_transaction
def import_contacts(data: bytes | str, update_existing: bool = False) -> ImportReport:
    """Import contacts from CSV content in one transaction: good rows are added, bad rows reported and skipped.

    Args:
        data: The file's bytes (or text).
        update_existing: Fill in names, company and phone of contacts that already exist (instead of skipping).
    """
    report = ImportReport()
    now = clock.now()
    batch, existing = _new_contacts(data, report, update_existing, now)
    _insert_new(batch, now, existing)
    report.added = len(batch)
    audit.record("contact.import", subject="csv", detail=f"{report.added} added, {len(report.skipped)} skipped")
    return report


def _new_contacts(data: bytes | str, report: ImportReport, update_existing: bool,
                  now) -> tuple[list[tuple[str, str, str, str, str]], int]:
    """Read the file and check each row as add_contact would: the contacts to add (email, first, last, company,
    phone), and how many contacts there are already. Rows not added are reported; existing contacts are updated
    if asked. A function of its own so the text, the reader and the lookups are freed before the inserts."""
    text = data if isinstance(data, str) else _decode(data, report)
    may_hold_nul = "\x00" in text  # one scan of the file instead of four per row
    normalize = normalize_email  # it has its own fast path for the common shape of address
    seen: dict[str, int] = {}
    skipped: list[tuple[int, str]] = []  # after the unreadable rows the reader reports, as they always came
    batch: list[tuple[str, str, str, str, str]] = []
    with _long_fields():
        reader, columns = _open(text, report)
        existing = dict(Contact._meta.database.execute_sql("SELECT email, id FROM contact"))
        for line, written, first, last, company, phone in _records(reader, columns, report):
            if not written:
                skipped.append((line, "no email address"))
                continue
            try:
                address = normalize(written)
            except InvalidInput as exc:
                skipped.append((line, str(exc)))
                continue
            if (may_hold_nul or len(first) > MAX_FIELD or len(last) > MAX_FIELD or len(company) > MAX_FIELD
                    or len(phone) > MAX_FIELD):
                problem = _field_problem(first, last, company, phone)
                if problem:
                    skipped.append((line, problem))
                    continue
            first_seen = seen.setdefault(address, line)
            if first_seen != line:
                skipped.append((line, f"{address} appears already on line {first_seen}"))
                continue
            if address in existing:
                if update_existing:
                    changes = {k: v for k, v in zip(FIELDS[1:], (first, last, company, phone)) if v}
                    if changes:
                        Contact.update(updated_at=now, **changes).where(Contact.id == existing[address]).execute()
                skipped.append((line, f"{address} is already a contact" + (" (updated)" if update_existing else "")))
                continue
            batch.append((address, first, last, company, phone))
    report.skipped.extend(skipped)
    return batch, len(existing)


REBUILD_AT = 10_000
"""An import of at least this many new contacts, and at least as many as there are already, drops the contact
table's secondary indexes and builds them again afterwards: one sort per index instead of a B-tree insert per
row and index (each index costs a row-by-row import about half a second per 100k rows)."""

_INSERT_TRIGGERS = ("contact_search_insert", "contact_count_insert", "contact_fts_insert")
"""The insert triggers on contact (schema v2-v4) an import sets aside, each replaced by work done once: every row
comes with its search_text (the search trigger only fills in an empty one, and `search_text` never makes one), the
count per status is raised once by the number of rows, and the search index is filled in one statement. Row by
row, the first two add about 60% to each insert, and the search index's makes it about ten times slower. A
trigger not named here stays, and fires for each row as it would for any insert."""


def _insert_new(batch: list[tuple[str, str, str, str, str]], now, existing: int) -> None:
    """Insert the new contacts with `_INSERT_TRIGGERS` (and, for a big import, the secondary indexes) set aside,
    then do their work for all rows at once.

    All of it runs in the import's one IMMEDIATE transaction: no other writer adds a contact while the triggers
    and indexes are away (so every contact above the old highest id is one of ours), readers keep seeing the
    schema of their snapshot, and a failure rolls the schema back with the rows. The triggers and indexes are
    created again from their own SQL in sqlite_master, so they come back exactly as they were."""
    if not batch:
        return
    db = Contact._meta.database
    last_id = db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM contact").fetchone()[0]
    indexes: list[tuple[str, str]] = []
    if len(batch) >= max(REBUILD_AT, existing):
        # Not the UNIQUE index on email: it is the constraint, not only a way to find rows.
        indexes = db.execute_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contact' "
            "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%' ORDER BY rowid"
        ).fetchall()
    triggers = db.execute_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'contact' "
        f"AND name IN ({', '.join('?' * len(_INSERT_TRIGGERS))}) ORDER BY rowid",
        _INSERT_TRIGGERS,
    ).fetchall()
    for name, _ in indexes:
        db.execute_sql(f'DROP INDEX "{name}"')
    for name, _ in triggers:
        db.execute_sql(f'DROP TRIGGER "{name}"')
    for start in range(0, len(batch), 5_000):
        _insert_rows(batch[start : start + 5_000], now)
    dropped = {name for name, _ in triggers}
    if "contact_count_insert" in dropped:
        db.execute_sql(
            "INSERT INTO contact_status_count (status, n) VALUES (?, ?) "
            "ON CONFLICT (status) DO UPDATE SET n = n + excluded.n",
            (Contact.status.default, len(batch)),
        )
    if "contact_fts_insert" in dropped:
        db.execute_sql(f"{SEARCH_INDEX_FILL} WHERE id > ?", (last_id,))
    for _, sql in triggers + indexes:
        db.execute_sql(sql)


_INSERT_COLUMNS = ("email", "first_name", "last_name", "company", "phone", "created_at", "updated_at", "status",
                   "invite_count", "search_text")


def _insert_rows(rows: list[tuple[str, str, str, str, str]], now) -> None:
    """Insert new contacts (email, first, last, company, phone) with one prepared statement: Peewee's
    insert_many spends more time building SQL for 100k rows than SQLite spends storing them."""
    fields = Contact._meta.fields
    sql = 'INSERT INTO "contact" ({}) VALUES ({})'.format(
        ", ".join(f'"{fields[name].column_name}"' for name in _INSERT_COLUMNS), ", ".join("?" * len(_INSERT_COLUMNS))
    )
    stamp = fields["created_at"].db_value(now)
    if isinstance(stamp, datetime):
        stamp = sqlite3.adapters.get((datetime, sqlite3.PrepareProtocol), str)(stamp)  # once, not per row
    tail = (stamp, stamp, fields["status"].default, fields["invite_count"].default)
    Contact._meta.database.cursor().executemany(
        sql, [row + tail + (search_text(row[1], row[2], row[0], row[3]),) for row in rows]
    )


def import_file(path: Path | str, update_existing: bool = False) -> ImportReport:
    """Import a CSV file from disk (see `import_contacts`)."""
    path = Path(path).expanduser()
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InvalidInput(f"{path} is {size // (1024 * 1024)} MB; that is too large for a contacts file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a folder, not a CSV file") from None
    except PermissionError:
        raise InvalidInput(f"cannot read {path}: permission denied") from None
    return import_contacts(data, update_existing=update_existing)


EXPORT_COLUMNS = ("email", "first_name", "last_name", "company", "phone", "status", "invited_at", "joined_at",
                  "last_login_at")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def inert(value: object) -> str:
    """A cell value a spreadsheet shows as text: one that would start a formula gets a leading apostrophe (OWASP)."""
    text = "" if value is None else (value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value))
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def export_contacts(out: io.TextIOBase) -> int:
    """Write every contact as CSV (UTF-8 text) to `out`; returns how many rows were written."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    query = Contact.select().order_by(Contact.id).iterator()
    for contact in query:
        writer.writerow([inert(getattr(contact, column)) for column in EXPORT_COLUMNS])
        count += 1
    return count


def export_file(path: Path | str) -> int:
    """Export to a file with a BOM so spreadsheets read it as UTF-8."""
    path = Path(path).expanduser()
    try:
        with open(path, "w", encoding="utf-8-sig", newline="", opener=private_file_opener) as out:
            return export_contacts(out)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from None
