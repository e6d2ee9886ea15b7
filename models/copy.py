"""`client-portal db copy`: a whole database into an empty one, between a SQLite file and a PostgreSQL server.

This is how a team moves from one host's file to a shared server (and back). Every table of `models.entities` is
copied with its ids, in batches read by primary key (keyset, never OFFSET), so memory stays flat at a million
contacts. Each value goes over as the source stores it (`COPY_STORED_FORMS`), not through Peewee's types and back.
The target's engine loads the rows in bulk with what it keeps per row set aside, and makes that once at the end:

- a server (`copy_upkeep`, `copy_table_rows`): COPY with its secondary indexes dropped and its row triggers off,
  then the indexes built and the counts made once;
- SQLite (the public bulk path a CSV import and `demo.seed` take: `Backend.suspend_insert_upkeep`,
  `bulk_insert_contacts`): the contacts with their insert triggers and every index but the key set aside, the
  unique address index too; first the search index filled from the source's contacts read in name order, then the
  contacts in id order, each with its rank (its place in that order); then the counts per status raised once and
  the indexes built (a duplicate address stops the copy there, in one line); every other table in one prepared
  statement per batch, its own triggers firing, the big ones' indexes set aside too (`LOADED_BEFORE_INDEXED`).

The one value the target's triggers may set differently from the source (a contact's invitation delivery state,
which an admin's shown link also sets) is put back from the source afterwards. The whole copy is one transaction on
the target: a failure leaves it as it was (empty, its triggers and indexes in place), so the copy can be run again.
Afterwards the target's `stats` must equal the source's, and `copy_database` checks that itself.

Plain Peewee only: what an engine must do differently (opening, bulk loading, sequences) is asked of its backend.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import peewee

from models import clock
from models.entities import (
    ApiKey,
    AuditEntry,
    Contact,
    Domain,
    HandoffCode,
    MagicLink,
    OutboxMessage,
    Setting,
    Template,
    search_text,
)
from models.backends import backend_for, is_server_url
from models.errors import PortalError

COPY_ORDER: tuple[type[peewee.Model], ...] = (
    Contact, Domain, Template, Setting, ApiKey, MagicLink, AuditEntry, OutboxMessage, HandoffCode,
)
"""Every table, parents before the tables whose rows point at them."""

READ_BATCH = 5_000
"""Rows read from the source per query: what the copy holds in memory at once."""

COPY_STORED_FORMS = (peewee.AutoField, peewee.IntegerField, peewee.BooleanField, peewee.CharField,
                     peewee.TextField, peewee.DateTimeField, peewee.ForeignKeyField)
"""The field types whose stored values a bulk loader takes as they are: integers, text, booleans (SQLite's 0/1,
which PostgreSQL reads as false/true), and timestamps (naive UTC: SQLite's text, PostgreSQL's `timestamp`).
`tests/test_db_copy.py` checks that every column of every copied table is one of these."""

MAX_PARAMETERS = 30_000
"""Bound values per INSERT: under SQLite's 32,766 and PostgreSQL's 65,535."""


@dataclass
class CopyReport:
    """What `copy_database` did."""

    counts: dict[str, int] = field(default_factory=dict)
    """Rows copied per table, in copy order."""
    source_stats: dict[str, int] = field(default_factory=dict)
    target_stats: dict[str, int] = field(default_factory=dict)

    @property
    def stats_match(self) -> bool:
        return self.source_stats == self.target_stats

    def differences(self) -> list[str]:
        """`key: source != target` for each figure that differs."""
        keys = dict.fromkeys([*self.source_stats, *self.target_stats])
        return [f"{key}: {self.source_stats.get(key)} != {self.target_stats.get(key)}" for key in keys
                if self.source_stats.get(key) != self.target_stats.get(key)]


def is_url(spec: str | Path) -> bool:
    """Whether a database is named by a server URL rather than a SQLite path."""
    return is_server_url(str(spec))


def display_name(spec: str | Path) -> str:
    """The database as it may be printed: a URL without its password."""
    text = str(spec)
    if not is_url(text):
        return text
    scheme, _, rest = text.partition("://")
    credentials, at, host = rest.rpartition("@")
    if at and ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***"
    return f"{scheme}://{credentials}{at}{host}"


def _same_database(source: str, target: str) -> bool:
    if is_url(source) or is_url(target):
        return source.rstrip("/") == target.rstrip("/")
    return Path(source).expanduser().resolve() == Path(target).expanduser().resolve()


def copy_database(source: str | Path, target: str | Path, *, progress: Callable[[str, int], None] | None = None,
                  batch_size: int = READ_BATCH) -> CopyReport:
    """Copy every row of `source` into `target`, which must be empty (a new SQLite file is made).

    Args:
        source: A SQLite path or a `postgresql://` URL; it must exist.
        target: A SQLite path (created if missing) or a `postgresql://` URL of an existing database.
        progress: Called with (table, rows copied so far) after each batch.
        batch_size: Rows read per query.

    Returns:
        The rows copied per table, and both databases' stats (equal when `stats_match`).

    Raises:
        PortalError: the source is missing, the target is not empty or is the source, or either cannot be opened;
            nothing was written to the target.
    """
    from models import db as dbmod
    from models import portal

    source, target = str(source), str(target)
    if _same_database(source, target):
        raise PortalError(f"the source and the target are the same database ({display_name(source)})")
    if not is_url(source) and not Path(source).expanduser().is_file():
        raise PortalError(f"no database at {source}: give the path of an existing client-portal database")
    at = clock.now()
    report = CopyReport()
    # The source first, alone: it is checked (and upgraded) as every command does, and its figures taken.
    dbmod.open_database(source)
    try:
        with clock.frozen(at):
            report.source_stats = portal.stats().as_dict()
    finally:
        dbmod.database.close()
    reader = _open_reader(source)
    try:
        dbmod.open_database(target)
        try:
            _refuse_non_empty(target)
            tables = [model._meta.table_name for model in COPY_ORDER]
            statuses: Counter[str] = Counter()
            step = "setting the target's upkeep aside"
            try:
                with dbmod.database.atomic():
                    # One snapshot of the source for the whole copy (a server's default isolation would let each
                    # batch see what was committed since the one before).
                    with reader.atomic(*(("REPEATABLE READ",) if is_url(source) else ())), \
                            _copy_upkeep(tables, statuses) as upkeep:
                        for model in COPY_ORDER:
                            step = model._meta.table_name
                            report.counts[step] = _copy_table(model, reader, batch_size, progress, statuses,
                                                              upkeep)
                        step = "the invitation delivery states"
                        if report.counts[OutboxMessage._meta.table_name]:
                            _restore_delivery_states(reader, batch_size)
                        step = "the counts, ranks and indexes made at the end"
                    step = "the id sequences"
                    _reset_sequences()
                    step = "the commit"
            except PortalError:
                raise
            except Exception as exc:
                if not dbmod.is_database_error(exc):
                    raise
                raise PortalError(f"db copy stopped at {step}: {_one_line(exc)}; nothing was copied, the target "
                                  f"{display_name(target)} is as it was") from None
            with clock.frozen(at):
                report.target_stats = portal.stats().as_dict()
        finally:
            dbmod.database.close()
    finally:
        reader.close()
    return report


def _one_line(exc: BaseException) -> str:
    """What went wrong, in one line: a constraint the target refused as the engine says it, else the engine's
    own words for people (a full disk, a busy file, a server gone)."""
    from models.db import database_error_message

    text = " ".join(str(exc).split())
    if isinstance(exc, peewee.IntegrityError) or type(exc).__name__ in ("IntegrityError", "UniqueViolation"):
        return text
    return " ".join((database_error_message(exc) or text).split())


def _open_reader(source: str) -> peewee.Database:
    """A second connection to the source, for reading while the shared database is the target: its engine's
    own database object, checked as `open_database` checks it, not bound to the models."""
    from models.db import SCHEMA_VERSION

    return backend_for(source).connect(source, create_folders=False, current=None, newest_schema=SCHEMA_VERSION)


def _copy_upkeep(tables: list[str], statuses: Counter[str]) -> AbstractContextManager:
    """What the target's engine sets aside while every row goes in and does once at the end: a server's own
    (`copy_upkeep`: its secondary indexes and per-row triggers, rebuilt and recounted); otherwise the contacts'
    insert upkeep, through the bulk path of the public `Backend` API (`_insert_upkeep_set_aside`)."""
    from models.db import backend

    upkeep = getattr(backend(), "copy_upkeep", None)
    return upkeep(tables) if upkeep is not None else _insert_upkeep_set_aside(statuses)


@contextmanager
def _insert_upkeep_set_aside(statuses: Counter[str]) -> Iterator[object]:
    """The contact table's insert triggers and secondary indexes set aside, its unique address index too
    (`Backend.suspend_insert_upkeep`, inside the copy's transaction; yielded for `_insert_contacts`, which fills the
    search index and ranks the contacts as they go in), then, once every row is in: the counts per status raised
    by `statuses` (filled by `_insert_contacts`), and the triggers and indexes made again as they were. Row by row
    (the per-row triggers), 100k contacts took 152 s. The other per-row counts (per expiry hour, per delivery
    state) stay with their triggers: they fire only for invited contacts, and cost little. An address two source
    contacts share stops the copy when its unique index is built (`_refuse_shared_addresses`). The indexes of
    `LOADED_BEFORE_INDEXED` are set aside and built at the end too."""
    from models.db import backend

    upkeep = backend().suspend_insert_upkeep()
    upkeep.suspend_indexes(unique=True)
    upkeep.suspend_table_indexes([model._meta.table_name for model in LOADED_BEFORE_INDEXED])
    yield upkeep
    try:
        upkeep.restore(inserted=sum(statuses.values()), after_id=0, status=dict(statuses), ranked=True)
    except peewee.IntegrityError:
        _refuse_shared_addresses()
        raise


LOADED_BEFORE_INDEXED = (MagicLink, AuditEntry, HandoffCode)
"""The big tables (besides the contacts) whose indexes a copy into SQLite sets aside and builds once at the end, the
unique ones too (a value two source rows share stops the copy there, in one line). Not the outbox: its triggers
look up each contact's other messages through its indexes."""


def _reset_sequences() -> None:
    """Rows went in with their ids: an engine that hands out ids from sequences (a server) must continue after
    the largest (SQLite's next id is always the largest plus one)."""
    from models.db import backend, database

    reset = getattr(backend(), "reset_sequences", None)
    if reset is not None:
        reset(database.obj, [model._meta.table_name for model in COPY_ORDER
                             if isinstance(model._meta.primary_key, peewee.AutoField)])


def _refuse_non_empty(target: str) -> None:
    found = [model._meta.table_name for model in COPY_ORDER if model.select().exists()]
    if found:
        raise PortalError(f"the target {display_name(target)} is not empty (it has rows in {', '.join(found)}): "
                          "db copy writes only into an empty database")


def _batches(model: type[peewee.Model], reader: peewee.Database, fields: list[peewee.Field],
             batch_size: int, *, stored: bool = False) -> Iterator[list[tuple]]:
    """The source's rows of `model` in primary-key order, `batch_size` at a time (keyset: each query starts after
    the last key seen, so a batch costs the same at the end of a million rows as at the start). `stored`: each
    value as the source's driver returns it, without Peewee's conversion to Python's types."""
    key = model._meta.primary_key
    position = fields.index(key)
    last = None
    while True:
        query = model.select(*fields).order_by(key).limit(batch_size)
        if last is not None:
            query = query.where(key > last)
        if stored:
            rows = reader.execute_sql(*query.bind(reader).sql()).fetchall()
        else:
            rows = list(query.bind(reader).tuples())
        if not rows:
            return
        yield rows
        if len(rows) < batch_size:
            return
        last = rows[-1][position]


def _copy_table(model: type[peewee.Model], reader: peewee.Database, batch_size: int,
                progress: Callable[[str, int], None] | None, statuses: Counter[str], upkeep: object) -> int:
    """Every row of `model` from the source into the target, a batch in memory at a time, each value as the
    source stores it (every type here has one stored form both engines read: `COPY_STORED_FORMS`): through the
    target engine's bulk loader where it has one (a server's COPY), else the contacts through the engine's bulk
    insert and every other table in one prepared statement per batch. (A server's timestamps come as naive UTC
    datetimes, which SQLite's driver stores as Peewee's own writes do: the same text as the file's own rows.)"""
    from models.db import backend

    fields = list(model._meta.sorted_fields)
    table = model._meta.table_name
    columns = [f.column_name for f in fields]
    stored = _reported(_batches(model, reader, fields, batch_size, stored=True), table, progress)
    load = getattr(backend(), "copy_table_rows", None)
    if load is not None:
        return load(table, columns, stored)
    if model is Contact:
        return _insert_contacts(stored, fields, statuses, _ranks_in_name_order(reader, batch_size, upkeep))
    return _insert_rows(table, fields, stored)


def _insert_rows(table: str, fields: Sequence[peewee.Field], batches: Iterator[list[tuple]]) -> int:
    """Every batch into `table` with one prepared statement (Peewee's `insert_many` builds SQL text per row). A
    server's timestamps come as naive UTC datetimes, which the driver stores as Peewee's own writes do (SQLite's
    adapter: the same text as the file's own rows)."""
    from models.db import database

    columns = [f.column_name for f in fields]
    sql = 'INSERT INTO "{}" ({}) VALUES ({})'.format(
        table, ", ".join(f'"{c}"' for c in columns), ", ".join([database.param] * len(columns)))
    cursor = database.cursor()
    copied = 0
    for rows in batches:
        cursor.executemany(sql, rows)
        copied += len(rows)
    return copied


NAME_ORDER_FIELDS = (Contact.id, Contact.last_name, Contact.first_name, Contact.email, Contact.company,
                     Contact.search_text)
"""What the search index is filled from, read in name order (last name, first name, id: `listing`'s name order)."""


def _ranks_in_name_order(reader: peewee.Database, batch_size: int, upkeep) -> Callable[[int], int | None]:
    """Fill the target's search index from the source's contacts read in name order, and give each contact's
    rank by id (`InsertUpkeep.index_in_name_order`), for `_insert_contacts` to write with its row: no ranking
    afterwards (an UPDATE rewriting every contact row) and no sort for the fill. The order is by code point on
    both engines (SQLite's own, a server's `COLLATE "C"`), as the target's ranks follow it; keyset batches through
    the source's names index, which keys on the same order."""
    low, high, count = Contact.select(peewee.fn.MIN(Contact.id), peewee.fn.MAX(Contact.id),
                                      peewee.fn.COUNT(Contact.id)).bind(reader).tuples()[0]
    if not count:
        return lambda contact_id: None
    collate = "" if isinstance(reader, peewee.SqliteDatabase) else ' COLLATE "C"'
    order = f'"last_name"{collate}, "first_name"{collate}, "id"'
    columns = ", ".join(f'"{f.column_name}"' for f in NAME_ORDER_FIELDS)
    first_batch = f'SELECT {columns} FROM "contact" ORDER BY {order} LIMIT {int(batch_size)}'
    next_batch = (f'SELECT {columns} FROM "contact" WHERE ({order}) > ({", ".join([reader.param] * 3)}) '
                  f'ORDER BY {order} LIMIT {int(batch_size)}')

    def batches() -> Iterator[list[tuple[int, str]]]:
        rows = reader.execute_sql(first_batch).fetchall()
        while rows:
            yield [(contact_id, text or search_text(first, last, email, company))
                   for contact_id, last, first, email, company, text in rows]
            if len(rows) < batch_size:
                return
            contact_id, last, first = rows[-1][:3]
            rows = reader.execute_sql(next_batch, (last, first, contact_id)).fetchall()

    return upkeep.index_in_name_order(batches(), range(low, high + 1), count).__getitem__


def _insert_contacts(batches: Iterator[list[tuple]], fields: Sequence[peewee.Field],
                     statuses: Counter[str], rank_of: Callable[[int], int | None]) -> int:
    """Every contact through the engine's bulk insert (`Backend.bulk_insert_contacts`, inside
    `_insert_upkeep_set_aside`), each with its name rank (`rank_of` its id), counting them by status for the one
    count made at the end. The search text goes with each row (the trigger that fills in an empty one is set
    aside). That insert skips a row the target refuses (an id another contact has, a value missing): any skipped
    row ends the copy, in one line."""
    from models.db import backend

    engine = backend()
    columns = [f.column_name for f in fields]
    status, text = columns.index(Contact.status.column_name), columns.index(Contact.search_text.column_name)
    parts = [columns.index(f.column_name) for f in (Contact.first_name, Contact.last_name, Contact.email,
                                                     Contact.company)]
    key = columns.index(Contact.id.column_name)
    copied = 0
    for rows in batches:
        if any(row[text] == "" for row in rows):
            rows = [row if row[text] != "" else (*row[:text], search_text(*(row[at] for at in parts)),
                                                 *row[text + 1:]) for row in rows]
        statuses.update(row[status] for row in rows)
        inserted = engine.bulk_insert_contacts([(*row, rank_of(row[key])) for row in rows], [*columns, RANK_COLUMN])
        if inserted != len(rows):
            _refused_contacts(rows, key, columns.index(Contact.email.column_name))
        copied += len(rows)
    return copied


RANK_COLUMN = "name_rank"
"""SQLite's column for a contact's place in name order (schema v8; no field of `Contact`: the engine's own)."""


def _refused_contacts(rows: list[tuple], key: int, email: int) -> None:
    """Raise the one line for a batch of contacts the target did not take all of (see `_insert_contacts`)."""
    ids = [row[key] for row in rows]
    taken = set(Contact.select(Contact.id).where(Contact.id.between(min(ids), max(ids))).tuples())
    refused = [(row[key], row[email]) for row in rows if (row[key],) not in taken]
    _refuse(refused or [(rows[0][key], rows[0][email])], len(refused) or "some")


def _refuse_shared_addresses() -> None:
    """Raise the one line for the contacts whose address an earlier contact (by id) has, when the unique address
    index, set aside while the contacts went in, refuses to be built again; nothing if none does (another
    constraint refused)."""
    from models.db import database

    shared = database.execute_sql(
        'SELECT "id", "email" FROM (SELECT "id", "email", row_number() OVER (PARTITION BY "email" ORDER BY "id") '
        'AS "k" FROM "contact") WHERE "k" > 1 ORDER BY "id"').fetchall()
    if shared:
        _refuse(shared, len(shared))


def _refuse(refused: list[tuple[int, str]], count: int | str) -> None:
    contact_id, email = refused[0]
    raise PortalError(
        f"the target refused {count} of the source's contacts (an address or id another contact has, or a value "
        f"missing), the first #{contact_id} {email!r}: nothing was copied"
    )


def _reported(batches: Iterator[list[tuple]], table: str,
              progress: Callable[[str, int], None] | None) -> Iterator[list[tuple]]:
    """`batches`, with `progress(table, rows so far)` called once each has been taken in."""
    copied = 0
    for rows in batches:
        yield rows
        copied += len(rows)
        if progress is not None:
            progress(table, copied)


def _restore_delivery_states(reader: peewee.Database, batch_size: int) -> None:
    """Give each contact the invitation delivery state it has in the source.

    Copying the outbox fires the target's delivery triggers, which derive the state from the contact's latest
    email; the source's state can differ from that (a link an admin was shown sets "no mail"). Updating the column
    also keeps the target's counts per delivery state right, through its own triggers."""
    last = 0
    while True:
        source_rows = list(
            Contact.select(Contact.id, Contact.invite_delivery).where(Contact.id > last).order_by(Contact.id)
            .limit(batch_size).bind(reader).tuples()
        )
        if not source_rows:
            return
        first, last = source_rows[0][0], source_rows[-1][0]
        target_states = dict(
            Contact.select(Contact.id, Contact.invite_delivery).where(Contact.id.between(first, last)).tuples()
        )
        wrong: dict[str | None, list[int]] = {}
        for contact_id, state in source_rows:
            if target_states.get(contact_id, state) != state:
                wrong.setdefault(state, []).append(contact_id)
        for state, ids in wrong.items():
            for start in range(0, len(ids), MAX_PARAMETERS):
                Contact.update(invite_delivery=state).where(Contact.id.in_(ids[start:start + MAX_PARAMETERS])).execute()
        if len(source_rows) < batch_size:
            return


__all__ = ["COPY_ORDER", "CopyReport", "copy_database", "display_name", "is_url"]
