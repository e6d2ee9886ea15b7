"""`--demo` is isolated: its own folder (database and Maildir), never the real database's, and no mail ever leaves
it, even with an SMTP server configured in the environment (issue 11: the demo mailed through the real server
and wrote 278 messages into the real database's Maildir)."""

from __future__ import annotations

import mailbox
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from mail.config import MailConfig
from models import contacts, demo, domains
from models.db import data_dir_for, database, open_database
from tests.fixtures_tui import settle


def _tree(folder: Path) -> dict[str, int]:
    """Every file under `folder` with its size: what "nothing was written there" is checked against."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def real_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server):
    """A real database with a real contact, a real SMTP server in the environment, and the user's cache dir
    (where the demo lives) under tmp_path."""
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    path = real / "portal.db"
    monkeypatch.setenv("CLIENT_PORTAL_DB", str(path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for key, value in smtp_server.env().items():
        monkeypatch.setenv(key, value)
    open_database(path)
    domains.add_domain("agency.example.net")
    contacts.add_contact("client@agency.example.net", "Real", "Client")
    database.close()
    yield path
    database.close()


def _cli(*args: str):
    from tui.cli import main

    if not database.deferred:
        database.close()
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_the_demo_sends_nothing_to_the_configured_server_and_writes_nothing_beside_the_real_database(
    real_setup, smtp_server, tmp_path
):
    before = _tree(real_setup.parent)
    queued = _cli("--demo", "login-email", "--status", "joined")
    assert queued.exit_code == 0, queued.output
    sent = _cli("--demo", "outbox", "send")
    assert sent.exit_code == 0, sent.output

    assert smtp_server.handler.messages == [] and smtp_server.handler.connections == 0
    assert _tree(real_setup.parent) == before
    folder = demo.demo_folder()
    assert folder == tmp_path / "cache" / "client-portal" / "demo"
    assert (folder / demo.DEMO_DATABASE).is_file() and (folder / demo.DEMO_MARKER).is_file()
    delivered = mailbox.Maildir(folder / "Maildir", create=False)
    assert len(delivered) > 50  # every joined sample contact got its login email, in the demo's own Maildir
    assert all(msg["To"].endswith("@example.com>") for msg in delivered)
    # The real database still has only its own contact.
    open_database(real_setup)
    assert [row.email for row in contacts.contact_page(contacts.ContactQuery()).rows] == ["client@agency.example.net"]


def test_the_demo_mail_settings_ignore_the_environment(real_setup):
    assert _cli("--demo", "stats").exit_code == 0
    config = MailConfig.from_env(data_dir_for(demo.demo_folder() / demo.DEMO_DATABASE))
    assert not config.uses_smtp and config.demo
    assert config.maildir == demo.demo_folder() / "Maildir"
    assert config.describe().startswith("DEMO")
    # The real database's folder still goes to the configured server.
    assert MailConfig.from_env(data_dir_for(real_setup)).uses_smtp


def test_demo_with_an_explicit_db_is_refused_and_nothing_is_created(real_setup, tmp_path):
    target = tmp_path / "real" / "other.db"
    result = _cli("--db", str(target), "--demo", "stats")
    assert result.exit_code == 2
    assert "--demo opens its own sample database" in result.output
    assert not target.exists()


def test_the_demo_folder_is_private_whatever_the_umask(real_setup):
    old = os.umask(0)
    try:
        assert _cli("--demo", "stats").exit_code == 0
    finally:
        os.umask(old)
    folder = demo.demo_folder()
    for path in (folder, folder.parent):
        assert path.stat().st_mode & 0o777 == 0o700, path
    assert (folder / demo.DEMO_DATABASE).stat().st_mode & 0o777 == 0o600


async def test_the_dashboard_on_the_demo_says_so_and_sends_through_its_own_maildir(real_setup, smtp_server):
    """The dashboard's own send path (the login-email dialog and its send panel), on the demo."""
    from tui.app import ClientPortalApp
    from tui.screens.login_email import LoginEmailScreen
    from tui.widgets.stats_header import StatsHeader

    assert _cli("--demo", "stats").exit_code == 0  # the demo's open, as `client-portal --demo` does it
    before = _tree(real_setup.parent)
    path = demo.demo_folder() / demo.DEMO_DATABASE
    app = ClientPortalApp(path)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        header = app.screen.query_one(StatsHeader)
        assert "DEMO (sample data)" in str(header.render())
        await pilot.press("ctrl+a")
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LoginEmailScreen)
        await pilot.press("enter")
        await settle(pilot)
        assert screen.stage == "done"
    database.close()
    assert smtp_server.handler.messages == [] and smtp_server.handler.connections == 0
    assert _tree(real_setup.parent) == before
    assert len(mailbox.Maildir(demo.demo_folder() / "Maildir", create=False)) > 50
