"""CSV in and out, for the exports people really have (Google Contacts, Outlook, Mailchimp, spreadsheets).

Import matches header names loosely, reads UTF-8 with or without a BOM (and falls back to Latin-1 for old
Excel exports), reports each bad row by its line number and keeps the good ones, all in one transaction.
Export neutralises cells a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import sys
from datetime import datetime
from dataclasses import dataclass, field
from pathlib import Path

from models import audit, clock
from models.contacts import MAX_FIELD, normalize_email
from models.db import write_transaction
from models.entities import Contact
from models.errors import InvalidInput
from models.schema import SEARCH_INDEX_FILL, create_search_index_triggers, drop_search_index_triggers, search_text

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


def read_csv(data: bytes | str) -> tuple[list[tuple[int, dict[str, str]]], ImportReport]:
    """Parse CSV content into (line number, fields) rows, reporting rows that cannot be used.

    Raises:
        InvalidInput: the file as a whole is unusable (empty, binary, no email column, too many columns).
    """
    report = ImportReport()
    text = data if isinstance(data, str) else _decode(data, report)
    if not text.strip():
        raise InvalidInput("the file is empty")
    first_line = text.split("\n", 1)[0]
    if first_line.count(",") + first_line.count(";") + first_line.count("\t") > MAX_COLUMNS:
        raise InvalidInput(f"the file has more than {MAX_COLUMNS} columns; that is not a contacts export")
    try:
        dialect = csv.Sniffer().sniff(first_line, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    old_limit = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 10 * 1024 * 1024))
    try:
        reader = csv.reader(io.StringIO(text, newline=""), dialect)
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
        rows: list[tuple[int, dict[str, str]]] = []
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                report.skipped.append((line, f"unreadable row: {exc}"))
                continue
            if not any(cell.strip() for cell in row):
                continue
            address = _first_address(_cell(row, mapping["email"]))
            for index in fallbacks:
                if address:
                    break
                address = _first_address(_cell(row, index))
            fields = {
                "email": address,
                "first_name": _cell(row, mapping.get("first_name")),
                "last_name": _cell(row, mapping.get("last_name")),
                "company": _cell(row, mapping.get("company")),
                "phone": _cell(row, mapping.get("phone")),
            }
            if not fields["first_name"] and not fields["last_name"] and "name" in mapping:
                first, _, last = _cell(row, mapping["name"]).partition(" ")
                fields["first_name"], fields["last_name"] = first.strip(), last.strip()
            rows.append((line, fields))
        return rows, report
    finally:
        csv.field_size_limit(old_limit)


def _field_problem(fields: dict[str, str]) -> str | None:
    for name in ("first_name", "last_name", "company", "phone"):
        value = fields[name]
        if len(value) > MAX_FIELD:
            return f"{name.replace('_', ' ')} is too long ({len(value)} characters, at most {MAX_FIELD})"
        if "\x00" in value:
            return f"{name.replace('_', ' ')} contains a NUL byte"
    return None


@write_transaction
def import_contacts(data: bytes | str, update_existing: bool = False) -> ImportReport:
    """Import contacts from CSV content in one transaction: good rows are added, bad rows reported and skipped.

    Args:
        data: The file's bytes (or text).
        update_existing: Fill in names, company and phone of contacts that already exist (instead of skipping).
    """
    rows, report = read_csv(data)
    existing = {email: cid for cid, email in Contact.select(Contact.id, Contact.email).tuples()}
    now = clock.now()
    seen: dict[str, int] = {}
    batch: list[dict] = []
    for line, fields in rows:
        if not fields["email"]:
            report.skipped.append((line, "no email address"))
            continue
        try:
            address = normalize_email(fields["email"])
        except InvalidInput as exc:
            report.skipped.append((line, str(exc)))
            continue
        problem = _field_problem(fields)
        if problem:
            report.skipped.append((line, problem))
            continue
        if address in seen:
            report.skipped.append((line, f"{address} appears already on line {seen[address]}"))
            continue
        seen[address] = line
        values = {k: v for k, v in fields.items() if k != "email"}
        if address in existing:
            if update_existing:
                changes = {k: v for k, v in values.items() if v}
                if changes:
                    Contact.update(updated_at=now, **changes).where(Contact.id == existing[address]).execute()
            report.skipped.append((line, f"{address} is already a contact" + (" (updated)" if update_existing else "")))
            continue
        batch.append((address, values["first_name"], values["last_name"], values["company"], values["phone"]))
    _insert_new(batch, now, len(existing))
    report.added = len(batch)
    audit.record("contact.import", subject="csv", detail=f"{report.added} added, {len(report.skipped)} skipped")
    return report


REBUILD_AT = 10_000
"""An import of at least this many new contacts, and at least as many as there are already, drops the contact
table's secondary indexes and builds them again afterwards: one sort per index instead of a B-tree insert per
row and index (each index costs a row-by-row import about half a second per 100k rows)."""


def _insert_new(batch: list[tuple[str, str, str, str, str]], now, existing: int) -> None:
    """Insert the new contacts, then add them to the search index in one statement: its per-row trigger makes
    each insert about ten times slower. All of it runs in the import's one IMMEDIATE transaction: no other writer
    adds a contact while the trigger and indexes are away (so every contact above the old highest id is one of
    ours), readers keep seeing the schema of their snapshot, and a failure rolls the schema back with the rows."""
    if not batch:
        return
    db = Contact._meta.database
    last_id = db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM contact").fetchone()[0]
    indexes: list[tuple[str, str]] = []
    if len(batch) >= max(REBUILD_AT, existing):
        # Not the UNIQUE index on email: it is the constraint, not only a way to find rows.
        indexes = db.execute_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contact' "
            "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'"
        ).fetchall()
        for name, _ in indexes:
            db.execute_sql(f'DROP INDEX "{name}"')
    drop_search_index_triggers(db)
    for start in range(0, len(batch), 5_000):
        _insert_rows(batch[start : start + 5_000], now)
    db.execute_sql(f"{SEARCH_INDEX_FILL} WHERE id > ?", (last_id,))
    create_search_index_triggers(db)
    for _, sql in indexes:
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
        with open(path, "w", encoding="utf-8-sig", newline="") as out:
            return export_contacts(out)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from None
