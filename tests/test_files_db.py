"""The database file (issue 11): checked before anything touches it, never created through a link, an explicit path
in a missing folder is an error, and a full disk says so and loses nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from models import contacts, domains
from models import db as dbmod
from models.db import DiskFull, database, open_database
from models.errors import PortalError


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry of `folder`: its mode and its bytes (what "untouched" is checked against)."""
    out = {}
    for path in sorted(folder.iterdir()):
        info = os.lstat(path)
        out[path.name] = (info.st_mode, path.read_bytes() if path.is_file() and not path.is_symlink() else b"")
    return out


# --- check before touching ------------------------------------------------------------------------------------


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"my notes, not a database\n" * 50)
    os.chmod(path, 0o644)
    before = _snapshot(tmp_path)
    with pytest.raises(PortalError, match="not an SQLite file"):
        open_database(path)
    assert _snapshot(tmp_path) == before  # mode still 0644, no -wal or -shm beside it


def test_a_database_from_a_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.execute(f"PRAGMA user_version = {dbmod.SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    os.chmod(path, 0o644)
    before = _snapshot(tmp_path)
    with pytest.raises(PortalError, match="newer client-portal"):
        open_database(path)
    assert _snapshot(tmp_path) == before
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    conn.close()


def test_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    victim = target / "victim.txt"
    victim.write_text("")  # an empty file would otherwise become a database
    os.chmod(victim, 0o644)
    link = tmp_path / "portal.db"
    link.symlink_to(victim)
    with pytest.raises(PortalError, match="symbolic link"):
        open_database(link)
    assert victim.read_bytes() == b"" and victim.stat().st_mode & 0o777 == 0o644


def test_a_dangling_symlink_is_not_followed_to_create_a_file(tmp_path):
    target = tmp_path / "planted.db"
    link = tmp_path / "portal.db"
    link.symlink_to(target)
    with pytest.raises(PortalError, match="symbolic link"):
        open_database(link)
    assert not target.exists()


def test_a_symlinked_wal_file_is_refused(tmp_path):
    path = tmp_path / "portal.db"
    open_database(path)
    database.close()
    Path(str(path) + "-wal").unlink(missing_ok=True)
    (tmp_path / "other").write_text("")
    os.symlink(tmp_path / "other", str(path) + "-wal")
    with pytest.raises(PortalError, match="symbolic link"):
        open_database(path)
    assert (tmp_path / "other").read_text() == ""


def test_a_new_and_an_empty_file_still_open(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    open_database(empty)
    assert dbmod.schema_version() == dbmod.SCHEMA_VERSION
    database.close()
    open_database(tmp_path / "new.db")
    assert (tmp_path / "new.db").stat().st_mode & 0o777 == 0o600
    database.close()


# --- typos in the path ----------------------------------------------------------------------------------------


def _cli(*args: str, env: dict | None = None):
    from tui.cli import main

    if not database.is_closed():
        database.close()
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_an_explicit_path_in_a_missing_folder_is_an_error(tmp_path, monkeypatch):
    monkeypatch.delenv("CLIENT_PORTAL_DB", raising=False)
    path = tmp_path / "no" / "such" / "dir" / "x.db"
    result = _cli("--db", str(path), "stats")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "does not exist" in result.output
    assert not (tmp_path / "no").exists()
    result = _cli("stats", env={"CLIENT_PORTAL_DB": str(path)})  # the variable is as explicit as the option
    assert result.exit_code == 1 and "does not exist" in result.output
    assert not (tmp_path / "no").exists()


def test_the_default_path_is_still_created_privately(tmp_path, monkeypatch):
    monkeypatch.delenv("CLIENT_PORTAL_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg" / "share"))
    old = os.umask(0)
    try:
        result = _cli("stats", "--json")
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "xdg" / "share" / "client-portal"
    assert (folder / "client-portal.db").is_file()
    for path in (folder, folder.parent, folder.parent.parent):
        assert path.stat().st_mode & 0o777 == 0o700, path  # not 0777 under umask 000


# --- a full disk ----------------------------------------------------------------------------------------------


def test_a_full_database_says_the_disk_is_full_and_keeps_what_was_there(db_path):
    domains.add_domain("portal.example.com")
    contacts.add_contact("keep@example.com")
    pages = database.execute_sql("PRAGMA page_count").fetchone()[0]
    database.execute_sql(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL at the next new page
    with pytest.raises(DiskFull, match="the disk is full") as info:
        for n in range(500):
            contacts.add_contact(f"p{n}@example.com", first_name="x" * 190, last_name="y" * 190)
    assert "rollback" not in str(info.value)
    assert not database.in_transaction()
    added = contacts.count_contacts(contacts.ContactQuery())
    database.execute_sql("PRAGMA max_page_count = 1073741823")
    contacts.add_contact("after@example.com")  # the connection is usable once there is room
    assert contacts.count_contacts(contacts.ContactQuery()) == added + 1
    assert contacts.find_contact("keep@example.com")


def test_a_failed_nested_write_on_a_full_database_is_not_masked(db_path):
    """A savepoint inside a transaction: SQLite undoes the whole transaction on SQLITE_FULL, and the savepoint's
    own rollback must not replace that error with "no such savepoint"."""
    pages = database.execute_sql("PRAGMA page_count").fetchone()[0]
    database.execute_sql(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(DiskFull):
        @dbmod.write_transaction
        def write():
            with database.atomic():
                for n in range(500):
                    database.execute_sql("INSERT INTO setting (key, value) VALUES (?, ?)", (f"k{n}", "v" * 900))
        write()
    database.execute_sql("PRAGMA max_page_count = 1073741823")
    assert database.execute_sql("SELECT COUNT(*) FROM setting WHERE key LIKE 'k%'").fetchone()[0] == 0


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MB filesystem (tmpfs), private to us; skipped where mounting is not allowed (not root)."""
    mount = tmp_path / "disk"
    mount.mkdir(mode=0o700)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        if not database.is_closed():
            database.close()
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_in_the_cli_says_so_and_loses_nothing(small_disk, tmp_path, monkeypatch):
    monkeypatch.delenv("CLIENT_PORTAL_DB", raising=False)
    path = small_disk / "portal.db"
    assert _cli("--db", str(path), "domains", "add", "portal.example.com").exit_code == 0
    assert _cli("--db", str(path), "contacts", "add", "keep@example.com").exit_code == 0
    outcomes = []
    for n in range(1000):
        result = _cli("--db", str(path), "contacts", "add", f"p{n}@example.com", "--first-name", "x" * 190,
                      "--last-name", "y" * 190, "--company", "z" * 190)
        outcomes.append((result.exit_code, result.output))
        if result.exit_code:
            break
    code, output = outcomes[-1]
    assert code == 1, "the 1 MB disk never filled"
    assert output == f"error: {DiskFull.MESSAGE}\n"
    kept = len(outcomes) - 1
    # Everything added before is still there, and the failed one is not half there.
    listing = _cli("--db", str(path), "contacts", "list", "--limit", "1000", "--json")
    import json

    emails = {row["email"] for row in json.loads(listing.output)["contacts"]}
    assert "keep@example.com" in emails and len(emails) == kept + 1
    assert f"p{kept}@example.com" not in emails
    # Once there is room again, the same command works.
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    retry = _cli("--db", str(path), "contacts", "add", f"p{kept}@example.com")
    assert retry.exit_code == 0, retry.output
