"""The one SQLite database every model lives in, how it is opened, and how its schema grows.

The database object is deferred (`SqliteDatabase(None)`): the CLI, the dashboard and the tests each call
`open_database(path)` with the file they want. Everything SQLite-specific (pragmas, `user_version`, the
busy handling) stays in this module so the rest of `models/` reads as plain Peewee.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import peewee

from models.errors import DatabaseBusy, PortalError

database = peewee.SqliteDatabase(None)
"""The deferred database every model binds to; `open_database` points it at a file."""

BUSY_TIMEOUT_MS = 10_000
"""How long SQLite waits for another admin's write to finish before giving up (milliseconds)."""

PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": BUSY_TIMEOUT_MS,
    "synchronous": "normal",
    "cache_size": -16_000,
}

SCHEMA_VERSION = 7
"""The schema this code writes; stored in `PRAGMA user_version`."""

APP_NAME = "client-portal"

T = TypeVar("T")


def default_database_path() -> Path:
    """The database file used when neither `--db` nor `CLIENT_PORTAL_DB` names one."""
    env = os.environ.get("CLIENT_PORTAL_DB")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir  # only here: it costs the dashboard's start-up 20 ms otherwise

    return Path(user_data_dir(APP_NAME, appauthor=False)) / "client-portal.db"


def data_dir_for(db_path: Path | str) -> Path:
    """The folder beside the database where local state (the Maildir) lives."""
    return Path(db_path).expanduser().resolve().parent


def open_database(path: Path | str) -> peewee.SqliteDatabase:
    """Point `database` at `path`, create the file (mode 0600) if new, and bring its schema up to date.

    Args:
        path: The SQLite file. Its folder is created if missing.

    Returns:
        The (now initialised) shared database object.
    """
    path = Path(path).expanduser()
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            # Create the file ourselves so it never exists with a wider mode: it holds contacts' data.
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        elif path.is_dir():
            raise PortalError(f"{path} is a folder, not a database file")
        _owner_only(path)
    if not database.is_closed():
        database.close()
    database.init(str(path), pragmas=PRAGMAS, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    try:
        database.connect(reuse_if_open=True)
        migrate()
    except peewee.DatabaseError as exc:
        database.close()
        raise PortalError(f"cannot open {path}: {exc}") from exc
    for suffix in ("-wal", "-shm"):
        side = Path(str(path) + suffix)
        if side.exists():
            _owner_only(side)
    return database


def _owner_only(path: Path) -> None:
    """Make a file readable by its owner only (mode 0600). An existing database made with a looser umask is
    tightened too, and SQLite gives the -wal and -shm files the main file's mode."""
    try:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
    except OSError:  # not ours to change (another admin's file): leave it, SQLite will say if it cannot open
        pass


def schema_version() -> int:
    """The schema version recorded in the open database."""
    return database.execute_sql("PRAGMA user_version").fetchone()[0]


def migrate() -> None:
    """Run every upgrade between the file's `user_version` and `SCHEMA_VERSION`, each in one transaction."""
    from models import schema  # late: schema imports the models, which import this module

    current = schema_version()
    if current > SCHEMA_VERSION:
        raise PortalError(
            f"the database was written by a newer client-portal (schema {current}, this one knows {SCHEMA_VERSION})"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        with database.atomic("IMMEDIATE"):
            schema.UPGRADES[version](database)
            database.execute_sql(f"PRAGMA user_version = {version}")


@contextmanager
def page_cache(kib: int) -> Iterator[None]:
    """SQLite's page cache on this thread's connection set to `kib` for the block, then back to what it was (a
    long run that writes pages it never reads again, such as sending a batch, need not hold them all)."""
    previous = database.execute_sql("PRAGMA cache_size").fetchone()[0]
    database.execute_sql(f"PRAGMA cache_size = {-int(kib)}")
    try:
        yield
    finally:
        database.execute_sql(f"PRAGMA cache_size = {int(previous)}")


def data_version() -> int:
    """SQLite's `PRAGMA data_version`: changes whenever another connection commits to the file."""
    return database.execute_sql("PRAGMA data_version").fetchone()[0]


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text


def write_transaction(func: Callable[..., T]) -> Callable[..., T]:
    """Run `func` in one `BEGIN IMMEDIATE` transaction, retrying while another admin holds the write lock.

    IMMEDIATE takes the write lock up front, so SQLite's busy timeout applies; a deferred transaction that reads
    and then writes can fail at once with "database is locked" when another writer got in between. If the lock is
    still held after all retries the caller gets `DatabaseBusy`, a `PortalError` with a message for people.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if database.in_transaction():
            return func(*args, **kwargs)
        delay = 0.05
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000 * 3
        while True:
            try:
                with database.atomic("IMMEDIATE"):
                    return func(*args, **kwargs)
            except peewee.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                if time.monotonic() > deadline:
                    raise DatabaseBusy(
                        "the database is busy: another admin is writing to it; try again in a moment"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    return wrapper
