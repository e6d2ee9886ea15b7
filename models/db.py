"""The one database every model lives in, how it is opened, and how its schema grows, whatever the engine.

`database` (from `models.base`) is a `peewee.DatabaseProxy`: the CLI, the dashboard and the tests each call
`open_database(url_or_path)`, which picks the engine (`models.backends.backend_for`: an SQLite file, or a
PostgreSQL URL), lets it check and open the target, initialises the proxy with its database and brings the schema
up to date. Everything engine-specific is in `models.backends`; this module asks the current backend
(`backend()`), so the rest of `models/` reads as plain Peewee.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar

import peewee

from models.backends import Backend, backend_for, is_server_url
from models.base import database
from models.errors import DatabaseBusy, DiskFull, PortalError

__all__ = [
    "APP_NAME", "BUSY_TIMEOUT_MS", "SCHEMA_VERSION", "DiskFull", "backend", "changes_token",
    "connection_in_transaction", "data_dir_for", "database", "database_error_message", "default_database_path",
    "interrupt", "is_database_error", "is_disk_full", "retry_busy",
    "migrate", "open_database", "page_cache", "query_handle", "schema_version", "wait_for_change", "write_lock",
    "sender_transaction", "write_transaction",
]

BUSY_TIMEOUT_MS = 10_000
"""How long a write waits for another admin's write to finish before `write_transaction` retries (milliseconds)."""

SCHEMA_VERSION = 10
"""The schema this code writes (the same numbers on every engine; each backend records it its own way)."""

APP_NAME = "client-portal"

T = TypeVar("T")

_backend: list[Backend | None] = [None]
"""The backend of the database `open_database` opened last."""


def backend() -> Backend:
    """The engine the shared database runs on (the one `open_database` picked)."""
    current = _backend[0]
    if current is None:
        raise PortalError("no database is open")
    return current


def default_database_path() -> Path | str:
    """The database used when `--db` names none: `CLIENT_PORTAL_DB` (a path or a PostgreSQL URL), else the file
    in the user data dir."""
    env = os.environ.get("CLIENT_PORTAL_DB")
    if env:
        return env.strip() if is_server_url(env) else Path(env).expanduser()
    from platformdirs import user_data_dir  # only here: it costs the dashboard's start-up 20 ms otherwise

    return Path(user_data_dir(APP_NAME, appauthor=False)) / "client-portal.db"


def data_dir_for(db_path: Path | str) -> Path:
    """The folder beside the database where local state (the Maildir) lives; for a server, the user data dir."""
    if is_server_url(db_path):
        from platformdirs import user_data_dir

        return Path(user_data_dir(APP_NAME, appauthor=False))
    return Path(db_path).expanduser().resolve().parent


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether `exc` (or an error in its chain) says the disk or the database is full."""
    from models.backends.sqlite.database import is_disk_full as sqlite_full

    current = _backend[0]
    return current.is_full(exc) if current is not None else sqlite_full(exc)


ORM_MODULES = ("peewee",)
"""Where the ORM's errors are defined: every engine's errors come through it, or straight from its driver."""


def is_database_error(exc: BaseException) -> bool:
    """Whether `exc` is the database's (the ORM's or the engine driver's, known by the module that defines it): a
    caller outside `models/` tells it from an error of its own without importing either."""
    current = _backend[0]
    modules = ORM_MODULES + (tuple(current.error_modules) if current is not None else ())
    return any(cls.__module__.split(".")[0] in modules for cls in type(exc).__mro__)


def database_error_message(exc: BaseException) -> str | None:
    """One line for people about a database error (busy, full, unreachable, not a database); None for any other
    error."""
    current = _backend[0]
    if current is None:
        from models.backends.sqlite.database import describe_error

        return describe_error(exc)
    return current.describe_error(exc)


def open_database(path: Path | str, *, create_folders: bool = False) -> peewee.Database:
    """Point `database` at `path` (an SQLite file, or a `postgresql://` URL) after checking it, create it if new,
    and bring its schema up to date.

    Nothing is changed before the checks pass: a file that is not an SQLite database, or one written by a newer
    client-portal, is refused as it was found (no chmod, no WAL switch). An SQLite file is never created through a
    symbolic link, and a path that is one is refused (so a link planted in a shared folder cannot redirect it).

    Args:
        path: The SQLite file, or the server's URL.
        create_folders: Create the file's folder (0700) when missing: for the default path in the user data dir.
            An explicit path in a folder that does not exist is a typo, and an error.

    Returns:
        The (now initialised) engine database the shared proxy points at.

    Raises:
        PortalError: the target cannot be used; nothing was changed.
    """
    chosen = backend_for(path)
    current = database.obj
    try:
        db = chosen.connect(path, create_folders=create_folders, current=current, newest_schema=SCHEMA_VERSION)
    except peewee.DatabaseError as exc:
        if chosen.is_full(exc):
            raise DiskFull() from exc
        raise PortalError(f"cannot open {_shown(path)}: {exc}") from exc
    if current is not None and current is not db and not current.is_closed():
        current.close()
    database.initialize(db)
    _backend[0] = chosen
    try:
        migrate()
    except peewee.DatabaseError as exc:
        db.close()
        if chosen.is_full(exc):
            raise DiskFull() from exc
        raise PortalError(f"cannot open {_shown(path)}: {exc}") from exc
    chosen.after_open(path)
    return db


def _shown(target: Path | str) -> str:
    """A target as messages name it: a path expanded, a URL without its password."""
    if not is_server_url(target):
        return str(Path(target).expanduser())
    from urllib.parse import urlsplit

    parts = urlsplit(str(target))
    if parts.password:
        return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()
    return str(target)


def schema_version() -> int:
    """The schema version recorded in the open database."""
    return backend().schema_version(database)


def migrate() -> None:
    """Run every upgrade between the database's version and `SCHEMA_VERSION`, each in one transaction."""
    engine = backend()
    current = engine.schema_version(database.obj)
    if current > SCHEMA_VERSION:
        raise PortalError(
            f"the database was written by a newer client-portal (schema {current}, this one knows {SCHEMA_VERSION})"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        with engine.write_lock(database):
            engine.upgrade(database.obj, version)
            engine.set_schema_version(database.obj, version)


def write_lock():
    """A transaction holding the right to write from its start (SQLite: `BEGIN IMMEDIATE`)."""
    return backend().write_lock(database)


def connection_in_transaction() -> bool:
    """Whether this thread's connection is inside a transaction, as the engine sees it (`Backend.
    connection_in_transaction`: SQLite ends one by itself on a full disk, where Peewee still counts it open)."""
    return backend().connection_in_transaction()


def page_cache(kib: int):
    """The engine's page cache on this thread's connection set to `kib` for the block (SQLite's `cache_size`; a
    no-op where the engine has none)."""
    return backend().page_cache(kib)


def changes_token() -> Hashable:
    """A value that changes whenever another connection commits (`Backend.changes_token`); cheap to read."""
    return backend().changes_token()


def wait_for_change(token: Hashable, timeout: float) -> Hashable:
    """Wait up to `timeout` seconds for another connection's change; the current token (`token` if none)."""
    return backend().wait_for_change(token, timeout)


def query_handle() -> object:
    """This thread's connection, for `interrupt` to stop its running query from another thread."""
    return backend().query_handle()


def interrupt(handle: object) -> None:
    """Stop the query running on `handle` (its thread gets an error)."""
    backend().interrupt(handle)


def write_transaction(func: Callable[..., T]) -> Callable[..., T]:
    """Run `func` in one write transaction (SQLite: `BEGIN IMMEDIATE`), retrying while another admin holds the
    write lock.

    IMMEDIATE takes the write lock up front, so SQLite's busy timeout applies; a deferred transaction that reads
    and then writes can fail at once with "database is locked" when another writer got in between. If the lock is
    still held after all retries the caller gets `DatabaseBusy`, a `PortalError` with a message for people. A full
    disk gives `DiskFull`: the whole transaction was undone, so nothing of it was saved.
    """
    return _transaction(func, shared=False)


def sender_transaction(func: Callable[..., T]) -> Callable[..., T]:
    """`write_transaction` for the outbox sender's own steps (claim, outcome, link issued at send time,
    heartbeat), each of which writes only rows it locks itself (`Backend.claim_rows`, `Backend.lock_row`, a
    row guarded by its claimer): on a server several of them run at once, while every other write still
    excludes them all (`Backend.write_lock(shared=True)`). On SQLite it is `write_transaction`."""
    return _transaction(func, shared=True)


def _transaction(func: Callable[..., T], *, shared: bool) -> Callable[..., T]:
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if database.in_transaction():
            return func(*args, **kwargs)
        engine = backend()

        def attempt():
            with engine.write_lock(database, shared) if shared else engine.write_lock(database):
                return func(*args, **kwargs)

        return retry_busy(attempt)

    return wrapper


def retry_busy(attempt: Callable[[], T]) -> T:
    """Run `attempt` (a whole write transaction), again while another admin holds the write lock, as
    `write_transaction` does: `DatabaseBusy` once retrying has gone on too long, `DiskFull` for a full disk."""
    engine = backend()
    delay = 0.05
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000 * 3
    while True:
        try:
            return attempt()
        except peewee.OperationalError as exc:
            if engine.is_full(exc):
                raise DiskFull() from exc
            if not engine.is_busy(exc):
                raise
            if time.monotonic() > deadline:
                raise DatabaseBusy(
                    "the database is busy: another admin is writing to it; try again in a moment"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
