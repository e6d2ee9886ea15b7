"""The one SQLite database every model lives in, how it is opened, and how its schema grows.

The database object is deferred (`SqliteDatabase(None)`): the CLI, the dashboard and the tests each call
`open_database(path)` with the file they want. Everything SQLite-specific (pragmas, `user_version`, the
busy handling) stays in this module so the rest of `models/` reads as plain Peewee.
"""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import peewee

from models.errors import DatabaseBusy, PortalError


class _Savepoint(peewee._savepoint):
    def rollback(self, begin: bool = True) -> None:
        if not self.db.connection().in_transaction:
            return  # SQLite already undid the whole transaction (see PortalDatabase.rollback)
        super().rollback(begin)


class PortalDatabase(peewee.SqliteDatabase):
    """Peewee's SQLite database, except that a rollback after SQLite already rolled back is a no-op.

    On some errors (SQLITE_FULL: the disk is full; SQLITE_IOERR; SQLITE_NOMEM) SQLite ends the transaction itself.
    Peewee then issued its own ROLLBACK, which failed with "cannot rollback - no transaction is active", and that
    error replaced the one that said what happened. Now the real error reaches the caller.
    """

    def rollback(self) -> None:
        if not self.is_closed() and not self.connection().in_transaction:
            return
        super().rollback()

    def savepoint(self):
        return _Savepoint(self)


database = PortalDatabase(None)
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


SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""

USER_VERSION_OFFSET = 60
"""Where `PRAGMA user_version` sits in the file header (4 bytes, big-endian)."""

SQLITE_FULL = 13
"""SQLite's result code for "database or disk is full" (also what it reports when a write meets ENOSPC)."""


class DiskFull(PortalError):
    """A write failed because the disk (or the database's size limit) is full; the transaction was undone."""

    MESSAGE = "the disk is full (or the database reached its size limit): nothing was saved; free space and try again"

    def __init__(self, message: str = MESSAGE) -> None:
        super().__init__(message)


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether `exc`, or an error it was raised while handling, is SQLite's SQLITE_FULL or the OS's ENOSPC/EDQUOT.

    Peewee wraps SQLite's error in its own, and a failed rollback after the full disk used to be what was reported,
    so the whole chain is looked at.
    """
    seen = 0
    while exc is not None and seen < 10:
        if getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL or "database or disk is full" in str(exc):
            return True
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def database_error_message(exc: BaseException) -> str | None:
    """One line for people about a database error (SQLite's, whether Peewee wrapped it or not) or a full disk;
    None for any other error."""
    if is_disk_full(exc):
        return DiskFull.MESSAGE
    if not isinstance(exc, (peewee.DatabaseError, sqlite3.Error)):
        return None
    if isinstance(exc, (peewee.OperationalError, sqlite3.OperationalError)):
        if _is_busy(exc):
            return "the database is busy (another admin is writing); try again in a moment"
        return f"database: {exc}"
    return f"the database file cannot be used: {exc}"


def open_database(path: Path | str, *, create_folders: bool = False) -> peewee.SqliteDatabase:
    """Point `database` at `path` after checking it, create the file (mode 0600) if new, bring its schema up to date.

    Nothing is changed before the checks pass: a file that is not an SQLite database, or one written by a newer
    client-portal, is refused as it was found (no chmod, no WAL switch). The database is never created through a
    symbolic link, and a path that is one is refused (so a link planted in a shared folder cannot redirect it).

    Args:
        path: The SQLite file.
        create_folders: Create its folder (0700) when missing: for the default path in the user data dir. An
            explicit path in a folder that does not exist is a typo, and an error.

    Returns:
        The (now initialised) shared database object.

    Raises:
        PortalError: the path, its folder or the file cannot be used; nothing was changed.
    """
    path = Path(path).expanduser()
    if str(path) != ":memory:":
        _prepare_file(path, create_folders)
    if not database.is_closed():
        database.close()
    database.init(str(path), pragmas=PRAGMAS, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    try:
        database.connect(reuse_if_open=True)
        migrate()
    except peewee.DatabaseError as exc:
        database.close()
        if is_disk_full(exc):
            raise DiskFull() from exc
        raise PortalError(f"cannot open {path}: {exc}") from exc
    for suffix in ("-wal", "-shm"):
        side = Path(str(path) + suffix)
        if side.exists():
            _owner_only(side)
    return database


def _prepare_file(path: Path, create_folders: bool) -> None:
    """Check the folder and the file, create the file if new, and only then tighten its mode."""
    from models.files import check_private_dir, make_private_dirs

    folder = path.parent
    if not os.path.isdir(folder):
        if os.path.lexists(folder):
            raise PortalError(f"{folder} is not a folder: check the database path {path}")
        if not create_folders:
            raise PortalError(f"the folder {folder} does not exist: check the database path {path} "
                              "(create the folder first if it is right)")
        make_private_dirs(folder)
    check_private_dir(Path(os.path.realpath(folder)), "data folder")
    for suffix in ("-wal", "-shm", "-journal"):
        if os.path.islink(str(path) + suffix):
            raise PortalError(f"{path}{suffix} is a symbolic link: refusing to let SQLite write through it")
    while True:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            try:
                # Made here with O_EXCL | O_NOFOLLOW: never through a link, never with a wider mode.
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
            except FileExistsError:  # another process made it meanwhile: check theirs
                continue
            os.close(fd)
            return
        except OSError as exc:
            if os.path.islink(path):
                raise PortalError(f"{path} is a symbolic link (to {os.path.realpath(path)}): give the real "
                                  "path of the database") from None
            if exc.errno == errno.EISDIR or os.path.isdir(path):
                raise PortalError(f"{path} is a folder, not a database file") from None
            raise PortalError(f"cannot open {path}: {exc.strerror or exc}") from None
        break
    try:
        _check_header(path, fd)
        _owner_only(path, fd)
    finally:
        os.close(fd)


def _check_header(path: Path, fd: int) -> None:
    """Refuse what is not an SQLite file of a schema we know, reading only its first 100 bytes."""
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise PortalError(f"{path} is a folder, not a database file")
    if not stat.S_ISREG(info.st_mode):
        raise PortalError(f"{path} is not a regular file; nothing was changed")
    if info.st_size == 0:
        return  # an empty file is a new database to SQLite
    header = os.pread(fd, 100, 0)
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        raise PortalError(f"{path} is not a client-portal database (not an SQLite file); nothing was changed")
    version = int.from_bytes(header[USER_VERSION_OFFSET:USER_VERSION_OFFSET + 4], "big")
    if version > SCHEMA_VERSION:
        raise PortalError(
            f"the database was written by a newer client-portal (schema {version}, this one knows "
            f"{SCHEMA_VERSION}); nothing was changed"
        )


def _owner_only(path: Path, fd: int | None = None) -> None:
    """Make a file readable by its owner only (mode 0600). An existing database made with a looser umask is
    tightened too, and SQLite gives the -wal and -shm files the main file's mode."""
    try:
        info = os.fstat(fd) if fd is not None else os.lstat(path)
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
            if fd is not None:
                os.fchmod(fd, 0o600)
            else:
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
    still held after all retries the caller gets `DatabaseBusy`, a `PortalError` with a message for people. A full
    disk (SQLITE_FULL) gives `DiskFull`: SQLite undid the whole transaction, so nothing of it was saved.
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
                if is_disk_full(exc):
                    raise DiskFull() from exc
                if not _is_busy(exc):
                    raise
                if time.monotonic() > deadline:
                    raise DatabaseBusy(
                        "the database is busy: another admin is writing to it; try again in a moment"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    return wrapper
