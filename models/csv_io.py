"""CSV in and out, for the exports people really have (Google Contacts, Outlook, Mailchimp, spreadsheets).

Import matches header names loosely and reports each bad row by its line number, keeping the good ones, all in one
transaction. The file is streamed: it is read in blocks, split into rows by a scanner that knows CSV quoting (so a
row is found whole, however many lines its quoted cells span), and each row is decoded on its own (UTF-8, with or
without a BOM; a row that is not UTF-8 is read as Windows-1252 and reported by line). A cell longer than MAX_CELL
or a row longer than MAX_ROW is skipped and reported, and the rows after it are read as they should be. Rows are
inserted in chunks; duplicates are found through the contact table's UNIQUE index rather than a set of every
address, so the memory an import needs does not grow with the file.

Export neutralises cells a spreadsheet would run as a formula (OWASP: a leading apostrophe), and import takes
that apostrophe off again, so our own export imports back to the same contacts (see `inert` and `uninert`).
"""

from __future__ import annotations

import contextlib
import csv
import heapq
import io
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from models import audit, clock, search_fill
from models.backends import InsertUpkeep
from models.contacts import MAX_FIELD, normalize_email
from models.db import backend, write_transaction
from models.entities import Contact, search_text
from models.errors import InvalidInput
from models.files import private_file_opener
from models.lookalike import Lookalikes, needs_check
from models.words import plural

MAX_COLUMNS = 1_000
"""More columns than this is not a contacts export; the file is refused before it is read."""
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_CELL = 64 * 1024
"""Longest cell read, in characters; a row with a longer one is skipped and reported (no contact field keeps more
than MAX_FIELD characters, but a note or address column may be long)."""
MAX_ROW = 1024 * 1024
"""Longest row read, in bytes, all its lines together; a longer one is skipped (without being held in memory)."""
MAX_REPORTED = 1_000
"""Skipped rows (and warnings) kept with their reasons, the first by line; the others are only counted."""
CHUNK = 5_000
"""Rows inserted per statement: memory holds one chunk, not the file."""
BLOCK = 1024 * 1024
"""Bytes read from the file at a time."""

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
    """What an import did, row by row: the first MAX_REPORTED problems by line, and how many there were."""

    added: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    """(line number, reason) for the rows not imported, by line: the first MAX_REPORTED of them."""
    skipped_count: int = 0
    """How many rows were not imported in all (`skipped` may list fewer)."""
    warnings: list[str] = field(default_factory=list)
    """About the file (rows read as Windows-1252), then about rows ("line 12: ..."), the first MAX_REPORTED."""
    warning_count: int = 0
    """How many row warnings there were in all."""
    recoded_lines: list[int] = field(default_factory=list)
    """Lines of rows that were not UTF-8 and were read as Windows-1252: the first MAX_REPORTED."""
    recoded_count: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    """Our field -> the header it was read from."""
    search_pending: bool = False
    """The new contacts are not in the search index yet (an import with `fill_later`): start the fill
    (`models.search_fill`); searches find them meanwhile, through LIKE."""


class _Kept:
    """The first MAX_REPORTED (line, text) items by line, whatever order they come in, and how many came."""

    def __init__(self) -> None:
        self.limit = MAX_REPORTED
        self.count = 0
        self._heap: list[tuple[int, int, str]] = []  # (-line, -arrival, text): the top is the one to drop

    def add(self, line: int, text: str) -> None:
        self.count += 1
        item = (-line, -self.count, text)
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, item)
        elif item > self._heap[0]:
            heapq.heapreplace(self._heap, item)

    def items(self) -> list[tuple[int, str]]:
        return [(-line, text) for line, _, text in sorted(self._heap, reverse=True)]


class _Problems:
    """What an import has to report, kept bounded while it runs (a file may have a million bad rows)."""

    def __init__(self) -> None:
        self.skipped = _Kept()
        self.warnings = _Kept()
        self.recoded = _Kept()

    def skip(self, line: int, reason: str) -> None:
        self.skipped.add(line, reason)

    def warn(self, line: int, text: str) -> None:
        self.warnings.add(line, text)

    def fill(self, report: ImportReport) -> None:
        report.skipped = self.skipped.items()
        report.skipped_count = self.skipped.count
        report.recoded_lines = [line for line, _ in self.recoded.items()]
        report.recoded_count = self.recoded.count
        if self.recoded.count:
            shown = ", ".join(str(line) for line in report.recoded_lines[:20])
            more = f" and {self.recoded.count - 20:,} more" if self.recoded.count > 20 else ""
            rows = plural(self.recoded.count, "row") + (" was" if self.recoded.count == 1 else " were")
            report.warnings.append(f"{rows} not UTF-8 and read as Windows-1252 (Latin-1): line {shown}{more}; "
                                   "check their accented letters")
        report.warnings += [f"line {line}: {text}" for line, text in self.warnings.items()]
        report.warning_count = self.warnings.count


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
def _cell_limit() -> Iterator[None]:
    """Let the csv module read cells up to MAX_CELL characters (its own limit is 128 kB), for the length of a read:
    a longer cell is then an error for its row alone (`_Rows` hands the reader one whole row at a time)."""
    old_limit = csv.field_size_limit()
    csv.field_size_limit(MAX_CELL)
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


_START, _FIELD, _QUOTED, _AFTER_QUOTE = range(4)
"""Where a row's reading stands: at the start of a cell, in an unquoted cell, in a quoted cell, just after a quote
in a quoted cell (which closes it unless another quote follows)."""
_QUOTE = ord('"')


def _scan(piece: bytes, state: int, delimiter: int) -> int:
    """The state at the end of `piece` (a line, or part of one, of a row), starting from `state`, as the csv
    module's excel dialect reads it: a quote opens a quoted cell only at the start of a cell; in a quoted cell `""`
    is a quote and a lone `"` closes it; a quote anywhere else is text. Bytes are enough: the quote, the delimiter
    and the line breaks are ASCII, and no byte of another character is ASCII in UTF-8 or Windows-1252."""
    pos, end, find = 0, len(piece), piece.find
    while pos < end:
        if state == _QUOTED:
            found = find(b'"', pos)
            if found < 0:
                return _QUOTED
            state, pos = _AFTER_QUOTE, found + 1
        elif state == _AFTER_QUOTE:
            byte = piece[pos]
            state = _QUOTED if byte == _QUOTE else _START if byte == delimiter else _FIELD
            pos += 1
        elif state == _START:
            if piece[pos] == _QUOTE:
                state, pos = _QUOTED, pos + 1
            else:
                state = _FIELD  # not moved on: the byte may be the delimiter, which starts the next cell
        else:
            found = find(b'"', pos)
            if found < 0:
                return _START if piece[-1] == delimiter else _FIELD
            if found > pos and piece[found - 1] == delimiter:
                state = _QUOTED
            pos = found + 1
    return state


@dataclass
class _OpenRow:
    """A row being read across lines (a quoted cell with line breaks) or across blocks (a very long line)."""

    line: int
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    state: int = _START
    too_long: bool = False
    """Past MAX_ROW: its bytes are dropped, only its end is looked for."""


class _Rows:
    """The rows of a CSV byte stream, read a block at a time, each decoded on its own: an iterable of strings, one
    per row, for `csv.reader` (so an error in one row cannot run into the next). `line` is the line the row last
    handed out starts on; `apostrophe` whether it has a `'` (then `uninert` is worth calling on its cells)."""

    def __init__(self, stream: BinaryIO, head: bytes, delimiter: str, problems: _Problems) -> None:
        self._stream, self.head, self._delimiter, self._problems = stream, head, ord(delimiter), problems
        self._open: _OpenRow | None = None
        self.line = 0
        self.apostrophe = False
        self.header = True
        """The next row is the header: one that cannot be read refuses the file rather than being skipped."""

    def __iter__(self) -> Iterator[str]:
        read, delimiter, block, carry, done = self._stream.read, self._delimiter, self.head, b"", 0
        while True:
            if block:
                data = carry + block if carry else block
                # Whole lines now; the rest waits for the next block (a last \r may yet be followed by its \n).
                cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1
                body, carry = data[:cut], data[cut:]
            else:
                body, carry = carry, b""
            text = None
            if self._open is None and b'"' not in body and body.count(b"\r") == body.count(b"\r\n"):
                try:  # the common block: no quotes, so one line is one row; decoded in one go
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            if text is not None:
                lines = text.split("\n")
                if lines[-1] == "":
                    lines.pop()
                apostrophes = "'" in text
                self.apostrophe = False
                for line in lines:
                    done += 1
                    self.line = done
                    if apostrophes:
                        self.apostrophe = "'" in line
                    yield line
            else:
                for piece in body.splitlines(True):  # at \n, \r\n and \r only, as the csv module splits lines
                    done += 1
                    if self._open is None and b'"' not in piece:  # one line, one row
                        self.line = done
                        self.apostrophe = b"'" in piece
                        try:
                            yield piece.decode("utf-8")
                        except UnicodeDecodeError:
                            yield self._recode(piece, done)
                        continue
                    row_text = self._add(piece, done, delimiter, complete=True)
                    if row_text is not None:
                        yield row_text
            if len(carry) > BLOCK:  # a line longer than a block: read what there is of it, keep only a last \r
                keep = 1 if carry[-1:] == b"\r" else 0
                self._add(carry[: len(carry) - keep], done + 1, delimiter, complete=False)
                carry = carry[len(carry) - keep :]
            if not block:
                if self._open is not None:  # the last line had no line break, and came in parts
                    row_text = self._add(b"", done + 1, delimiter, complete=True)
                    if row_text is not None:
                        yield row_text
                if self._open is not None:
                    row, self._open = self._open, None
                    self._refuse_or_skip(row.line, f"a quoted cell opened on line {row.line} is never closed")
                return
            block = read(BLOCK)

    def _add(self, piece: bytes, line: int, delimiter: int, complete: bool) -> str | None:
        """Take a line (or, not `complete`, part of one) into the open row; the row's text when this ends it."""
        row = self._open
        if row is None:
            row = self._open = _OpenRow(line)
        row.state = _scan(piece, row.state, delimiter)
        if not row.too_long:
            row.size += len(piece)
            if row.size > MAX_ROW:
                row.too_long, row.parts = True, []
            else:
                row.parts.append(piece)
        if not complete or row.state == _QUOTED:
            return None
        self._open = None
        if row.too_long:
            self._refuse_or_skip(row.line, f"the row is too long (over {MAX_ROW // 1024:,} KiB, lines "
                                           f"{row.line}-{line})")
            return None
        data = b"".join(row.parts)
        self.line = row.line
        self.apostrophe = b"'" in data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return self._recode(data, row.line)

    def _recode(self, data: bytes, line: int) -> str:
        self._problems.recoded.add(line, "")
        return data.decode("cp1252", errors="replace")

    def _refuse_or_skip(self, line: int, reason: str) -> None:
        if self.header:
            raise InvalidInput(f"line {line}: cannot read the header: {reason}")
        self._problems.skip(line, reason)


def _as_stream(data: bytes | str) -> BinaryIO:
    return io.BytesIO(data.encode("utf-8", errors="surrogateescape") if isinstance(data, str) else data)


_LINE_END = re.compile(rb"[\r\n]")


def _open(stream: BinaryIO, report: ImportReport, problems: _Problems) -> tuple[_Rows, Iterator[list[str]], _Columns]:
    """The file's rows, a csv reader past the header, and where the fields are (call it under `_cell_limit`).

    Raises:
        InvalidInput: the file as a whole is unusable (empty, binary, no email column, too many columns).
    """
    head = stream.read(BLOCK)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if b"\x00" in head[:65536]:
        raise InvalidInput("this file is not a CSV text file (it contains NUL bytes); export it as CSV first")
    if not head.strip():
        raise InvalidInput("the file is empty")
    end = _LINE_END.search(head)
    first_line = head[: end.start()] if end else head
    if first_line.count(b",") + first_line.count(b";") + first_line.count(b"\t") > MAX_COLUMNS:
        raise InvalidInput(f"the file has more than {MAX_COLUMNS} columns; that is not a contacts export")
    # Only the separator is guessed (from the header). The rest is Excel's quoting: the sniffer, seeing no quote
    # in a header, turns off `""` as an escaped quote, and `"O""Brien"` would then be read as `O"Brien"`.
    try:
        delimiter = csv.Sniffer().sniff(first_line.decode("utf-8", errors="replace"), delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    rows = _Rows(stream, head, delimiter, problems)
    reader = csv.reader(rows, csv.excel, delimiter=delimiter)
    try:
        headers = next(reader)
    except csv.Error as exc:
        raise InvalidInput(f"line 1: cannot read the header: {_csv_problem(exc)}") from None
    except StopIteration:
        raise InvalidInput("the file is empty") from None
    rows.header = False
    mapping, fallbacks, names = _map_columns(headers)
    report.columns = names
    if "email" not in mapping:
        raise InvalidInput(
            "no email column found in the header (looked for Email, E-mail Address, E-mail 1 - Value, ...)"
        )
    columns = _Columns(mapping["email"], mapping.get("first_name"), mapping.get("last_name"),
                       mapping.get("company"), mapping.get("phone"), mapping.get("name"), tuple(fallbacks))
    return rows, reader, columns


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"a cell is too long (over {MAX_CELL:,} characters)"
    return f"unreadable row: {exc}"


def _records(rows: _Rows, reader: Iterator[list[str]], columns: _Columns, problems: _Problems) -> Iterator[_Record]:
    """The rows with something in them, as `_Record`s; a row the csv module cannot read is reported and skipped.

    This runs once per row of a file that may have a million: rows stay lists (no dict per row), the column
    positions are local variables, and rows are padded once rather than each cell bounds-checked."""
    at_email, at_first, at_last = columns.email, columns.first_name, columns.last_name
    at_company, at_phone, at_name, fallbacks = columns.company, columns.phone, columns.name, columns.email_fallbacks
    width = 1 + max(i for i in (at_email, at_first, at_last, at_company, at_phone, at_name) if i is not None)
    padding = [""] * width
    while True:
        try:
            for row in reader:
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
                    first, _, last = uninert(row[at_name].strip()).partition(" ")
                    first, last = first.strip(), last.strip()
                company = "" if at_company is None else row[at_company].strip()
                phone = "" if at_phone is None else row[at_phone].strip()
                if rows.apostrophe:  # a formula guard of our export to take off (rare: one test per row)
                    address, first, last = uninert(address), uninert(first), uninert(last)
                    company, phone = uninert(company), uninert(phone)
                yield rows.line, address, first, last, company, phone
        except csv.Error as exc:
            problems.skip(rows.line, _csv_problem(exc))
            continue
        return


def read_csv(data: bytes | str) -> tuple[list[tuple[int, dict[str, str]]], ImportReport]:
    """Parse CSV content into (line number, fields) rows, reporting rows that cannot be used.

    Raises:
        InvalidInput: the file as a whole is unusable (empty, binary, no email column, too many columns).
    """
    report, problems = ImportReport(), _Problems()
    with _cell_limit():
        rows, reader, columns = _open(_as_stream(data), report, problems)
        out = [(line, dict(zip(FIELDS, values))) for line, *values in _records(rows, reader, columns, problems)]
    problems.fill(report)
    return out, report


def _field_problem(first_name: str, last_name: str, company: str, phone: str) -> str | None:
    for name, value in (("first name", first_name), ("last name", last_name), ("company", company),
                        ("phone", phone)):
        if len(value) > MAX_FIELD:
            return f"{name} is too long ({len(value)} characters, at most {MAX_FIELD})"
        if "\x00" in value:
            return f"{name} contains a NUL byte"
    return None


def import_contacts(data: bytes | str, update_existing: bool = False, *, fill_later: bool = False) -> ImportReport:
    """Import contacts from CSV content in one transaction: good rows are added, bad rows reported and skipped.

    Args:
        data: The file's bytes (or text).
        update_existing: Fill in names, company and phone of contacts that already exist (instead of skipping).
        fill_later: Commit a big import's contacts without their search index entries (the report's
            `search_pending`); the caller then starts the fill (`models.search_fill`).
    """
    return _import(_as_stream(data), update_existing, fill_later)


@write_transaction
def _import(stream: BinaryIO, update_existing: bool, fill_later: bool = False) -> ImportReport:
    """Read the stream row by row, check each row as add_contact would, and insert the new contacts a chunk at a
    time (`_Importer`). Rows not added are reported; existing contacts are updated if asked."""
    stream.seek(0)  # from the start, should the transaction be tried again
    report, problems = ImportReport(), _Problems()
    normalize = normalize_email  # it has its own fast path for the common shape of address
    with _cell_limit():
        rows, reader, columns = _open(stream, report, problems)
        importer = _Importer(clock.now(), update_existing, problems, _rows_in(stream, rows))
        importer.fill_later = fill_later
        add, skip = importer.add, problems.skip
        for line, written, first, last, company, phone in _records(rows, reader, columns, problems):
            if not written:
                skip(line, "no email address")
                continue
            try:
                address = normalize(written)
            except InvalidInput as exc:
                skip(line, str(exc))
                continue
            if (len(first) > MAX_FIELD or len(last) > MAX_FIELD or len(company) > MAX_FIELD
                    or len(phone) > MAX_FIELD or "\x00" in first or "\x00" in last or "\x00" in company
                    or "\x00" in phone):
                problem = _field_problem(first, last, company, phone)
                if problem:
                    skip(line, problem)
                    continue
            add((address, first, last, company, phone), line)
        importer.finish()
    problems.fill(report)
    report.added = importer.inserted
    report.search_pending = fill_later and search_fill.pending()
    audit.record("contact.import", subject="csv",
                 detail=f"{report.added} added, {report.skipped_count} skipped")
    return report


def _rows_in(stream: BinaryIO, rows: _Rows) -> float:
    """About how many lines the file has: its size over the average line of its first block."""
    at = stream.tell()
    size = stream.seek(0, io.SEEK_END)
    stream.seek(at)
    head = rows.head
    return size * (head.count(b"\n") or head.count(b"\r") or 1) / max(1, len(head))


REBUILD_AT = 10_000
"""An import expected to bring at least this many new contacts, and at least as many as there are already, drops
the contact table's secondary indexes and builds them again at the end: one sort per index instead of a B-tree
insert per row and index (each index costs a row-by-row import about half a second per 100k rows)."""

class _Importer:
    """Inserts an import's contacts a chunk at a time, and tells a duplicate or an existing contact from a new one.

    It keeps no set of addresses: a chunk goes in skipping addresses already there, and only when fewer rows went in
    than were given does it ask the contact table (its UNIQUE email index) which addresses were there already. Contacts
    get consecutive ids above the highest one before the import (it holds the write lock throughout), so the line
    each came from is an array indexed by id, 4 bytes a contact. The insert triggers (and, for a big import, the
    secondary indexes) are set aside and their work done once at the end; all of it runs in the import's one
    write transaction, so a failure rolls the schema back with the rows; the engine puts the triggers and indexes
    back exactly as they were (`models.backends.InsertUpkeep`)."""

    def __init__(self, now, update_existing: bool, problems: _Problems, file_rows: float) -> None:
        self.db = Contact._meta.database
        self.file_rows = file_rows
        """About how many rows the file has (from its size and the lines of its first block)."""
        self.now, self.update_existing, self.problems = now, update_existing, problems
        self.last_id = self.db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM contact").fetchone()[0]
        self.rebuild_at = max(REBUILD_AT, self.db.execute_sql("SELECT COUNT(*) FROM contact").fetchone()[0])
        self.rows: list[tuple[str, str, str, str, str]] = []
        self.lines: list[int] = []
        self.inserted = 0
        self.inserted_lines = array("I")
        """The line of each contact this import inserted, at its id - last_id - 1."""
        self.first_met: array | None = None
        """For contacts that existed before: the line they were first met on (0: not yet), at their id."""
        self.upkeep: InsertUpkeep | None = None
        """The insert upkeep set aside by the engine, from the first chunk on."""
        self.lookalikes = Lookalikes()
        self.any_non_ascii = False
        """Whether a non-ASCII address was added yet: only then are ASCII ones compared with them."""
        self.fill_later = False
        """Leave a big import's search index entries to the background fill (`import_contacts`)."""

    def add(self, row: tuple[str, str, str, str, str], line: int) -> None:
        self.rows.append(row)
        self.lines.append(line)
        if len(self.rows) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        rows, lines = self.rows, self.lines
        if not rows:
            return
        self.rows, self.lines = [], []
        if self.upkeep is None:
            self.upkeep = backend().suspend_insert_upkeep()
            if self.fill_later and hasattr(self.upkeep, "background_fill"):  # an engine that fills no index: none
                self.upkeep.background_fill = True
            # Decided once, before the first insert: indexes dropped after rows went in leave their pages free,
            # and reusing them made every later insert half as slow again.
            if self._expected_new(rows, lines) >= self.rebuild_at:
                self.upkeep.suspend_indexes()
        first_id = self.last_id + self.inserted + 1
        added = _insert_rows(rows, self.now)
        if added == len(rows):
            self.inserted_lines.extend(lines)
            new = zip(rows, lines)
        else:
            new = self._sort_out(rows, lines, first_id)
        self.inserted += added
        lookalikes, warn = self.lookalikes, self.problems.warn
        for row, line in new:
            if needs_check(row[0]):  # a non-ASCII address: compare it with the contacts it may imitate
                for warning in lookalikes.warnings(row[0]):
                    warn(line, warning)
                lookalikes.add(row[0])
                self.any_non_ascii = True
            elif self.any_non_ascii:  # an ASCII one, after a lookalike of it higher up in the file
                for warning in lookalikes.imitated(row[0]):
                    warn(line, warning)

    def _expected_new(self, rows: list[tuple[str, str, str, str, str]], lines: list[int]) -> float:
        """How many new contacts the whole import will bring, judged from its first chunk: all of it when the
        file ended within the chunk, else the file's rows (from its size) times the share of the chunk's rows
        that are good and not contacts already."""
        if len(rows) < CHUNK:
            candidates: float = len(rows)
        else:
            candidates = self.file_rows * len(rows) / max(1, lines[-1] - 1)
        known = 0
        addresses = [row[0] for row in rows]
        for start in range(0, len(addresses), 500):
            part = addresses[start : start + 500]
            known += self.db.execute_sql(
                f"SELECT COUNT(*) FROM contact WHERE email IN ({', '.join('?' * len(part))})", part
            ).fetchone()[0]
        return candidates * (len(rows) - known) / len(rows)

    def _sort_out(self, rows, lines, first_id: int) -> list[tuple[tuple, int]]:
        """After a chunk where some rows did not go in: report each of those (a duplicate of a row above, or a
        contact already there, updated if asked); the rows that did go in, with their lines."""
        found: dict[str, int] = {}
        addresses = [row[0] for row in rows]
        for start in range(0, len(addresses), 500):
            part = addresses[start : start + 500]
            found.update(self.db.execute_sql(
                f"SELECT email, id FROM contact WHERE email IN ({', '.join('?' * len(part))})", part
            ).fetchall())
        firsts: dict[str, int] = {}
        new = []
        for row, line in zip(rows, lines):
            address = row[0]
            contact_id = found[address]
            if contact_id >= first_id:  # this chunk inserted it: from this row, or one above in the chunk
                seen = firsts.get(address)
                if seen is None:
                    firsts[address] = line
                    self.inserted_lines.append(line)
                    new.append((row, line))
                else:
                    self.problems.skip(line, f"{address} appears already on line {seen}")
            elif contact_id > self.last_id:  # an earlier chunk inserted it
                seen = self.inserted_lines[contact_id - self.last_id - 1]
                self.problems.skip(line, f"{address} appears already on line {seen}")
            else:
                self._existing(row, line, contact_id)
        return new

    def _existing(self, row: tuple[str, str, str, str, str], line: int, contact_id: int) -> None:
        if self.first_met is None:
            self.first_met = array("I", bytes(4 * (self.last_id + 1)))
        address, seen = row[0], self.first_met[contact_id]
        if seen:
            self.problems.skip(line, f"{address} appears already on line {seen}")
            return
        self.first_met[contact_id] = line
        if self.update_existing:
            changes = {k: v for k, v in zip(FIELDS[1:], row[1:]) if v}
            if changes:
                Contact.update(updated_at=self.now, **changes).where(Contact.id == contact_id).execute()
        self.problems.skip(line, f"{address} is already a contact" + (" (updated)" if self.update_existing else ""))

    def finish(self) -> None:
        """Insert what is left, then do the work of the triggers set aside and create them (and the indexes)
        again."""
        self.flush()
        if self.upkeep is not None:
            self.upkeep.restore(inserted=self.inserted, after_id=self.last_id, status=Contact.status.default)


_INSERT_COLUMNS = ("email", "first_name", "last_name", "company", "phone", "created_at", "updated_at", "status",
                   "invite_count", "search_text")


def _insert_rows(rows: list[tuple[str, str, str, str, str]], now) -> int:
    """Insert new contacts (email, first, last, company, phone) with one prepared statement, skipping an address
    that is a contact already; returns how many went in. (Peewee's insert_many spends more time building SQL for
    100k rows than the database spends storing them.)"""
    fields = Contact._meta.fields
    engine = backend()
    stamp = engine.db_time(fields["created_at"].db_value(now))  # once, not per row
    tail = (stamp, stamp, fields["status"].default, fields["invite_count"].default)
    columns = [fields[name].column_name for name in _INSERT_COLUMNS]
    return engine.bulk_insert_contacts(
        [row + tail + (search_text(row[1], row[2], row[0], row[3]),) for row in rows], columns
    )


def import_file(path: Path | str, update_existing: bool = False, *, fill_later: bool = False) -> ImportReport:
    """Import a CSV file from disk, reading it a block at a time (see `import_contacts`)."""
    path = Path(path).expanduser()
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InvalidInput(f"{path} is {size // (1024 * 1024)} MB; that is too large for a contacts file")
        stream = open(path, "rb")  # noqa: SIM115 - closed below, after the import
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a folder, not a CSV file") from None
    except PermissionError:
        raise InvalidInput(f"cannot read {path}: permission denied") from None
    with stream:
        return _import(stream, update_existing, fill_later)


EXPORT_COLUMNS = ("email", "first_name", "last_name", "company", "phone", "status", "invited_at", "joined_at",
                  "last_login_at")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_GUARDED = tuple("'" + start for start in (*_FORMULA_START, "'"))
"""How a guarded cell starts: the apostrophe `inert` adds, then what it guards."""


def inert(value: object) -> str:
    """A cell value a spreadsheet shows as text: one that would start a formula gets a leading apostrophe (OWASP).

    A value that starts with an apostrophe gets one more, so that `uninert` can take exactly one off: an export
    imported back gives the same values (`'quoted` is written `''quoted`, `+33 6` is written `'+33 6`)."""
    text = "" if value is None else (value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value))
    if text.startswith(_FORMULA_START) or text[:1] == "'":
        return "'" + text
    return text


def uninert(text: str) -> str:
    """The value `inert` guarded: the leading apostrophe taken off when what follows would start a formula or is
    an apostrophe itself. (A spreadsheet saving a cell typed as `'+33` writes `+33`, so a file that was not ours has
    such an apostrophe only when someone meant to hide a formula: taking it off gives back what they typed.)"""
    return text[1:] if text.startswith(_GUARDED) else text


EXPORT_CHUNK = 500
"""Contacts read per query when exporting chosen ones (within SQLite's limit on `?` parameters)."""


def export_contacts(out: io.TextIOBase, contact_ids: list[int] | None = None) -> int:
    """Write every contact (or only those of `contact_ids`, in id order) as CSV (UTF-8 text) to `out`; returns
    how many rows were written. Contacts of `contact_ids` deleted meanwhile are left out."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    if contact_ids is None:
        queries = [Contact.select().order_by(Contact.id)]
    else:
        ordered = sorted(set(contact_ids))
        queries = [Contact.select().where(Contact.id.in_(ordered[i:i + EXPORT_CHUNK])).order_by(Contact.id)
                   for i in range(0, len(ordered), EXPORT_CHUNK)]
    for query in queries:
        for contact in query.iterator():
            writer.writerow([inert(getattr(contact, column)) for column in EXPORT_COLUMNS])
            count += 1
    return count


def export_file(path: Path | str, contact_ids: list[int] | None = None, *, replace: bool = True) -> int:
    """Export to a file with a BOM so spreadsheets read it as UTF-8 (`contact_ids`: as `export_contacts`).

    Raises:
        FileExists: `replace` is false and the file exists; nothing was written.
        InvalidInput: the file cannot be written (the message says why).
    """
    path = Path(path).expanduser()
    try:
        with open(path, "w" if replace else "x", encoding="utf-8-sig", newline="",
                  opener=private_file_opener) as out:
            return export_contacts(out, contact_ids)
    except FileExistsError:
        raise FileExists(f"{path} already exists") from None
    except IsADirectoryError:
        raise InvalidInput(f"cannot write {path}: it is a folder; give a file name") from None
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from None


class FileExists(InvalidInput):
    """`export_file` was told not to replace a file that exists."""
