"""`client-portal db copy`: a whole database into an empty one, between a SQLite file and a PostgreSQL server.

This is how a team moves from one host's file to a shared server (and back). Every table of `models.entities` is
copied with its ids, in batches read by primary key (keyset, never OFFSET), so memory stays flat at a million
contacts. The target is written through the same models, so its own triggers build what they keep (search index,
counts per status, per expiry hour, per delivery state); the one value those triggers may set differently from the
source (a contact's invitation delivery state, which an admin's shown link also sets) is put back from the source
afterwards. The whole copy is one transaction on the target: a failure leaves it empty, so the copy can be run
again. Afterwards the target's `stats` must equal the source's, and `copy_database` checks that itself.

Plain Peewee only: what an engine must do differently (opening, bulk loading, sequences) is asked of its backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
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
            with dbmod.database.atomic():
                # One snapshot of the source for the whole copy (a server's default isolation would let each
                # batch see what was committed since the one before).
                with reader.atomic(*(("REPEATABLE READ",) if is_url(source) else ())), _copy_upkeep(tables):
                    for model in COPY_ORDER:
                        report.counts[model._meta.table_name] = _copy_table(model, reader, batch_size, progress)
                    if report.counts[OutboxMessage._meta.table_name]:
                        _restore_delivery_states(reader, batch_size)
                _reset_sequences()
            with clock.frozen(at):
                report.target_stats = portal.stats().as_dict()
        finally:
            dbmod.database.close()
    finally:
        reader.close()
    return report


def _open_reader(source: str) -> peewee.Database:
    """A second connection to the source, for reading while the shared database is the target: its engine's
    own database object, checked as `open_database` checks it, not bound to the models."""
    from models.db import SCHEMA_VERSION

    return backend_for(source).connect(source, create_folders=False, current=None, newest_schema=SCHEMA_VERSION)


def _copy_upkeep(tables: list[str]) -> AbstractContextManager:
    """What the target's engine sets aside while every row goes in and does once at the end (a server: its
    secondary indexes and per-row triggers, rebuilt and recounted); nothing for SQLite, whose triggers keep up
    row by row."""
    from models.db import backend

    upkeep = getattr(backend(), "copy_upkeep", None)
    return upkeep(tables) if upkeep is not None else nullcontext()


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
                progress: Callable[[str, int], None] | None) -> int:
    """Every row of `model` from the source into the target, a batch in memory at a time: through the target
    engine's bulk loader where it has one (a server's COPY), else in multi-row INSERTs."""
    from models.db import backend

    fields = list(model._meta.sorted_fields)
    table = model._meta.table_name
    load = getattr(backend(), "copy_table_rows", None)
    if load is not None:
        # The values go as the source stores them, not through Peewee's types and back (which cost most of the
        # time): every type here has one text form both engines read (`COPY_STORED_FORMS`).
        stored = _batches(model, reader, fields, batch_size, stored=True)
        return load(table, [f.column_name for f in fields], _reported(stored, table, progress))
    batches = _reported(_batches(model, reader, fields, batch_size), table, progress)
    per_insert = max(1, MAX_PARAMETERS // len(fields))
    copied = 0
    for rows in batches:
        for start in range(0, len(rows), per_insert):
            model.insert_many(rows[start:start + per_insert], fields=fields).execute()
        copied += len(rows)
    return copied


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
