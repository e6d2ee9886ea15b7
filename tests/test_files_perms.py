"""Folders and files that hold contacts' data and login links (issue 11): made private whatever the umask, and a
Maildir or data folder that someone else owns or can write is refused, so another local user cannot swap in their
own Maildir and read a login email."""

from __future__ import annotations

import mailbox
import os
from pathlib import Path

import pytest

from mail.config import MailConfig
from mail.outbox import OutboxSender
from models import contacts, csv_io, outbox
from models.db import data_dir_for, database, open_database
from models.errors import PortalError
from models.files import UnsafeLocation, private_maildir

OTHER_UID = 65534
"""`nobody`: the other local user."""

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")


@pytest.fixture
def loose_umask():
    old = os.umask(0)
    yield
    os.umask(old)


def _send_one(db_path: Path, email: str = "ada@example.com"):
    """Queue a login email and send it as the dashboard and `outbox send` do: to the Maildir beside the database."""
    row = contacts.add_contact(email, "Ada")
    outbox.queue_login_emails([row.id])
    return OutboxSender(MailConfig.from_env(data_dir_for(db_path))).send(None)


def test_a_new_maildir_is_private_under_umask_000(db, db_path, loose_umask):
    summary = _send_one(db_path)
    assert summary.sent == 1, summary
    maildir = db_path.parent / "Maildir"
    for folder in (maildir, maildir / "new", maildir / "cur", maildir / "tmp"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder


def test_a_maildir_folder_of_ours_that_others_can_read_is_tightened(db, db_path):
    maildir = db_path.parent / "Maildir"
    for folder in (maildir, maildir / "new", maildir / "cur", maildir / "tmp"):
        folder.mkdir(mode=0o755)
        os.chmod(folder, 0o755)
    assert _send_one(db_path).sent == 1
    assert all((maildir / p).stat().st_mode & 0o777 == 0o700 for p in ("", "new", "cur", "tmp"))


@needs_root
@pytest.mark.parametrize("part", ["", "new", "cur", "tmp"])
def test_a_maildir_owned_by_someone_else_is_refused_and_gets_nothing(db, db_path, part):
    maildir = db_path.parent / "Maildir"
    for folder in (maildir, maildir / "new", maildir / "cur", maildir / "tmp"):
        folder.mkdir(mode=0o700)
    os.chown(maildir / part, OTHER_UID, OTHER_UID)
    summary = _send_one(db_path)
    assert summary.sent == 0
    assert "belongs to nobody, not to you" in summary.error and str(maildir) in summary.error
    assert len(mailbox.Maildir(maildir, create=False)) == 0
    assert outbox.outbox_counts()["queued"] == 1  # kept for when the folder is fixed


@pytest.mark.parametrize("part", ["", "new"])
def test_a_maildir_others_can_write_is_refused(db, db_path, part):
    maildir = db_path.parent / "Maildir"
    for folder in (maildir, maildir / "new", maildir / "cur", maildir / "tmp"):
        folder.mkdir(mode=0o700)
    os.chmod(maildir / part, 0o777)
    summary = _send_one(db_path)
    assert summary.sent == 0
    assert "can be written by other users" in summary.error and "chmod go-w" in summary.error
    assert len(mailbox.Maildir(maildir, create=False)) == 0


def test_a_maildir_that_is_a_symlink_is_refused(db, db_path, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    private_maildir(elsewhere / "Maildir")
    (db_path.parent / "Maildir").symlink_to(elsewhere / "Maildir")
    summary = _send_one(db_path)
    assert summary.sent == 0 and "symbolic link" in summary.error
    assert len(mailbox.Maildir(elsewhere / "Maildir", create=False)) == 0


def test_a_data_folder_others_can_write_is_refused(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, 0o777)
    with pytest.raises(UnsafeLocation, match="can be written by other users"):
        open_database(folder / "portal.db")
    assert list(folder.iterdir()) == []


@needs_root
def test_a_data_folder_owned_by_someone_else_is_refused(tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, OTHER_UID, OTHER_UID)
    with pytest.raises(PortalError, match="belongs to nobody"):
        open_database(folder / "portal.db")
    assert list(folder.iterdir()) == []


def test_the_folder_of_a_new_maildir_is_made_private(tmp_path, loose_umask):
    private_maildir(tmp_path / "a" / "b" / "Maildir")
    for folder in (tmp_path / "a", tmp_path / "a" / "b"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder


def test_a_csv_export_is_0600_even_under_umask_000(db, tmp_path, loose_umask):
    contacts.add_contact("ada@example.com", "Ada")
    target = tmp_path / "export.csv"
    assert csv_io.export_file(target) == 1
    assert target.stat().st_mode & 0o777 == 0o600
    old = tmp_path / "old.csv"
    old.write_text("x")
    os.chmod(old, 0o644)
    csv_io.export_file(old)
    assert old.stat().st_mode & 0o777 == 0o600
    assert "ada@example.com" in old.read_text(encoding="utf-8-sig")


def test_a_csv_export_through_the_cli_is_0600(cli, db, tmp_path, loose_umask):
    contacts.add_contact("ada@example.com")
    database.close()
    target = tmp_path / "cli-export.csv"
    result = cli("contacts", "export", str(target))
    assert result.exit_code == 0, result.output
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_data_folder_reached_through_a_link_is_checked_where_it_really_is(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "via").symlink_to(real)
    open_database(tmp_path / "via" / "portal.db")
    contacts.add_contact("ada@example.com")
    database.close()
    assert (real / "portal.db").stat().st_mode & 0o777 == 0o600
    private_maildir(tmp_path / "via" / "Maildir")
    assert (real / "Maildir" / "new").is_dir()
    os.chmod(real, 0o777)
    with pytest.raises(UnsafeLocation, match="can be written by other users"):
        open_database(tmp_path / "via" / "portal.db")
