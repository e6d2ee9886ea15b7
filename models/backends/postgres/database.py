"""PostgreSQL's side of opening a database: the Peewee database on psycopg 3, the write lock, and what the server's
errors mean for people (each one line: unreachable, authentication failed, database missing, busy, full).

The domain modules write their plain SQL once, with SQLite's `?` placeholders; `PostgresDatabase.execute_sql`
turns those into psycopg's `%s` (and doubles a literal `%`), so the same statement runs on both engines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import peewee

from models.errors import DiskFull

CONNECT_TIMEOUT_S = 5
"""How long to wait for the server before saying it cannot be reached."""

LOCK_TIMEOUT_MS = 10_000
"""How long a statement waits for another admin's lock before failing as busy (SQLite's busy timeout)."""

WRITE_LOCK = 0x636C6970  # "clip"
"""The advisory lock every write transaction takes first: what SQLite's `BEGIN IMMEDIATE` gives for free. The
domain's writes read, then write (supersede a contact's open links, then insert the new one); one writer at a time
keeps their promises on a server that several hosts share, as the single writer does on SQLite. Readers (the
dashboards, the portal's pages) never wait for it.

The outbox sender's transactions take it in shared mode instead (`write_lock(shared=True)`), so several senders
write at once, and every other write still excludes them all (and they it). Among themselves they stay safe
because each one writes only rows it has locked itself: a claim locks the rows it takes `FOR UPDATE SKIP LOCKED`
(another sender's are passed over), every later change of a row is guarded by `claimed_by` = this sender, issuing
a link locks its contact's row first (`lock_row`), the counters' triggers add to a row under its row lock, and
the heartbeat is one upsert."""

_SQLITE_LOCK_TYPES = {"DEFERRED", "IMMEDIATE", "EXCLUSIVE"}

SHARED_WRITE = "SHARED_WRITE"
"""The lock type (`database.atomic(SHARED_WRITE)`) of a transaction that takes the write lock shared."""

_QMARK_RE = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|\?|%""")


def to_pyformat(sql: str) -> str | None:
    """`sql` written with `?` placeholders as psycopg wants it (`%s`, and `%%` for a literal `%`), or None when
    it has no `?` outside quotes (Peewee's own SQL, already in psycopg's style)."""
    if "?" not in sql:
        return None
    found = False

    def swap(match: re.Match) -> str:
        nonlocal found
        token = match.group(0)
        if token == "?":
            found = True
            return "%s"
        if token == "%":
            return "%%"
        return token.replace("%", "%%")

    converted = _QMARK_RE.sub(swap, sql)
    return converted if found else None


class PostgresDatabase(peewee.PostgresqlDatabase):
    """Peewee's PostgreSQL database on psycopg 3, taking the domain modules' `?` SQL and SQLite's lock types.

    Peewee writes its own SQL with `?` too (`param`): SQL text a module builds once and keeps (a prepared lookup)
    is then the same on both engines, and the cursor turns every `?` into psycopg's `%s`."""

    param = "?"

    def __init__(self, url: str | None = None, **kwargs: Any) -> None:
        super().__init__(url, **connect_options(kwargs))

    def init(self, database, **kwargs):
        super().init(database, **connect_options(kwargs))

    def _connect(self):
        conn = super()._connect()
        # Naive timestamps are UTC (UTCDateTimeField): the session says so, so casts and now() agree on every host.
        conn.execute(f"SET TIME ZONE 'UTC'; SET lock_timeout = {LOCK_TIMEOUT_MS}")
        conn.cursor_factory = _qmark_cursor()
        return conn

    def conflict_update(self, oc, query):
        """SQLite's `INSERT OR REPLACE` (Peewee's `on_conflict_replace()`, as the settings are stored) as an upsert
        on the primary key that sets every other column from the new row: what REPLACE leaves in the table."""
        if (oc._action or "").lower() in ("replace", "upsert"):
            meta = query.model._meta
            oc = peewee.OnConflict(conflict_target=(meta.primary_key,),
                                   preserve=[f for f in meta.sorted_fields if f is not meta.primary_key])
        return super().conflict_update(oc, query)

    def begin(self, lock_type: str | None = None) -> None:
        """BEGIN; for SQLite's IMMEDIATE/EXCLUSIVE (code written for SQLite), also take the write lock, and for
        SHARED_WRITE (`write_lock(shared=True)`) take it shared: in the same round trip as the BEGIN."""
        mode = str(lock_type).upper() if lock_type is not None else None
        if mode in _SQLITE_LOCK_TYPES or mode == SHARED_WRITE:
            sql = "BEGIN" if mode == "DEFERRED" else f"BEGIN; SELECT {_lock_function(mode == SHARED_WRITE)}"
            with peewee.__exception_wrapper__:
                self.cursor().execute(sql)
            return
        super().begin(lock_type)


def _adapt(query, params):
    """A statement and its parameters as psycopg takes them: `?` placeholders made `%s`; with no parameters,
    none at all (psycopg would read a literal `%` as a placeholder)."""
    if not isinstance(query, str):
        return query, params
    converted = to_pyformat(query)
    if converted is not None:
        return converted, params
    return query, (params if params else None)


_cursor_class: list[type] = []


def _qmark_cursor() -> type:
    """psycopg's cursor, taking the `?` SQL every module writes once for both engines (`to_pyformat`): Peewee's
    `execute_sql` and a module's own `database.cursor().executemany(...)` alike."""
    if not _cursor_class:
        import psycopg

        class QmarkCursor(psycopg.Cursor):
            def execute(self, query, params=None, **kwargs):
                query, params = _adapt(query, params)
                return super().execute(query, params, **kwargs)

            def executemany(self, query, params_seq, **kwargs):
                if isinstance(query, str):
                    query = to_pyformat(query) or query
                return super().executemany(query, params_seq, **kwargs)

        _cursor_class.append(QmarkCursor)
    return _cursor_class[0]


def bind_driver() -> None:
    """Give Peewee the psycopg it did not import (see `models`' docstring): the module and the names Peewee
    took from it at import, and its psycopg 3 adapter's transaction states, which it sets only when psycopg was
    there. Does nothing once bound, or where Peewee imported psycopg itself."""
    if getattr(peewee, "psycopg", None) is not None:
        return
    import psycopg
    from psycopg.pq import TransactionStatus
    from psycopg.types.json import Json, Jsonb

    peewee.psycopg, peewee.TransactionStatus, peewee.Json_pg3, peewee.Jsonb_pg3 = (
        psycopg, TransactionStatus, Json, Jsonb)
    adapter = getattr(peewee, "Psycopg3Adapter", None)
    if adapter is not None:
        adapter.txn_idle = TransactionStatus.IDLE
        adapter.txn_inerror = TransactionStatus.INERROR
        adapter.txn_unknown = TransactionStatus.UNKNOWN


def connect_options(kwargs: dict) -> dict:
    bind_driver()  # before Peewee picks its adapter (in `init`), which it does by whether psycopg is there
    kwargs.setdefault("prefer_psycopg3", True)
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    kwargs.setdefault("application_name", "client-portal")
    return kwargs


def _lock_function(shared: bool) -> str:
    return f"pg_advisory_xact_lock{'_shared' if shared else ''}({WRITE_LOCK})"


def take_write_lock(db: peewee.Database, shared: bool = False) -> None:
    """Take the write lock for the rest of this transaction: exclusive, or shared with other senders (WRITE_LOCK)."""
    db.cursor().execute(f"SELECT {_lock_function(shared)}")


def write_lock(db: peewee.Database, shared: bool = False):
    """A transaction that holds the write lock from its start, exclusive or `shared` (see WRITE_LOCK), taken with
    the BEGIN in one round trip. A `commit()` or `rollback()` in the block begins the next transaction the same
    way, holding the lock again (a plan that runs the real operation and rolls it back, say)."""
    return db.atomic(SHARED_WRITE if shared else "IMMEDIATE")


# -- errors ---------------------------------------------------------------------------------------------------

BUSY_STATES = {"55P03", "40P01", "40001"}
"""lock_not_available (the lock timeout ran out), deadlock_detected, serialization_failure: worth retrying."""

FULL_STATES = {"53100", "53200", "54000"}
"""disk_full, out_of_memory, program_limit_exceeded."""


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen = 0
    while exc is not None and seen < 10:
        yield exc
        for arg in getattr(exc, "args", ()):
            if isinstance(arg, BaseException):
                yield arg
        exc = exc.__cause__ or exc.__context__
        seen += 1


def sqlstate(exc: BaseException | None) -> str | None:
    """The server's SQLSTATE for `exc` (Peewee wraps psycopg's error), or None."""
    for link in _chain(exc):
        state = getattr(link, "sqlstate", None)
        if state:
            return state
    return None


def is_busy(exc: BaseException) -> bool:
    return sqlstate(exc) in BUSY_STATES


def is_full(exc: BaseException | None) -> bool:
    if sqlstate(exc) in FULL_STATES:
        return True
    return any("no space left on device" in str(link).lower() for link in _chain(exc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _where(url: str) -> tuple[str, int, str | None, str]:
    parts = urlsplit(url)
    user = unquote(parts.username) if parts.username else None
    name = unquote(parts.path.lstrip("/")) or user or "postgres"
    return parts.hostname or "localhost", parts.port or 5432, user, name


def connect_error_message(exc: BaseException, url: str) -> str:
    """One line for why the server at `url` could not be used (psycopg's own text runs to several lines)."""
    text = " ".join(str(link) for link in _chain(exc)).lower()
    host, port, user, name = _where(url)
    if "authentication failed" in text or "no password supplied" in text:
        who = f"user {user!r}" if user else "the user"
        return (f"the PostgreSQL server at {host}:{port} refused {who}: authentication failed; check the user and "
                "password in the URL")
    if "database" in text and "does not exist" in text:
        return (f"the database {name!r} does not exist on the PostgreSQL server at {host}:{port}: create it "
                f"(createdb {name}) or check the URL")
    if "role" in text and "does not exist" in text:
        return f"the PostgreSQL server at {host}:{port} has no user {user!r}: create the role or check the URL"
    if "permission denied for database" in text or "not permitted to log in" in text:
        return f"the PostgreSQL server at {host}:{port} does not let {user!r} connect to {name!r}: {_first_line(exc)}"
    if any(sign in text for sign in _UNREACHABLE):
        return (f"cannot reach the PostgreSQL server at {host}:{port}: is it running, and are the host and port "
                "right?")
    return f"cannot connect to the PostgreSQL server at {host}:{port}: {_first_line(exc)}"


_UNREACHABLE = ("connection refused", "timeout expired", "timed out", "could not translate host name",
                "no route to host", "network is unreachable", "name or service not known", "no such file or directory",
                "could not connect", "server closed the connection")


def describe_error(exc: BaseException, url: str = "") -> str | None:
    """One line for people about an error of the server; None for an error that is not a database's."""
    import psycopg

    if not isinstance(exc, (peewee.DatabaseError, psycopg.Error)):
        return None
    if is_full(exc):
        return DiskFull.MESSAGE
    if is_busy(exc):
        return "the database is busy (another admin is writing); try again in a moment"
    state = sqlstate(exc) or ""
    if state.startswith("08") or (state == "" and isinstance(exc, peewee.OperationalError)
                                   and "connection" in str(exc).lower()):
        host, port, _, _ = _where(url) if url else ("the server", 0, None, "")
        where = f"{host}:{port}" if port else host
        return f"lost the connection to the PostgreSQL server at {where}: {_first_line(exc)}"
    return f"database: {_first_line(exc)}"
