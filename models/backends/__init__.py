"""The database engines client-portal runs on, behind one small interface: `Backend`.

Each engine has one home: `models.backends.sqlite` (the embedded default, one file) and `models.backends.postgres`
(a shared server, for a team). Everything that differs between them (how a database is opened, its schema and
upgrades, how a search is planned, how a bulk import sets aside its index upkeep, how due mail is claimed, how an
inserted row's id is returned, how another connection's changes are noticed, how a running query is stopped, and
what an engine's errors mean for people) is a method here. The domain modules (`models/*.py`) call these through
`models.db.backend()`, write plain Peewee or SQL both engines read the same way, and hold no engine-specific SQL;
`tui/`, `mail/` and `portal/` hold none at all.

`open_database(url_or_path)` in `models.db` picks the backend with `backend_for`: a `postgresql://` (or
`postgres://`) URL is a server, anything else is the path of an SQLite file. The backend's modules are imported
only then, so a user of SQLite never loads a PostgreSQL driver.

Contract every backend keeps:
- `connect` returns a Peewee `Database` that `models.base.database` (a `DatabaseProxy`) is then initialised with;
  connections are per thread, as Peewee makes them.
- Schema versions are the same numbers on every engine (`models.db.SCHEMA_VERSION`); `upgrade(db, version)`
  brings a database from `version - 1` to `version`, inside the transaction `models.db.migrate` opens.
- The search methods take a `models.listing.ContactQuery` and return exactly what the SQLite planner returns for
  it: the same rows in the same order, the same totals (the tests compare them with a full sort in Python).
- A method that writes runs inside the caller's transaction (`models.db.write_transaction`); none commits.
- The domain modules' SQL text is written once for every engine: `?` placeholders, double-quoted identifiers,
  `ON CONFLICT`, `RETURNING`, no engine functions. A backend whose driver takes another placeholder style
  translates `?` in its Peewee database's `execute_sql` (outside quoted text); anything that cannot be written
  once is a method here.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import peewee

if TYPE_CHECKING:  # the types only: the interface imports nothing of the domain at run time
    from models.listing import ContactPage, ContactQuery

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
"""How a `--db` / `CLIENT_PORTAL_DB` value names a PostgreSQL server rather than an SQLite file."""


def is_server_url(target: str | Path) -> bool:
    """Whether `target` names a database server (a PostgreSQL URL) rather than an SQLite file."""
    return isinstance(target, str) and target.strip().lower().startswith(POSTGRES_SCHEMES)


@dataclass(frozen=True)
class NewLink:
    """A magic link to store, for `Backend.insert_link`: its row (the token's hash, never the token), the contact's
    status and address as the caller read them (the link goes in only if the stored row still has both), and the
    audit entry that records it (`models.audit.entry_values`). Timestamps are naive UTC (`models.base.to_db_time`)."""

    contact_id: int
    status: str
    email: str
    purpose: str
    token_hash: str
    created_at: datetime
    created_by: str
    expires_at: datetime
    channel: str
    audit: tuple
    """(at, actor, host, action, contact id, subject, detail)."""


@runtime_checkable
class InsertUpkeep(Protocol):
    """What a bulk import set aside of the contact table's per-row upkeep (triggers, secondary indexes), to do
    once for all its rows at the end. Made by `Backend.suspend_insert_upkeep`, inside the import's transaction."""

    def suspend_indexes(self) -> None:
        """Also set aside the secondary indexes (not the UNIQUE one on email, which finds duplicates): for an
        import that will more than double the table."""

    def restore(self, *, inserted: int, after_id: int, status: str | Mapping[str, int]) -> None:
        """Do the set-aside work for the `inserted` contacts with ids above `after_id` (all of status `status`, or
        as many of each status as the mapping says): counts, search index; then put the triggers and indexes back
        exactly as they were."""


@runtime_checkable
class Backend(Protocol):
    """One database engine. `models.db` holds the current one (`models.db.backend()`)."""

    name: str
    """`sqlite` or `postgresql`: what `stats --json` and error messages call the engine."""

    error_modules: tuple[str, ...]
    """The top-level modules whose exceptions are this engine's driver's (`sqlite3`; `psycopg`): with the ORM's,
    what `models.db.is_database_error` counts as the database's."""

    # --- opening and the schema -----------------------------------------------------------------------------

    def connect(self, target: str | Path, *, create_folders: bool, current: peewee.Database | None,
                newest_schema: int) -> peewee.Database:
        """Check `target`, and return the Peewee database for it with this thread connected. `current` is what
        the proxy holds now (a backend may re-initialise its own object, so other threads notice the switch).
        Refuses, changing nothing, a target that is not a client-portal database or whose schema is newer than
        `newest_schema`.

        Raises:
            PortalError: with one line for people (unreachable, refused, not ours, too new).
        """

    def after_open(self, target: str | Path) -> None:
        """Whatever the engine does once the schema is current (SQLite: tighten the -wal/-shm files' mode)."""

    def schema_version(self, db: peewee.Database) -> int:
        """The schema version recorded in the database (0: empty)."""

    def set_schema_version(self, db: peewee.Database, version: int) -> None:
        """Record `version`, in the upgrade's transaction."""

    def upgrade(self, db: peewee.Database, version: int) -> None:
        """Bring the schema from `version - 1` to `version` (1: create it)."""

    def write_lock(self, db: peewee.Database, shared: bool = False) -> AbstractContextManager:
        """A transaction that holds the right to write from its start (SQLite: `BEGIN IMMEDIATE`; a server: an
        advisory lock). `shared`: the outbox sender's transactions, which write only rows they lock themselves
        (`claim_rows`, `lock_row`), so an engine may let several run at once while every other write waits
        (SQLite: still one writer at a time)."""

    def connection_in_transaction(self) -> bool:
        """Whether this thread's connection is inside a transaction, as the engine sees it (SQLite ends one by
        itself on some errors, a full disk say, where Peewee still counts it open)."""

    # --- the contact list ---------------------------------------------------------------------------------------

    def search_window(self, query: ContactQuery, offset: int, limit: int, *, count: bool) -> ContactPage:
        """One window of the contacts matching `query` (search words, status filter, sort), and their total;
        with `count` false the total may be a lower bound (`ContactPage.exact` false)."""

    def count(self, query: ContactQuery) -> int:
        """How many contacts match `query`."""

    def matching_ids(self, query: ContactQuery) -> list[int]:
        """The ids of every contact matching `query` (any order)."""

    # --- bulk import ------------------------------------------------------------------------------------------

    def bulk_insert_contacts(self, rows: Sequence[tuple], columns: Sequence[str]) -> int:
        """Insert many contact rows (values in `columns` order) in one prepared statement, skipping any whose
        address is a contact already; returns how many went in."""

    def suspend_insert_upkeep(self) -> InsertUpkeep:
        """Set aside the per-row insert upkeep of the contact table for a bulk import (see `InsertUpkeep`)."""

    # --- writes that need the engine's help ----------------------------------------------------------------------

    def non_ascii_addresses(self) -> Iterable[str]:
        """Every contact address with a character outside printable ASCII or an IDNA label (`xn--`): what
        `models.lookalike` compares a new address with (one scan of the contact table)."""

    def insert_returning_id(self, sql: str, params: Sequence[Any]) -> int | None:
        """Run an `INSERT ... VALUES` or `INSERT ... SELECT` of one row (no RETURNING clause: the backend adds
        what it needs) and return the new row's id, or None when it inserted nothing."""

    def insert_link(self, link: NewLink) -> int | None:
        """In the caller's transaction, which holds the contact's row (`lock_row`): insert `link` if the contact's
        stored row still has `link.status` and `link.email`; and then supersede the contact's older open links of
        its purpose and channel, for an invitation set the contact's `invite_expires_at` to the last of their open
        invitation links, and append `link.audit`. Returns the new link's id, or None with nothing written."""

    def insert_link_transaction(self, link: NewLink, also: Sequence[tuple[str, Sequence[Any]]] = ()) -> int | None:
        """`lock_row` of the link's contact, `insert_link(link)`, then the statements `also` (whatever they find,
        their results unread), as one sender transaction of its own (`write_lock(shared=True)`; in the caller's,
        if one is open). The outbox sender's step between two emails: a server gets it all at once, in one round
        trip. Errors are Peewee's, as a `write_lock` block raises them (`models.db.retry_busy` retries a busy one);
        nothing of a transaction that failed stays."""

    def due_outbox_ids(self, sql: str, params: Sequence[Any]) -> list[int]:
        """Run the outbox's "due rows" SELECT (ids, ordered, with its LIMIT) so that no other sender can take the
        same rows before this transaction ends (SQLite: the IMMEDIATE transaction already excludes every other
        writer; PostgreSQL: `FOR UPDATE SKIP LOCKED`)."""

    def claim_rows(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        """`due_outbox_ids`, returning whole rows: run a SELECT of outbox rows so that no other sender can take
        the same rows before this transaction ends (rows another sender holds are left out)."""

    def lock_row(self, table: str, row_id: int) -> None:
        """Hold `table`'s row `row_id` against other writers until this transaction ends (a shared write
        transaction's way to read a row, then write for it, safely; SQLite: nothing to do)."""

    @staticmethod
    def db_time(value: datetime) -> Any:
        """A timestamp as a bulk statement passes it (what the driver's adapter would make of it)."""

    def page_cache(self, kib: int) -> AbstractContextManager:
        """This connection's page cache set to `kib` for the block (a no-op where the engine has none)."""

    # --- other connections' changes, and stopping a query ---------------------------------------------------------

    def changes_token(self) -> Hashable:
        """A value that changes whenever another connection commits a change (cheap: no table is read)."""

    def wait_for_change(self, token: Hashable, timeout: float) -> Hashable:
        """Wait up to `timeout` seconds for `changes_token()` to differ from `token`; return the current token
        (equal to `token` if nothing changed). SQLite polls; a server is told (LISTEN/NOTIFY)."""

    def query_handle(self) -> object:
        """This thread's connection, as something `interrupt` can stop a query on from another thread."""

    def interrupt(self, handle: object) -> None:
        """Stop the query running on `handle` (it raises an error in its thread); nothing if none runs."""

    # --- errors ---------------------------------------------------------------------------------------------------

    def is_busy(self, exc: BaseException) -> bool:
        """Whether `exc` says another connection holds a lock we wait for (worth retrying)."""

    def is_full(self, exc: BaseException | None) -> bool:
        """Whether `exc` (or an error it was raised while handling) says the disk or database is full."""

    def describe_error(self, exc: BaseException) -> str | None:
        """One line for people about an error of this engine (busy, full, unreachable, not a database); None
        for an error that is not the engine's."""


def backend_for(target: str | Path) -> Backend:
    """The backend for a `--db` value: PostgreSQL for a `postgresql://` URL, else SQLite (a file path)."""
    if is_server_url(target):
        from models.backends import postgres  # only for a server: SQLite users never import the driver

        return postgres.PostgresBackend()
    from models.backends import sqlite

    return sqlite.SqliteBackend()

