"""SQLite, the embedded default: one file, nothing to install. Everything SQLite-specific lives in this package:

- `database`: the file checks before SQLite opens a file, the pragmas, the rollback fix, what its errors mean;
- `schema`: the upgrades (`PRAGMA user_version`), the FTS5 trigram index and the triggers that keep the search
  column and the counts;
- `search`: the search planner (trigram index, walks along the sort index, `INDEXED BY`);
- `bulk`: the CSV import's `INSERT OR IGNORE` and its triggers and indexes set aside.

`SqliteBackend` is the `models.backends.Backend` these make up.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import peewee

from models.backends import NewLink
from models.backends.sqlite import bulk, search
from models.backends.sqlite import database as sqlite_db
from models.backends.sqlite import schema
from models.base import database


_INSERT_LINK_IF_UNCHANGED = (
    'INSERT INTO "magic_link" ("contact_id", "purpose", "token_hash", "created_at", "created_by", "expires_at", '
    '"channel") SELECT "id", ?, ?, ?, ?, ?, ? FROM "contact" WHERE "id" = ? AND "status" = ? AND "email" = ?'
)
_SUPERSEDE_OLDER = (
    'UPDATE "magic_link" SET "superseded_at" = ? WHERE "contact_id" = ? AND "purpose" = ? AND "channel" = ? '
    'AND "used_at" IS NULL AND "revoked_at" IS NULL AND "superseded_at" IS NULL AND "id" != ?'
)
_INVITE_EXPIRES = (
    'UPDATE "contact" SET "invite_expires_at" = (SELECT MAX("expires_at") FROM "magic_link" '
    """WHERE "contact_id" = "contact"."id" AND "purpose" = 'invite' AND "used_at" IS NULL AND "revoked_at" IS NULL """
    'AND "superseded_at" IS NULL) WHERE "id" = ?'
)
"""The contact's invitation lapses with the last of their open invitation links (one per channel at most)."""
_AUDIT_INSERT = (
    'INSERT INTO "audit_entry" ("at", "actor", "host", "action", "contact_id", "subject", "detail") '
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class SqliteBackend:
    """The `Backend` for an SQLite file (see `models.backends.Backend` for each method's contract)."""

    name = "sqlite"
    error_modules = ("sqlite3",)

    POLL_SECONDS = 0.05
    """How often `wait_for_change` reads `PRAGMA data_version` (SQLite has no way to be told)."""

    def connect(self, target: str | Path, *, create_folders: bool, current: peewee.Database | None,
                newest_schema: int) -> peewee.Database:
        path = Path(target).expanduser()
        if str(path) != ":memory:":
            sqlite_db.prepare_file(path, create_folders, newest_schema)
        # The same object is pointed at the new file, so a thread holding a connection to the old one (the
        # dashboard's reader) sees `db.database` change and reconnects.
        db = current if isinstance(current, sqlite_db.PortalDatabase) else sqlite_db.PortalDatabase(None)
        if not db.is_closed():
            db.close()
        db.init(str(path), pragmas=sqlite_db.PRAGMAS, timeout=sqlite_db.BUSY_TIMEOUT_MS / 1000,
                check_same_thread=False)
        db.connect(reuse_if_open=True)
        return db

    def after_open(self, target: str | Path) -> None:
        for suffix in ("-wal", "-shm"):
            side = Path(str(Path(target).expanduser()) + suffix)
            if side.exists():
                sqlite_db.owner_only(side)

    def schema_version(self, db: peewee.Database) -> int:
        return db.execute_sql("PRAGMA user_version").fetchone()[0]

    def set_schema_version(self, db: peewee.Database, version: int) -> None:
        db.execute_sql(f"PRAGMA user_version = {int(version)}")

    def upgrade(self, db: peewee.Database, version: int) -> None:
        schema.UPGRADES[version](db)

    def write_lock(self, db: peewee.Database, shared: bool = False):
        return db.atomic("IMMEDIATE")  # one writer at a time, whichever: SQLite has no shared write

    def connection_in_transaction(self) -> bool:
        return database.connection().in_transaction

    # --- the contact list

    def search_window(self, query, offset: int, limit: int, *, count: bool):
        return search.search_window(query, offset, limit, count=count)

    def count(self, query) -> int:
        return search.count(query)

    def matching_ids(self, query) -> list[int]:
        return search.matching_ids(query)

    def keep_name_order(self) -> None:
        """Rank the contacts the triggers could not (`schema.place_unranked`), in the caller's transaction."""
        schema.place_unranked(database)

    # --- bulk import

    def bulk_insert_contacts(self, rows: Sequence[tuple], columns: Sequence[str]) -> int:
        return bulk.insert_contacts(rows, columns)

    def suspend_insert_upkeep(self) -> bulk.InsertUpkeep:
        return bulk.InsertUpkeep()

    # --- writes

    def non_ascii_addresses(self) -> Iterable[str]:
        rows = database.execute_sql("SELECT email FROM contact WHERE email GLOB '*[^ -~]*' OR email LIKE '%xn--%'")
        return [email for (email,) in rows]

    def insert_returning_id(self, sql: str, params: Sequence[Any]) -> int | None:
        cursor = database.execute_sql(sql, params)
        return cursor.lastrowid if cursor.rowcount == 1 else None

    def insert_link(self, link: NewLink) -> int | None:
        """One statement per step (SQLite runs them in-process: there is no round trip to save)."""
        cursor = database.execute_sql(_INSERT_LINK_IF_UNCHANGED, (
            link.purpose, link.token_hash, link.created_at, link.created_by, link.expires_at, link.channel,
            link.contact_id, link.status, link.email))
        if cursor.rowcount != 1:
            return None
        link_id = cursor.lastrowid
        database.execute_sql(_SUPERSEDE_OLDER, (link.created_at, link.contact_id, link.purpose, link.channel, link_id))
        if link.purpose == "invite":
            database.execute_sql(_INVITE_EXPIRES, (link.contact_id,))
        database.execute_sql(_AUDIT_INSERT, link.audit)
        return link_id

    def insert_link_transaction(self, link: NewLink, also: Sequence[tuple[str, Sequence[Any]]] = ()) -> int | None:
        with nullcontext() if database.in_transaction() else self.write_lock(database, shared=True):
            link_id = self.insert_link(link)
            for sql, params in also:
                database.execute_sql(sql, params)
            return link_id

    def due_outbox_ids(self, sql: str, params: Sequence[Any]) -> list[int]:
        return [row[0] for row in self.claim_rows(sql, params)]

    def claim_rows(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        # The claim's BEGIN IMMEDIATE already keeps every other writer out until it commits.
        return list(database.execute_sql(sql, params))

    def lock_row(self, table: str, row_id: int) -> None:
        """Nothing: the IMMEDIATE transaction already holds the whole file."""

    db_time = staticmethod(bulk.db_time)

    def page_cache(self, kib: int):
        return sqlite_db.page_cache(database, kib)

    # --- changes and interrupts

    def changes_token(self) -> Hashable:
        """`PRAGMA data_version`: changes whenever another connection commits to the file."""
        return database.execute_sql("PRAGMA data_version").fetchone()[0]

    def wait_for_change(self, token: Hashable, timeout: float) -> Hashable:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            current = self.changes_token()
            if current != token or time.monotonic() >= deadline:
                return current
            time.sleep(min(self.POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def query_handle(self) -> object:
        return database.connection()

    def interrupt(self, handle: object) -> None:
        handle.interrupt()  # sqlite3.Connection.interrupt: the running statement raises "interrupted"

    # --- errors

    is_busy = staticmethod(sqlite_db.is_busy)
    is_full = staticmethod(sqlite_db.is_disk_full)
    describe_error = staticmethod(sqlite_db.describe_error)
