"""The contact's own view (`enter` on a row): what each section shows, every action by its key and by the command
palette (asserting on the database), refreshing when the data changes elsewhere, and hostile text shown literally.
Also `models.history`, which the view reads."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from models import clock, contacts, history, links, portal
from models.db import database
from models.entities import (
    CHANNEL_SHOWN,
    OUTBOX_FAILED,
    OUTBOX_QUEUED,
    OUTBOX_SKIPPED,
    PURPOSE_LOGIN,
    STATUS_INVITED,
    STATUS_REVOKED,
    MagicLink,
    OutboxMessage,
)
from tests.fixtures_tui import HOSTILE_NAME, settle
from tui.screens.contact_detail import ContactDetailScreen, EditContactScreen, RevokeScreen
from tui.screens.invite import InviteScreen
from tui.screens.login_email import LoginEmailScreen
from tui.screens.magic_link import MagicLinkScreen
from tui.screens.main import MainScreen
from tui.text import visible

SIZE = (110, 40)


def shown(screen, selector: str) -> str:
    """The text a widget draws (every line of it, scrolled into view or not)."""
    widget = screen.query_one(selector)
    return "\n".join(widget.render_line(y).text for y in range(widget.size.height))


def words(text: str) -> str:
    """`text` with its line breaks and runs of spaces as one space (a long value wraps)."""
    return " ".join(text.split())


def everything(screen) -> str:
    return "\n".join(shown(screen, f"#{key}") for key in
                     ("detail-title", "fields", "status", "links", "messages", "audit", "detail-status"))


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in text])


async def open_detail(pilot) -> ContactDetailScreen:
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ContactDetailScreen)
    return screen


async def palette(pilot, name: str) -> None:
    await pilot.press("ctrl+p")
    await settle(pilot)
    await type_text(pilot, name)
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


@pytest.fixture
def ada(db, frozen_clock, fixed_actor):
    """Ada, invited (the invitation still queued), with a login link shown twice (the first superseded), and a
    login email that failed."""
    row = contacts.add_contact("ada@example.com", "Ada", "Lovelace", company="Analytical Engines",
                               phone="+44 20 7946 0001")
    portal.invite(["ada@example.com"])
    frozen_clock[0] += timedelta(minutes=5)
    links.issue_link(row.id, PURPOSE_LOGIN, CHANNEL_SHOWN)
    frozen_clock[0] += timedelta(minutes=5)
    issued = links.issue_link(row.id, PURPOSE_LOGIN, CHANNEL_SHOWN)
    failed = OutboxMessage.create(contact=row.id, kind="login", batch="b1", status=OUTBOX_FAILED, attempts=3,
                                  last_error="550 mailbox unavailable", next_attempt_at=clock.now(),
                                  message_id="<m1@portal.example.com>", created_at=clock.now(), created_by="admin")
    assert failed.id
    return contacts.get_contact(row.id), issued


# --- models.history ---------------------------------------------------------------------------------------------


def test_history_reads_links_mail_and_audit_newest_first(ada):
    row, issued = ada
    details = history.contact_history(row.id)
    assert details.contact.email == "ada@example.com"
    assert details.invited_by == "admin"
    assert [(link.purpose, link.channel, link.state) for link in details.links] == [
        ("login", "shown", "open"), ("login", "shown", "superseded")]
    assert details.links[1].ended_at == details.links[0].created_at
    assert details.open_links == 1 and details.link_count == 2
    assert [(m.kind, m.status) for m in details.messages] == [("login", "failed"), ("invite", "queued")]
    assert details.queued_messages == 1 and details.message_count == 2
    assert details.messages[0].last_error == "550 mailbox unavailable"
    assert [entry.action for entry in details.audit][:2] == ["link.login", "link.login"]
    assert details.audit[-1].action == "contact.add"
    assert details.audit_count == len(details.audit)
    # The token is not in anything the view is given.
    assert issued.token not in repr(details)


def test_history_is_bounded_and_counts_the_rest(ada, frozen_clock):
    row, _ = ada
    for _ in range(6):
        frozen_clock[0] += timedelta(minutes=1)
        links.issue_link(row.id, PURPOSE_LOGIN, CHANNEL_SHOWN)
    details = history.contact_history(row.id, limit=3)
    assert len(details.links) == 3 and details.link_count == 8
    assert details.links[0].state == "open" and details.open_links == 1
    assert [link.created_at for link in details.links] == sorted((link.created_at for link in details.links),
                                                                 reverse=True)
    assert len(details.audit) == 3 and details.audit_count > 3


def test_history_tells_expired_from_open(ada, frozen_clock):
    row, _ = ada
    frozen_clock[0] += timedelta(days=30)
    details = history.contact_history(row.id)
    assert details.links[0].state == "expired" and details.open_links == 0


def test_history_of_a_deleted_contact_raises_not_found(ada):
    from models.errors import NotFound

    row, _ = ada
    contacts.delete_contact(row.id)
    with pytest.raises(NotFound):
        history.contact_history(row.id)


# --- the view -------------------------------------------------------------------------------------------------


async def test_enter_opens_the_contact_and_each_section_shows_its_data(ada, portal_app):
    row, issued = ada
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot)
        assert screen.contact.id == row.id
        assert "Ada Lovelace <ada@example.com> · invited · queued" in shown(screen, "#detail-title")
        fields = shown(screen, "#fields")
        for value in ("Ada Lovelace", "ada@example.com", "+44 20 7946 0001", "Analytical Engines"):
            assert value in fields
        status = words(shown(screen, "#status"))
        assert "Status invited" in status
        assert "Invited 2026-11-24 09:30" in status and "Invited by admin" in status
        assert "Invite email queued" in status and "Invite expire" not in status  # no link until it is sent
        links_text = shown(screen, "#links")
        assert "login    shown    2026-11-24 09:40" in links_text
        assert "superseded 2026-11-24 09:40" in links_text and "open" in links_text
        messages = shown(screen, "#messages")
        assert "failed" in messages and "550 mailbox unavailable" in messages and "invite" in messages
        assert "queued" in messages
        audit_text = shown(screen, "#audit")
        for action in ("contact.add", "link.login", "invite"):
            assert action in audit_text
        assert "admin" in audit_text
        assert "1 open link · 1 email queued" in shown(screen, "#detail-status")
        assert issued.token not in everything(screen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


async def test_enter_in_the_search_box_still_goes_to_the_results(ada, portal_app):
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await type_text(pilot, "ada")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        await pilot.press("enter")  # the table has the focus now: this one opens the contact
        await settle(pilot)
        assert isinstance(app.screen, ContactDetailScreen)


async def _revoke_and_check(pilot, app, row) -> None:
    assert isinstance(app.screen, RevokeScreen)
    said = shown(app.screen, ".box")
    assert "1 open link (invitation or login) stops working" in said
    assert "1 queued email will not be sent (skipped)" in said
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app.screen, ContactDetailScreen)
    stored = contacts.get_contact(row.id)
    assert stored.status == STATUS_REVOKED and stored.revoked_at is not None
    open_links = MagicLink.select().where((MagicLink.contact == row.id) & MagicLink.used_at.is_null()
                                          & MagicLink.revoked_at.is_null() & MagicLink.superseded_at.is_null())
    assert open_links.count() == 0
    statuses = {m.status for m in OutboxMessage.select().where(OutboxMessage.contact == row.id)}
    assert OUTBOX_QUEUED not in statuses and OUTBOX_SKIPPED in statuses
    assert history.contact_history(row.id).audit[0].action == "revoke"
    assert "revoked" in shown(app.screen, "#detail-title")
    status = words(shown(app.screen, "#status"))
    assert "Revoked 2026-11-24 09:40" in status and "Revoked by admin" in status
    # What a revoked contact cannot have is no longer offered.
    names = {name for name, _, _ in app.screen.palette_commands()}
    assert "Revoke access" not in names and "Copy magic link for this contact" not in names
    assert "Invite this contact" in names


async def test_revoke_by_key_asks_then_ends_access(ada, portal_app):
    row, _ = ada
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot)
        await pilot.press("r")
        await settle(pilot)
        await _revoke_and_check(pilot, app, row)


async def test_revoke_by_palette(ada, portal_app):
    row, _ = ada
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot)
        await palette(pilot, "Revoke access")
        await _revoke_and_check(pilot, app, row)


async def test_escape_in_the_revoke_box_keeps_access(ada, portal_app):
    row, _ = ada
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot)
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ContactDetailScreen)
        assert contacts.get_contact(row.id).status == STATUS_INVITED


async def test_edit_by_key_changes_the_fields(ada, portal_app):
    row, _ = ada
    app = portal_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_detail(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, EditContactScreen)
        await pilot.press("tab")  # to the last name
        app.screen.query_one("#last-name").value = ""
        await type_text(pilot, "Byron")
        await pilot.press("tab", "tab")  # past the phone, to the company
        app.screen.query_one("#company").value = ""
        await type_text(pilot, "Babbage & Co")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        stored = contacts.get_contact(row.id)
        assert (stored.first_name, stored.last_name, stored.company, stored.phone) == (
            "Ada", "Byron", "Babbage & Co", "+44 20 7946 0001")
        entry = history.contact_history(row.id).audit[0]
        assert entry.action == "contact.update" and entry.detail == "company, last_name"
        assert "Ada Byron" in shown(screen, "#fields") and "Babbage & Co" in shown(screen, "#fields")
        assert "Ada Byron <ada@example.com>" in shown(screen, "#detail-title")


async def test_edit_by_palette(ada, portal_app):
    row, _ = ada
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot)
        await palette(pilot, "Edit contact")
        assert isinstance(app.screen, EditContactScreen)
        app.screen.query_one("#phone").value = "+1 555 0100"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ContactDetailScreen)
        assert contacts.get_contact(row.id).phone == "+1 555 0100"


async def test_edit_refuses_bad_input_with_one_line_and_keeps_the_typing(ada, portal_app):
    row, _ = ada
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot)
        await pilot.press("e")
        await settle(pilot)
        box = app.screen.query_one("#first-name")
        box.value = "Ada\x00"
        app.screen.query_one("#company").value = "Kept"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EditContactScreen)
        said = shown(app.screen, "#outcome")
        assert said.strip() == "✗ Not saved: first name contains a NUL byte"
        assert app.screen.query_one("#company").value == "Kept"
        stored = contacts.get_contact(row.id)
        assert (stored.first_name, stored.company) == ("Ada", "Analytical Engines")


async def test_edit_with_nothing_changed_writes_nothing(ada, portal_app):
    row, _ = ada
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot)
        before = history.contact_history(row.id).audit
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ContactDetailScreen)
        assert history.contact_history(row.id).audit == before


@pytest.mark.parametrize("by", ["key", "palette"])
async def test_invite_from_the_view_queues_the_invitation(by, db, frozen_clock, fixed_actor, portal_app):
    row = contacts.add_contact("grace@example.com", "Grace", "Hopper")
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot)
        names = {name for name, _, _ in screen.palette_commands()}
        assert "Invite this contact" in names and "Resend invitation" not in names
        if by == "key":
            await pilot.press("i")
            await settle(pilot)
        else:
            await palette(pilot, "Invite this contact")
        assert isinstance(app.screen, InviteScreen)
        assert app.screen.query_one("#email").value == "grace@example.com"
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("enter")  # close the box once sent
        await settle(pilot)
        assert app.screen is screen
        assert contacts.get_contact(row.id).status == STATUS_INVITED
        assert [m.kind for m in OutboxMessage.select().where(OutboxMessage.contact == row.id)] == ["invite"]
        assert "invite" in shown(screen, "#messages")
        assert "Resend invitation" in {name for name, _, _ in screen.palette_commands()}


async def test_resend_by_palette_sends_a_new_invitation(ada, portal_app):
    row, _ = ada
    OutboxMessage.update(status="sent").where(OutboxMessage.contact == row.id).execute()
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot)
        await palette(pilot, "Resend invitation")
        assert isinstance(app.screen, InviteScreen)
        await pilot.press("enter")
        await settle(pilot)
        kinds = [m.kind for m in OutboxMessage.select().where(OutboxMessage.contact == row.id)]
        assert kinds.count("invite") == 2
        assert contacts.get_contact(row.id).invite_count == 2


@pytest.mark.parametrize("by", ["key", "palette"])
async def test_login_email_from_the_view_queues_one_for_this_contact(by, ada, portal_app):
    row, _ = ada
    contacts.add_contact("other@example.com", "Zoe", "Zed")  # sorted after Ada, who has the cursor
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot)
        if by == "key":
            await pilot.press("l")
            await settle(pilot)
        else:
            await palette(pilot, "Send login email to this contact")
        assert isinstance(app.screen, LoginEmailScreen)
        assert app.screen.contact_ids == [row.id]
        await pilot.press("enter")
        await settle(pilot)
        logins = OutboxMessage.select().where((OutboxMessage.kind == "login") & (OutboxMessage.batch != "b1"))
        assert [m.contact_id for m in logins] == [row.id]


@pytest.mark.parametrize("by", ["key", "palette"])
async def test_magic_link_from_the_view_issues_a_shown_link(by, ada, portal_app):
    row, issued = ada
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot)
        if by == "key":
            await pilot.press("m")
        else:
            await palette(pilot, "Copy magic link for this contact")
        await settle(pilot)
        assert isinstance(app.screen, MagicLinkScreen)
        assert app.screen.contact.id == row.id and app.screen.link is not None
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        shown_links = MagicLink.select().where((MagicLink.contact == row.id) & (MagicLink.channel == CHANNEL_SHOWN))
        assert shown_links.count() == 3
        assert history.contact_history(row.id).link_count == 3
        # Two superseded now, the newest open; the view read it again, and shows no token.
        assert shown(screen, "#links").count("superseded") == 2
        assert app.clipboard.split("/")[-1] not in everything(screen)


async def test_the_view_follows_changes_made_elsewhere(ada, portal_app):
    row, _ = ada
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot)

        def revoke_elsewhere() -> None:  # another admin: another connection
            with database.connection_context():
                links.revoke_access(row.id)

        await asyncio.to_thread(revoke_elsewhere)
        for _ in range(60):
            await pilot.pause(0.05)
            if "revoked" in shown(screen, "#detail-title"):
                break
        await settle(pilot)
        assert "revoked" in shown(screen, "#detail-title")
        assert "0 open links · 0 emails queued" in shown(screen, "#detail-status")


async def test_a_contact_deleted_elsewhere_says_so_and_offers_nothing(ada, portal_app):
    row, _ = ada
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot)

        def delete_elsewhere() -> None:
            with database.connection_context():
                contacts.delete_contact(row.id)

        await asyncio.to_thread(delete_elsewhere)
        for _ in range(60):
            await pilot.pause(0.05)
            if screen.gone:
                break
        await settle(pilot)
        assert "no longer exists" in shown(screen, "#problem")
        assert {name for name, _, _ in screen.palette_commands()} == {"Back to contacts"}
        await pilot.press("r")
        await settle(pilot)
        assert app.screen is screen


async def test_hostile_name_is_shown_literally(db, frozen_clock, fixed_actor, portal_app):
    contacts.add_contact("mallory@example.com", HOSTILE_NAME, "[/]", company="[link=http://evil]co[/link]",
                         phone="\x1b[2J")
    app = portal_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_detail(pilot)
        text = everything(screen)
        assert "\x1b" not in text and "\x07" not in text
        assert words(visible(HOSTILE_NAME)) in words(shown(screen, "#fields"))
        assert "[link=http://evil]co[/link]" in shown(screen, "#fields")
        assert words(visible(HOSTILE_NAME)) in words(shown(screen, "#detail-title"))
        await pilot.press("e")
        await settle(pilot)
        # The edit box shows the name made visible; saving another field leaves the stored name as it was.
        assert app.screen.query_one("#first-name").value == visible(HOSTILE_NAME)
        app.screen.query_one("#company").value = "Evil Corp"
        await pilot.press("enter")
        await settle(pilot)
        stored = contacts.find_contact("mallory@example.com")
        assert stored.first_name == HOSTILE_NAME and stored.company == "Evil Corp" and stored.phone == "\x1b[2J"
        for note in app._notifications:
            assert "\x1b" not in note.message


async def test_help_in_the_view_lists_its_keys(ada, portal_app):
    from tui.screens.help import HelpScreen

    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        keys = {key for _, rows in app.screen.sections for key, _ in rows}
        assert {"esc", "i", "l", "m", "e", "r"} <= keys
