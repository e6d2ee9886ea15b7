"""Folders and files that hold contacts' data or live login links: made private, and checked before they are used.

The database, its folder and the Maildir beside it hold contacts' details and emails carrying magic links. A
folder another local user can write lets them swap in their own `Maildir` (and read the next login email), or
their own database; a folder made under `umask 000` lets everyone read. So every folder made here is 0700
whatever the umask, and an existing one is refused (one line that says how to fix it) when someone else owns it
or can write to it. Plain `os`, no SQL: `models.db` and `mail.transports` both call it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from models.errors import PortalError

MAILDIR_PARTS = ("tmp", "new", "cur")
"""The three folders of a Maildir."""


class UnsafeLocation(PortalError):
    """A folder or file is owned by someone else or writable by others: using it could leak or lose data."""


def _trusted_owner(uid: int) -> bool:
    # Root can read everything anyway; a folder root made (a system data dir, /srv) is as safe as our own.
    return uid in (os.getuid(), 0)


def _owner_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return f"uid {uid}"


def check_private_dir(path: Path, what: str = "folder") -> None:
    """Refuse `path` (an existing folder) if it is a symbolic link, owned by someone else or writable by others.

    Args:
        path: The folder.
        what: What it is for, in the message ("data folder", "Maildir").

    Raises:
        UnsafeLocation: with the command that fixes it.
    """
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeLocation(f"the {what} {path} is a symbolic link; use the folder it points to "
                             f"({os.path.realpath(path)}) or a real folder")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeLocation(f"the {what} {path} is not a folder")
    if not _trusted_owner(info.st_uid):
        raise UnsafeLocation(f"the {what} {path} belongs to {_owner_name(info.st_uid)}, not to you: "
                             "another user could read or replace what is in it; use a folder of your own")
    if info.st_mode & 0o022:
        raise UnsafeLocation(f"the {what} {path} can be written by other users (mode {info.st_mode & 0o777:o}): "
                             f"they could replace what is in it; run `chmod go-w {path}` or use a private folder")


def make_private_dirs(path: Path) -> None:
    """Create `path` and any missing parents, each new one mode 0700 whatever the umask. Existing folders are
    left as they are (`check_private_dir` says whether they can be used)."""
    missing: list[Path] = []
    current = Path(path)
    while not os.path.lexists(current):
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:  # made by someone else meanwhile: the check that follows decides
            continue
        os.chmod(folder, 0o700)  # mkdir's mode is cut by the umask; a umask can only remove bits, but be exact


def private_maildir(path: Path) -> Path:
    """Make sure the Maildir at `path` (and its tmp/new/cur) exists, is ours and only we can use it.

    A missing folder is made 0700; an existing one we own that others can merely read is tightened to 0700
    (the messages in it carry live login links); one that is owned by someone else, or that others can write,
    is refused: its contents may already have been swapped.

    Raises:
        UnsafeLocation: the Maildir, one of its folders or the folder it is in cannot be trusted.
        OSError: a folder could not be made.
    """
    path = Path(path)
    make_private_dirs(path.parent)
    # The folder it is in may be reached through a link (a data dir on another disk); where it really is counts.
    check_private_dir(Path(os.path.realpath(path.parent)), "folder of the Maildir")
    for folder, what in [(path, "Maildir")] + [(path / part, f"Maildir folder {part}/") for part in MAILDIR_PARTS]:
        if not os.path.lexists(folder):
            os.mkdir(folder, 0o700)
            os.chmod(folder, 0o700)
        check_private_dir(folder, what)
        mode = os.stat(folder).st_mode
        if mode & 0o077:
            os.chmod(folder, 0o700)
    return path


def private_file_opener(path: str, flags: int) -> int:
    """An `opener` for `open()` that makes a new file 0600 and tightens an existing file of ours to 0600 (an
    export of contacts is as private as the database it came from)."""
    fd = os.open(path, flags, 0o600)
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and info.st_mode & 0o077:
            os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd
