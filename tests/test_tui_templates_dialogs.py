"""The sending dialogs' rough edges (issue 13): whole, scrollable email previews at 80x24, the import box's old
error, and the invite box's "not invited" after the invitation was sent. Each test failed before its fix."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from mail.templates import preview
from models import contacts
from tests.fixtures_tui import press, settle, until
from tui.screens.import_csv import ImportCsvScreen
from tui.screens.invite import InviteScreen
from tui.screens.login_email import LoginEmailScreen
from tui.widgets.email_preview import EmailPreview

SMALL = (80, 24)


@pytest.fixture
def smtp_env(smtp_server, monkeypatch):
    """The dashboard sends through the test server."""
    for key, value in smtp_server.env().items():
        monkeypatch.setenv(key, value)
    return smtp_server


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in text])


def last_line(kind: str, contact) -> str:
    """The last non-blank line of the email `kind` makes for `contact` (what a cut preview lost)."""
    return [line for line in preview(kind, contact).text.splitlines() if line.strip()][-1]


async def assert_whole_and_scrolls(pilot, box: EmailPreview, expected_last_line: str) -> None:
    assert expected_last_line in box.text.plain  # nothing cut off
    assert "more line" not in box.text.plain
    assert box.max_scroll_y > 0  # taller than the box at 80x24...
    assert "scrolls" in str(box.border_subtitle)  # ...and the box says how to read the rest
    box.focus()
    await pilot.press("end")
    await settle(pilot)
    # ...and the keys reach the end of it (the scroll is animated: under load it is still on its way after settle)
    await until(pilot, lambda: box.scroll_y == box.max_scroll_y)


@pytest.mark.parametrize(("key", "kind", "dialog"), [("i", "invite", InviteScreen), ("l", "login", LoginEmailScreen)])
async def test_the_email_preview_shows_the_whole_email_and_scrolls_at_80x24(portal_app, db, key, kind, dialog):
    ada = contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    app = portal_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await press(pilot, key)
        screen = app.screen
        assert isinstance(screen, dialog)
        box = screen.query_one(EmailPreview)
        if kind == "login":
            assert box.has_focus  # shown with the plan, focused: up and down scroll it at once
        await assert_whole_and_scrolls(pilot, box, last_line(kind, ada))
        # Scrolling the preview does not take enter: it still sends.
        assert screen.check_action("confirm", ()) is True


async def test_the_import_box_forgets_an_old_error_once_another_path_is_typed(portal_app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # short relative paths: every key typed is a check of the path (a worker)
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    good = tmp_path / "good.csv"
    good.write_text("email\nada@example.com\n", encoding="utf-8")
    app = portal_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ImportCsvScreen)
        await type_text(pilot, empty.name)
        await pilot.press("enter")
        await settle(pilot)
        report = screen.query_one("#report", Static)
        assert "Not imported: the file is empty" in str(report.render())
        await pilot.press("ctrl+u")
        await type_text(pilot, good.name)
        await settle(pilot)
        assert "Not imported" not in str(report.render())
        assert "✓" in str(screen.query_one("#check", Static).render())
        await pilot.press("enter")
        await settle(pilot)
        assert "Imported 1 contact" in str(report.render())


async def test_after_sending_the_invite_box_says_invited_not_not_invited(portal_app, db, smtp_env):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    app = portal_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("i")  # Ada is highlighted: the box opens with her address
        await settle(pilot)
        screen = app.screen
        check = screen.query_one("#check", Static)
        assert "not invited" in str(check.render())
        await pilot.press("enter")
        await settle(pilot)
        assert screen.stage == "done"
        line = str(check.render())
        assert "not invited" not in line
        assert contacts.find_contact("ada@example.com").status_label in line
        assert "invited" in line


async def test_a_refused_invitation_is_forgotten_once_the_address_changes(portal_app, db, frozen_clock):
    from models import portal
    from models.db import database

    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    portal.invite(["ada@example.com"])
    # Ada joined: inviting her again is refused when enter is pressed.
    from models.entities import Contact

    with database.atomic():
        Contact.update(status="joined").where(Contact.email == "ada@example.com").execute()
    app = portal_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        screen = app.screen
        await pilot.press("enter")
        await settle(pilot)
        outcome = screen.query_one("#outcome", Static)
        assert "Not invited: ada@example.com: already joined" in str(outcome.render())
        await pilot.press("ctrl+u")
        await type_text(pilot, "bob@example.com")
        await settle(pilot)
        assert "Not invited" not in str(outcome.render())


async def test_the_header_under_a_sending_dialog_says_sending_not_no_sender(portal_app, db, smtp_env):
    import asyncio

    from tui.widgets.stats_header import StatsHeader

    for n in range(4):
        contacts.add_contact(f"person{n}@example.com")
    smtp_env.handler.hold(2)  # the server sits on the second message until released
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+a")
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        screen = app.screen
        await pilot.press("enter")
        assert await asyncio.to_thread(smtp_env.handler.holding.wait, 10)
        header = app.main_screen.query_one(StatsHeader)
        for _ in range(100):  # the header catches up through its poll (no settle: the send is held)
            await pilot.pause(0.05)
            if header.info and header.info.stats.outbox_queued + header.info.stats.outbox_sending == 3:
                break
        line = header.render().plain.splitlines()[2]
        assert "3 mail queued (sending now)" in line
        assert "no sender running" not in line  # it was: this dashboard is the sender
        smtp_env.handler.release()
        await settle(pilot)
        assert screen.stage == "done"
        assert "0 mail queued" in header.render().plain
