"""PostgreSQL, for a team whose admins share one database server (`--db postgresql://user@host:port/db`).
Everything PostgreSQL-specific lives in this package:

- `database`: the Peewee database on psycopg 3 (taking the domain's `?` SQL), the write lock, what the server's
  errors mean for people;
- `schema`: the tables, the `pg_trgm` GIN index, the plpgsql triggers that keep the search text, the counts and
  the invitation delivery state, a NOTIFY per committed change, the version table and its upgrades;
- `search`: a `ContactQuery` in plain SQL, in SQLite's order.

`PostgresBackend` is the `models.backends.Backend` these make up; here too: outbox claims `FOR UPDATE SKIP
LOCKED`, the sender's step between two emails in one pipelined round trip (`insert_link_transaction`),
`INSERT ... RETURNING id`, bulk import with `COPY`, change notification with `LISTEN`, and cancelling a
running query (`pg_cancel_backend`, through psycopg's `cancel`).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import peewee

from models.backends import NewLink
from models.backends.postgres import schema, search
from models.backends.postgres import database as pg_db
from models.base import database
from models.errors import PortalError


class ChangeListener:
    """A connection of its own that LISTENs on `schema.CHANGES_CHANNEL`, read by a daemon thread: `count()` moves
    whenever any client committed a change to a portal table (as SQLite's `PRAGMA data_version` does, but the
    server tells us: nothing is polled), and `wait(token, timeout)` sleeps until it moves.

    If the connection drops (the server restarted), `problem` says so in one line and `wait` raises it (at once,
    waking whoever waits), while the thread connects again; once it has, the count moves (what was announced
    meanwhile was missed, so whoever waits should look again). If the database itself is gone, the thread ends
    and `wait` keeps raising; `_listener` then makes a new listener on the next use."""

    RECHECK_S = 0.5
    """How often the reading thread looks up from the socket to see whether it should stop."""

    RECONNECT_S = 1.0
    """The pause before connecting again after the connection dropped."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._changed = threading.Condition()
        self._count = 0
        self._stop = threading.Event()
        self.problem = ""
        """Why nothing can be announced now (the connection dropped), in one line; empty while listening."""
        self._conn = self._listen()  # the first connection is made here, so a bad URL fails in the caller
        self._thread = threading.Thread(target=self._run, name="client-portal-listen", daemon=True)
        self._thread.start()

    def _listen(self):
        import psycopg

        conn = psycopg.connect(self._url, autocommit=True, connect_timeout=pg_db.CONNECT_TIMEOUT_S,
                               application_name="client-portal listen")
        conn.execute(f"LISTEN {schema.CHANGES_CHANNEL}")
        return conn

    def _bump(self, n: int = 1) -> None:
        with self._changed:
            self._count += n
            self.problem = ""
            self._changed.notify_all()

    def _lost(self, exc: BaseException, reconnecting: bool) -> None:
        if reconnecting:
            line = pg_db.connect_error_message(exc, self._url)
        else:
            host, port, _, _ = pg_db._where(self._url)
            line = f"lost the connection to the PostgreSQL server at {host}:{port}"
        with self._changed:
            self.problem = line
            self._changed.notify_all()  # whoever waits hears of it now, not at its timeout

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._conn is None:
                    self._conn = self._listen()
                    self._bump()
                for _ in self._conn.notifies(timeout=self.RECHECK_S):
                    self._bump()
                    if self._stop.is_set():
                        break
            except Exception as exc:  # noqa: BLE001 - the server went away: connect again after a pause
                reconnecting = self._conn is None
                if not self._stop.is_set():
                    self._lost(exc, reconnecting)
                if reconnecting and "does not exist" in str(exc):
                    break  # the database itself is gone: nothing will be announced on it again
                conn, self._conn = self._conn, None
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001
                        pass
                self._stop.wait(self.RECONNECT_S)
        if self._conn is not None:
            self._conn.close()

    @property
    def alive(self) -> bool:
        """Whether the reading thread still runs (it ends when the database is gone, or on `close`)."""
        return self._thread.is_alive()

    def count(self) -> int:
        """How many change notifications came so far."""
        with self._changed:
            return self._count

    def wait(self, token: int, timeout: float) -> int:
        """Wait up to `timeout` seconds for the count to move past `token`; return the count. Raises PortalError
        (one line) while the connection is lost, or when it drops during the wait."""
        with self._changed:
            self._changed.wait_for(lambda: self._count != token or bool(self.problem), timeout=max(0.0, timeout))
            if self.problem and self._count == token:
                raise PortalError(self.problem)
            return self._count

    def close(self) -> None:
        self._stop.set()
        self._thread.join(self.RECHECK_S * 4)


_LISTENERS: dict[str, ChangeListener] = {}
"""This process's listening connection, by URL (one at a time: opening another database closes the others')."""
_LISTENERS_LOCK = threading.Lock()


def _listener(url: str) -> ChangeListener:
    with _LISTENERS_LOCK:
        found = _LISTENERS.get(url)
        if found is None or not found.alive:  # a listener whose database went away: try a new one
            found = _LISTENERS[url] = ChangeListener(url)
        return found


def close_listeners(keep: str | None = None) -> None:
    """Stop the listening connections (but the one for `keep`)."""
    with _LISTENERS_LOCK:
        for url in [url for url in _LISTENERS if url != keep]:
            _LISTENERS.pop(url).close()


class InsertUpkeep:
    """The contact table's per-row triggers (search text, counts) switched off inside the import's transaction,
    then its counts raised once for all the rows and the triggers switched back on (a rollback undoes both).
    The trigram index stays: PostgreSQL's GIN index takes a bulk load well (its pending list), and dropping it
    would lock every dashboard out of the table until the import commits."""

    TRIGGERS = schema.INSERT_TRIGGERS

    def __init__(self) -> None:
        for name in self.TRIGGERS:
            database.execute_sql(f'ALTER TABLE contact DISABLE TRIGGER "{name}"')

    def suspend_indexes(self) -> None:
        """Nothing more to set aside on PostgreSQL (see the class docstring)."""

    def restore(self, *, inserted: int, after_id: int, status: str | Mapping[str, int]) -> None:
        if inserted:
            database.execute_sql(
                f"UPDATE contact SET search_text = {schema.SEARCH_TEXT.format(p='')} "
                "WHERE id > ? AND search_text = ''", (after_id,))  # the search trigger makes the key too
            if not isinstance(status, str) or status == "invited":
                schema.recount(database)  # invitations are counted by expiry and delivery too: count them all
            else:
                database.execute_sql(
                    "INSERT INTO contact_status_count AS c (status, n) VALUES (?, ?) "
                    "ON CONFLICT (status) DO UPDATE SET n = c.n + excluded.n", (status, inserted))
        for name in self.TRIGGERS:
            database.execute_sql(f'ALTER TABLE contact ENABLE TRIGGER "{name}"')


COPY_SUSPENDED_TRIGGERS = {
    "contact": ("contact_search_insert", "contact_count_insert", "contact_count_change"),
    "outbox_message": ("outbox_delivery",),
}
"""The row triggers `db copy` sets aside (`PostgresBackend.copy_upkeep`): the search text and key are written with
each row (`copy_table_rows`), the counts are recomputed once at the end, and each contact's invitation delivery
state is the source's own (the trigger would derive it from the outbox rows as they go in)."""

COPY_MAINTENANCE_WORK_MEM = "256MB"
"""The server memory each index rebuilt at the end of `db copy` may sort in (the server's, not ours; for this
transaction only): the trigram index of a million contacts builds several times faster than in the default 64MB."""


class PostgresBackend:
    """The `Backend` for a PostgreSQL server (see `models.backends.Backend` for each method's contract)."""

    name = "postgresql"
    error_modules = ("psycopg",)

    def __init__(self) -> None:
        self.url = ""

    # --- opening and the schema

    def connect(self, target: str | Path, *, create_folders: bool, current: peewee.Database | None,
                newest_schema: int) -> peewee.Database:
        url = str(target).strip()
        db = current if isinstance(current, pg_db.PostgresDatabase) else pg_db.PostgresDatabase(None)
        if not db.is_closed():
            db.close()
        db.init(url)
        try:
            db.connect(reuse_if_open=True)
        except peewee.DatabaseError as exc:
            raise PortalError(pg_db.connect_error_message(exc, url)) from None
        try:
            # In this order: another client creating the schema commits its tables and its version together, so
            # once its contact table shows, its version shows too. Read the other way round, its commit could fall
            # between the two reads (version 0, then a contact table) and its schema be taken for a stranger's.
            tables = schema.has_tables(db)
            version = schema.schema_version(db)
            if version == 0 and tables:
                raise PortalError(f"the database {pg_db._where(url)[3]!r} already holds a table named contact that "
                                  "is not client-portal's; use an empty database")
        except peewee.DatabaseError as exc:
            db.close()
            raise PortalError(pg_db.describe_error(exc, url) or str(exc)) from None
        except PortalError:
            db.close()
            raise
        if version > newest_schema:
            db.close()
            raise PortalError(f"the database was written by a newer client-portal (schema {version}, this one "
                              f"knows {newest_schema}); nothing was changed")
        self.url = url
        close_listeners(keep=url)
        return db

    def after_open(self, target: str | Path) -> None:
        """Nothing to tighten on a server (its access is the server's roles)."""

    def schema_version(self, db: peewee.Database) -> int:
        return schema.schema_version(_obj(db))

    def set_schema_version(self, db: peewee.Database, version: int) -> None:
        schema.set_schema_version(_obj(db), version)

    def upgrade(self, db: peewee.Database, version: int) -> None:
        schema.upgrade(_obj(db), version)

    def write_lock(self, db: peewee.Database, shared: bool = False):
        return pg_db.write_lock(db, shared)

    def connection_in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return database.connection().info.transaction_status != TransactionStatus.IDLE

    # --- the contact list

    def search_window(self, query, offset: int, limit: int, *, count: bool):
        return search.search_window(query, offset, limit, count=count)

    def count(self, query) -> int:
        return search.count_matches(query)

    def matching_ids(self, query) -> list[int]:
        return search.matching_ids(query)

    # --- bulk import

    def bulk_insert_contacts(self, rows: Sequence[tuple], columns: Sequence[str]) -> int:
        """COPY the rows into a temporary table, then one INSERT ... SELECT of the first row of each address not a
        contact yet, in the rows' order: what SQLite's `INSERT OR IGNORE` leaves, with the same ids. A skipped row
        takes no id (an `ON CONFLICT DO NOTHING` alone would draw one from the sequence for it), and the ids carry
        on from the largest one, as SQLite's do: the import tells its rows apart by id (`models.csv_io`)."""
        columns = list(columns)
        if "search_text" in columns and schema.SEARCH_KEY not in columns:  # the insert trigger is set aside
            at = columns.index("search_text")
            rows = [(*row, schema.search_key(row[at])) for row in rows]
            columns.append(schema.SEARCH_KEY)
        names = ", ".join(f'"{name}"' for name in columns)
        database.execute_sql("DROP TABLE IF EXISTS contact_import")
        database.execute_sql(f"CREATE TEMP TABLE contact_import AS SELECT {names} FROM contact WITH NO DATA")
        database.execute_sql("ALTER TABLE contact_import ADD COLUMN import_order BIGSERIAL")
        copy_rows(database, "contact_import", columns, rows)
        reset_sequence(database, "contact")
        inserted = database.execute_sql(
            f"INSERT INTO contact ({names}) SELECT {names} FROM ("
            f"SELECT DISTINCT ON (email) {names}, import_order FROM contact_import ORDER BY email, import_order"
            ") AS first WHERE NOT EXISTS (SELECT 1 FROM contact AS c WHERE c.email = first.email) "
            "ORDER BY import_order ON CONFLICT (email) DO NOTHING"
        ).rowcount
        database.execute_sql("DROP TABLE contact_import")
        return inserted

    def non_ascii_addresses(self) -> Iterable[str]:
        rows = database.execute_sql("SELECT email FROM contact WHERE email ~ '[^ -~]' OR email LIKE '%xn--%'")
        return [email for (email,) in rows]

    def suspend_insert_upkeep(self) -> InsertUpkeep:
        return InsertUpkeep()

    # --- writes

    def insert_returning_id(self, sql: str, params: Sequence[Any]) -> int | None:
        row = database.execute_sql(f"{sql.rstrip().rstrip(';')} RETURNING id", params).fetchone()
        return row[0] if row else None

    def insert_link(self, link: NewLink) -> int | None:
        """One statement (`_INSERT_LINK`), where four took a round trip each."""
        row = database.execute_sql(*_insert_link(link)).fetchone()
        return row[0] if row else None

    def insert_link_transaction(self, link: NewLink, also: Sequence[tuple[str, Sequence[Any]]] = ()) -> int | None:
        """BEGIN with the shared write lock, the contact's row lock, `insert_link`, `also` and COMMIT, sent in one
        pipeline (psycopg's pipeline mode): one round trip to the server, where they took seven.

        The row lock stays a statement of its own, before the insert: a statement sees the rows committed when it
        starts, so only one that starts after the lock is granted sees the link another sender committed for the
        same contact meanwhile, and supersedes it. If any statement fails, the server skips the rest (the COMMIT
        too) and the transaction is rolled back here."""
        if database.in_transaction():
            self.lock_row("contact", link.contact_id)
            link_id = self.insert_link(link)
            for sql, params in also:
                database.execute_sql(sql, params)
            return link_id
        conn = database.connection()
        try:
            with peewee.__exception_wrapper__:
                with conn.pipeline():
                    conn.execute("BEGIN")
                    conn.execute(f"SELECT {pg_db._lock_function(True)}", prepare=True)
                    conn.execute(_LOCK_CONTACT, (link.contact_id,), prepare=True)
                    inserted = conn.execute(*_insert_link(link), prepare=True)
                    for sql, params in also:
                        conn.execute(sql, params, prepare=True)
                    conn.execute("COMMIT")
                row = inserted.fetchone()
        except BaseException:
            _roll_back(conn)
            raise
        return row[0] if row else None

    def due_outbox_ids(self, sql: str, params: Sequence[Any]) -> list[int]:
        return [row[0] for row in self.claim_rows(sql, params)]

    def claim_rows(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        # Rows another sender is claiming right now are passed over, not waited for: several senders on several
        # hosts take different rows at the same time, and never the same one. A row another sender changed
        # after this statement began is read as that sender left it (the server checks the WHERE again).
        return list(database.execute_sql(f"{sql.rstrip()} FOR UPDATE SKIP LOCKED", params))

    def lock_row(self, table: str, row_id: int) -> None:
        """Hold `table`'s row `row_id` until this transaction ends: a sender's transaction (which runs beside
        other senders', see `database.WRITE_LOCK`) locks the contact it reads, then writes for."""
        database.execute_sql(f'SELECT 1 FROM "{table}" WHERE "id" = ? FOR UPDATE', (row_id,))

    @staticmethod
    def db_time(value: datetime) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def page_cache(self, kib: int):
        return nullcontext()  # the server's shared buffers are the server's business

    @contextmanager
    def copy_upkeep(self, tables: Sequence[str]) -> Iterator[None]:
        """For `db copy` into this (empty) database, inside its transaction: the secondary indexes of `tables`
        dropped and the row triggers set aside (COPY_SUSPENDED_TRIGGERS) while every row goes in, then each index
        built once from all the rows (a sort, not a million B-tree and GIN inserts), every count made once, the
        triggers back on, and the tables analyzed: search plans by the planner's statistics (`search._sliced`), which
        a new table has none of until autovacuum's first pass. A failure rolls all of it back with the rows."""
        indexes = _secondary_indexes(database, tables)
        for name, _ in indexes:
            database.execute_sql(f'DROP INDEX "{name}"')
        suspended = [(table, name) for table in tables for name in COPY_SUSPENDED_TRIGGERS.get(table, ())]
        for table, name in suspended:
            database.execute_sql(f'ALTER TABLE "{table}" DISABLE TRIGGER "{name}"')
        yield
        database.execute_sql(f"SET LOCAL maintenance_work_mem = '{COPY_MAINTENANCE_WORK_MEM}'")
        # The name order's index first: the contacts are stored in its order before the other indexes are built
        # (`schema.store_in_name_order`), so the rewrite rebuilds only it and the primary key.
        indexes.sort(key=lambda index: index[0] != schema.NAME_ORDER_INDEX)
        for name, definition in indexes:
            database.execute_sql(definition)
            if name == schema.NAME_ORDER_INDEX:
                schema.store_in_name_order(database)
        schema.recount(database)
        for table, name in suspended:
            database.execute_sql(f'ALTER TABLE "{table}" ENABLE TRIGGER "{name}"')
        for table in tables:
            database.execute_sql(f'ANALYZE "{table}"')

    def copy_table_rows(self, table: str, columns: Sequence[str], batches: Iterable[Sequence[tuple]]) -> int:
        """For `db copy`, inside `copy_upkeep`: every row of `table` (batches of values in `columns` order, as
        Peewee would bind them) in one COPY stream, a batch in memory at a time; returns how many. A contact's
        search text and key are made here, as the suspended search trigger would make them."""
        columns = list(columns)
        rows: Iterable[Sequence[Any]] = (row for batch in batches for row in batch)
        if table == "contact":
            rows, columns = _with_search_columns(rows, columns)
        return copy_rows(database, table, columns, rows)

    def reset_sequences(self, db: peewee.Database, tables: Sequence[str]) -> None:
        """After rows went in with their own ids (`db copy`): each table's id sequence continues past its
        largest id. (SQLite needs nothing: its next id is always the largest plus one.)"""
        for table in tables:
            reset_sequence(db, table)

    # --- changes and interrupts

    def _changes(self) -> ChangeListener:
        return _listener(self.url)

    def changes_token(self) -> Hashable:
        """How many NOTIFYs of a committed change this process's listening connection has had."""
        return self._changes().count()

    def wait_for_change(self, token: Hashable, timeout: float) -> Hashable:
        """Sleeps until the server announces a commit (see `ChangeListener.wait`); raises PortalError in one line
        while the server cannot be listened to."""
        return self._changes().wait(token, timeout)  # type: ignore[arg-type]

    def query_handle(self) -> object:
        return database.connection()

    def interrupt(self, handle: object) -> None:
        """Ask the server to cancel what `handle` runs (`pg_cancel_backend`): its query raises QueryCanceled."""
        cancel = getattr(handle, "cancel_safe", None) or handle.cancel  # type: ignore[attr-defined]
        try:
            cancel()
        except Exception:  # noqa: BLE001 - the connection closed meanwhile: there is nothing to stop
            pass

    def close(self) -> None:
        """Stop this process's listening connection (it is made again when next needed)."""
        close_listeners()

    # --- errors

    is_busy = staticmethod(pg_db.is_busy)
    is_full = staticmethod(pg_db.is_full)

    def describe_error(self, exc: BaseException) -> str | None:
        return pg_db.describe_error(exc, self.url)


_LOCK_CONTACT = 'SELECT 1 FROM "contact" WHERE "id" = ? FOR UPDATE'

_INSERT_LINK = (
    'WITH new AS ('
    'INSERT INTO magic_link (contact_id, purpose, token_hash, created_at, created_by, expires_at, channel) '
    'SELECT id, ?, ?, ?, ?, ?, ? FROM contact WHERE id = ? AND status = ? AND email = ? RETURNING id), '
    'older AS ('
    'UPDATE magic_link SET superseded_at = ? WHERE contact_id = ? AND purpose = ? AND channel = ? '
    'AND used_at IS NULL AND revoked_at IS NULL AND superseded_at IS NULL AND EXISTS (SELECT 1 FROM new)), '
    '{expiry}'
    'entry AS ('
    'INSERT INTO audit_entry (at, actor, host, action, contact_id, subject, detail) '
    'SELECT ?, ?, ?, ?, ?, ?, ? FROM new) '
    'SELECT id FROM new'
)
"""`Backend.insert_link` in one statement. Its parts see the table as it was when the statement began: the UPDATE
does not see the new link (so it supersedes only the older ones), and `expiry` reckons the new link's expiry
with the open invitation links of the other channel (what is left open once the older one of this channel is
superseded)."""
_INVITE_EXPIRY = (
    'expiry AS ('
    'UPDATE contact SET invite_expires_at = GREATEST(?::timestamp, (SELECT MAX(expires_at) FROM magic_link '
    "WHERE contact_id = ? AND purpose = 'invite' AND channel <> ? AND used_at IS NULL AND revoked_at IS NULL "
    'AND superseded_at IS NULL)) WHERE id = ? AND EXISTS (SELECT 1 FROM new)), '
)
_INSERT_LOGIN_LINK = _INSERT_LINK.format(expiry="")
_INSERT_INVITE_LINK = _INSERT_LINK.format(expiry=_INVITE_EXPIRY)


def _insert_link(link: NewLink) -> tuple[str, tuple]:
    """`_INSERT_LINK` for `link`, and its parameters."""
    params = (link.purpose, link.token_hash, link.created_at, link.created_by, link.expires_at, link.channel,
              link.contact_id, link.status, link.email,
              link.created_at, link.contact_id, link.purpose, link.channel)
    if link.purpose == "invite":
        return _INSERT_INVITE_LINK, (*params, link.expires_at, link.contact_id, link.channel, link.contact_id,
                                     *link.audit)
    return _INSERT_LOGIN_LINK, (*params, *link.audit)


def _roll_back(conn: Any) -> None:
    """End the transaction a failed pipeline left open (its COMMIT was skipped), if the connection still works."""
    from psycopg.pq import TransactionStatus

    try:
        if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            conn.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - the connection is gone: the server ended the transaction with it
        pass


def _obj(db: Any) -> peewee.Database:
    return getattr(db, "obj", None) or db


def copy_rows(db: Any, table: str, columns: Sequence[str], rows) -> int:
    """Load `rows` into `table` with COPY (one stream for the lot) on this thread's connection, inside the
    caller's transaction; returns how many."""
    names = ", ".join(f'"{name}"' for name in columns)
    count = 0
    with db.cursor() as cursor, cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _secondary_indexes(db: Any, tables: Sequence[str]) -> list[tuple[str, str]]:
    """(name, CREATE statement) of each index of `tables` that no constraint owns (the primary keys stay)."""
    if not tables:
        return []
    rows = db.execute_sql(
        "SELECT i.indexname, i.indexdef FROM pg_indexes AS i "
        "WHERE i.schemaname = current_schema() AND i.tablename IN ({}) AND NOT EXISTS ("
        "SELECT 1 FROM pg_constraint AS c WHERE c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass) "
        "ORDER BY i.tablename, i.indexname".format(", ".join("?" * len(tables))), tuple(tables))
    return [(name, definition) for name, definition in rows]


def _with_search_columns(rows: Iterable[Sequence[Any]], columns: list[str]):
    """Contact rows with the search text the search trigger writes (`models.entities.search_text`) and its key,
    for a load that sets that trigger aside."""
    from models.entities import search_text

    at = {name: columns.index(name) for name in ("first_name", "last_name", "email", "company", "search_text")}
    first, last, email, company, text = (at[name] for name in
                                         ("first_name", "last_name", "email", "company", "search_text"))
    key = schema.search_key

    def fill():
        for row in rows:
            row = list(row)
            row[text] = search_text(row[first], row[last], row[email], row[company])
            row.append(key(row[text]))
            yield row

    return fill(), [*columns, schema.SEARCH_KEY]


def reset_sequence(db: Any, table: str, column: str = "id") -> None:
    """Move `table`'s id sequence past its largest id (after rows were loaded with their own ids)."""
    db.execute_sql(
        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), "
        f'COALESCE((SELECT MAX("{column}") FROM "{table}"), 0) + 1, false)'
    )

