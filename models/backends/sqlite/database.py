"""SQLite's side of opening a database: the file checks made before SQLite touches it, the pragmas, the
rollback fix, and what SQLite's errors mean for people."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import peewee

from models.errors import DiskFull, PortalError


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


BUSY_TIMEOUT_MS = 10_000
"""How long SQLite waits for another admin's write to finish before giving up (milliseconds)."""

PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": BUSY_TIMEOUT_MS,
    "synchronous": "normal",
    "cache_size": -16_000,
}

SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""

USER_VERSION_OFFSET = 60
"""Where `PRAGMA user_version` sits in the file header (4 bytes, big-endian)."""

SQLITE_FULL = 13
"""SQLite's result code for "database or disk is full" (also what it reports when a write meets ENOSPC)."""


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


def is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text


def describe_error(exc: BaseException) -> str | None:
    """One line for people about a database error (SQLite's, whether Peewee wrapped it or not) or a full disk;
    None for any other error."""
    if is_disk_full(exc):
        return DiskFull.MESSAGE
    if not isinstance(exc, (peewee.DatabaseError, sqlite3.Error)):
        return None
    if isinstance(exc, (peewee.OperationalError, sqlite3.OperationalError)):
        if is_busy(exc):
            return "the database is busy (another admin is writing); try again in a moment"
        return f"database: {exc}"
    return f"the database file cannot be used: {exc}"


def prepare_file(path: Path, create_folders: bool, newest_schema: int) -> None:
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
        _check_header(path, fd, newest_schema)
        owner_only(path, fd)
    finally:
        os.close(fd)


def _check_header(path: Path, fd: int, newest_schema: int) -> None:
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
    if version > newest_schema:
        raise PortalError(
            f"the database was written by a newer client-portal (schema {version}, this one knows "
            f"{newest_schema}); nothing was changed"
        )


def owner_only(path: Path, fd: int | None = None) -> None:
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


@contextmanager
def page_cache(db: peewee.Database, kib: int) -> Iterator[None]:
    """SQLite's page cache on this thread's connection set to `kib` for the block, then back to what it was (a
    long run that writes pages it never reads again, such as sending a batch, need not hold them all)."""
    previous = db.execute_sql("PRAGMA cache_size").fetchone()[0]
    db.execute_sql(f"PRAGMA cache_size = {-int(kib)}")
    try:
        yield
    finally:
        db.execute_sql(f"PRAGMA cache_size = {int(previous)}")
