"""The end of a send says what happened, and the bar is full only when everything was sent.

The invite and login-email dialogs used to say `Done.` over a full bar when the SMTP server was down (`Sent 0 ·
Failed 0 · Stopped early`) or had only deferred the mail (451). Each test sends through a real aiosmtpd on
loopback (`tests/fixtures_smtp.py`) set to misbehave, or to a closed port, and reads the dialog's last line,
its bar and the outbox.
"""

from __future__ import annotations

import pytest
from textual.widgets import ProgressBar, Static

from models import contacts, outbox
from tests.fixtures_tui import settle
from tui.screens.invite import InviteScreen
from tui.screens.login_email import LoginEmailScreen

DEFERRED = "451 4.7.1 Greylisted, try again later"


@pytest.fixture
def smtp_env(smtp_server, monkeypatch):
    """The dashboard sends through the test server."""
    for key, value in smtp_server.env().items():
        monkeypatch.setenv(key, value)
    return smtp_server


@pytest.fixture
def smtp_down(closed_port, monkeypatch):
    """The dashboard is set up for an SMTP server that is not there (connections refused)."""
    for key, value in {"CLIENT_PORTAL_SMTP_HOST": "127.0.0.1", "CLIENT_PORTAL_SMTP_PORT": str(closed_port),
                       "CLIENT_PORTAL_SMTP_SECURITY": "none", "CLIENT_PORTAL_SMTP_TIMEOUT": "5"}.items():
        monkeypatch.setenv(key, value)


def outcome(screen) -> str:
    return str(screen.query_one("#outcome", Static).render())


def bar(screen) -> tuple[float, float | None]:
    widget = screen.query_one("#send-bar", ProgressBar)
    return widget.progress, widget.total


async def invite(pilot, address: str) -> InviteScreen:
    await settle(pilot)
    await pilot.press("i")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, InviteScreen)
    await pilot.press(*address, "enter")
    await settle(pilot)
    assert screen.stage == "done"
    return screen


async def login_email_to_everyone(pilot) -> LoginEmailScreen:
    await settle(pilot)
    await pilot.press("ctrl+a")
    await settle(pilot)
    await pilot.press("l")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, LoginEmailScreen)
    await pilot.press("enter")
    await settle(pilot)
    assert screen.stage == "done"
    return screen


async def test_an_invitation_sent_says_sent_over_a_full_bar(portal_app, smtp_env):
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await invite(pilot, "katherine@example.com")
        assert outcome(screen) == "Sent 1. Enter or escape closes."
        progress, total = bar(screen)
        assert progress == total == 1
        assert [r.status for r in outbox.list_outbox()] == ["sent"]


async def test_an_invitation_with_the_server_down_says_queued_not_done(portal_app, smtp_down):
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await invite(pilot, "katherine@example.com")
        line = outcome(screen)
        assert line == ("Queued: the SMTP server could not be reached; it will be retried (see the outbox, key o)."
                        " Enter or escape closes.")
        assert "Done" not in line
        progress, total = bar(screen)
        assert progress == 0 and total == 1
        assert [r.status for r in outbox.list_outbox()] == ["queued"]


async def test_an_invitation_deferred_by_the_server_says_when_it_is_retried(portal_app, smtp_env):
    smtp_env.handler.fail_rcpt("katherine@example.com", DEFERRED)
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await invite(pilot, "katherine@example.com")
        [row] = outbox.list_outbox()
        assert row.status == "queued" and "451" in row.last_error
        retry_at = row.next_attempt_at.strftime("%H:%M UTC")
        assert outcome(screen) == f"1 deferred by the server, retrying at {retry_at}. Enter or escape closes."
        progress, total = bar(screen)
        assert progress == 0 and total == 1
        assert smtp_env.handler.messages == []


async def test_an_invitation_refused_says_why_it_failed(portal_app, smtp_env):
    smtp_env.handler.reject("katherine@example.com")
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await invite(pilot, "katherine@example.com")
        [row] = outbox.list_outbox()
        assert row.status == "failed"
        line = outcome(screen)
        assert line.startswith("1 failed: ") and "550" in line and line.endswith(" Enter or escape closes.")
        assert bar(screen) == (0, 1)


async def test_login_emails_all_sent_say_how_many_over_a_full_bar(portal_app, smtp_env):
    for name in ("ada", "grace", "linus"):
        contacts.add_contact(f"{name}@example.com", name.title())
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await login_email_to_everyone(pilot)
        assert outcome(screen) == "Sent 3. Enter or escape closes."
        assert bar(screen) == (3, 3)
        assert len(smtp_env.handler.messages) == 3


async def test_login_emails_sent_failed_and_deferred_say_each(portal_app, smtp_env):
    for name in ("ada", "grace", "linus"):
        contacts.add_contact(f"{name}@example.com", name.title())
    smtp_env.handler.reject("grace@example.com")
    smtp_env.handler.fail_rcpt("linus@example.com", DEFERRED)
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await login_email_to_everyone(pilot)
        retry_at = outbox.next_due_at().strftime("%H:%M UTC")
        line = outcome(screen)
        assert line.startswith("Sent 1 · 1 failed: ") and "550" in line
        assert f" · 1 deferred by the server, retrying at {retry_at}. Enter or escape closes." in line
        assert bar(screen) == (1, 3)
        assert outbox.outbox_counts()["sent"] == 1


async def test_login_emails_with_the_server_down_are_queued_not_done(portal_app, smtp_down):
    for name in ("ada", "grace"):
        contacts.add_contact(f"{name}@example.com", name.title())
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await login_email_to_everyone(pilot)
        assert outcome(screen) == ("Queued: the SMTP server could not be reached; the 2 left will be retried "
                                   "(see the outbox, key o). Enter or escape closes.")
        assert bar(screen) == (0, 2)
        assert [r.status for r in outbox.list_outbox()] == ["queued", "queued"]


async def test_the_outbox_send_with_the_server_down_says_queued_not_done(portal_app, smtp_down):
    from tui.screens.outbox import OutboxScreen

    ada = contacts.add_contact("ada@example.com", "Ada")
    outbox.queue_login_emails([ada.id])
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, OutboxScreen)
        await pilot.press("s")
        await settle(pilot)
        assert outcome(screen) == "Queued: the SMTP server could not be reached; it will be retried (the list above)."
        assert bar(screen) == (0, 1)
        assert [r.status for r in outbox.list_outbox()] == ["queued"]


async def test_a_cancelled_send_says_what_is_still_queued(portal_app, smtp_env):
    for n in range(5):
        contacts.add_contact(f"person{n}@example.com")
    smtp_env.handler.hold(2)  # the server sits on the second message until released
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+a")
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        await pilot.press("enter")
        assert smtp_env.handler.holding.wait(10)
        screen = app.screen
        await pilot.press("escape")  # cancel after the message in flight
        smtp_env.handler.release()
        await settle(pilot)
        assert screen.stage == "done"
        assert outcome(screen) == ("Sent 2 · Cancelled: 3 messages still queued (see the outbox, key o). "
                                   "Enter or escape closes.")
        assert bar(screen) == (2, 5)
        counts = outbox.outbox_counts()
        assert counts["sent"] == 2 and counts["queued"] == 3
