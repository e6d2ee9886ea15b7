"""Pilot tests: every dashboard action driven with keys, asserting on the database, the outbox and the SMTP server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from models import audit, contacts, demo, domains, links, outbox
from models.contacts import ContactQuery
from models.entities import OutboxMessage
from tests.fixtures_tui import HOSTILE_NAME, settle
from tui.screens.add_contact import AddContactScreen
from tui.screens.audit import AuditScreen
from tui.screens.domains import DomainsScreen
from tui.screens.import_csv import ImportCsvScreen
from tui.screens.help import HelpScreen
from tui.screens.invite import InviteScreen
from tui.screens.login_email import LoginEmailScreen
from tui.screens.magic_link import MagicLinkScreen
from tui.screens.outbox import OutboxScreen
from tui.screens.main import EmptyState, MainScreen
from tui.screens.portal_url import PortalUrlScreen
from tui.widgets.contact_table import ContactTable
from tui.widgets.stats_header import StatsHeader


def table_of(app) -> ContactTable:
    return app.screen.query_one(ContactTable) if isinstance(app.screen, MainScreen) else app.main_screen.table


def shown_emails(app) -> list[str]:
    table = table_of(app)
    return [table.cell_text(row.id, "email") for row in table.shown_rows]


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in text])


# --- opening ------------------------------------------------------------------------------------------------


async def test_first_run_shows_the_empty_state_and_adding_a_contact_leaves_it(portal_app):
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        assert app.screen.query_one(EmptyState).display
        assert not app.screen.query_one(ContactTable).display
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AddContactScreen)
        await type_text(pilot, "not an address")
        await settle(pilot)
        assert "not a valid email" in str(app.screen.query_one("#check").render())
        await pilot.press(*["backspace"] * 20)
        await type_text(pilot, "ada@example.com")
        await pilot.press("tab")
        await type_text(pilot, "Ada")
        await pilot.press("tab")
        await type_text(pilot, "Lovelace")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert contacts.find_contact("ada@example.com").full_name == "Ada Lovelace"
        assert not app.screen.query_one(EmptyState).display
        assert shown_emails(app) == ["ada@example.com"]


async def test_the_table_pages_a_large_result_without_loading_it(portal_app):
    demo.seed(1_000)
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = table_of(app)
        assert table.total == 1_000
        assert table.row_count == table.shown_count < 30
        expected = contacts.contact_page(ContactQuery(), 0, 1_000).rows
        await pilot.press("end")
        await settle(pilot)
        assert table.highlighted.id == expected[-1].id
        await pilot.press("home")
        await settle(pilot)
        assert table.highlighted.id == expected[0].id
        for _ in range(12):
            await pilot.press("pagedown")
        await settle(pilot)
        assert table.highlighted.id == expected[table.cursor_index].id
        assert table.cursor_index > 200  # beyond the first window: a new one was fetched
        for _ in range(5):
            await pilot.press("up")
        await settle(pilot)
        assert table.highlighted.id == expected[table.cursor_index].id


# --- search, filter, sort, selection --------------------------------------------------------------------------


async def test_search_filter_sort_and_selection(portal_app):
    demo.seed(300)
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        table = table_of(app)
        await pilot.press("slash")
        await type_text(pilot, "hopper")
        await settle(pilot)
        expected = contacts.contact_page(ContactQuery(search="hopper"), 0, 500)
        assert table.total == expected.total > 0
        assert all("hopper" in email for email in shown_emails(app))

        await pilot.press("enter")  # to the results
        assert app.focused is table
        await pilot.press("f", "f", "f")  # all -> not invited -> invited -> joined
        await settle(pilot)
        joined = contacts.contact_page(ContactQuery(search="hopper", status="joined"), 0, 500)
        assert table.total == joined.total
        assert {r.id for r in joined.rows} >= {row.id for row in table.shown_rows}

        await pilot.press("s")  # sort by email
        await settle(pilot)
        assert table.query_spec.sort == "email"
        assert shown_emails(app) == sorted(shown_emails(app))
        await pilot.press("S")
        await settle(pilot)
        assert shown_emails(app) == sorted(shown_emails(app), reverse=True)

        await pilot.press("space")
        first = table.highlighted.id
        assert table.selected == {first}
        assert table.cell_text(first, "mark") == "●"
        assert table.render_line(table.header_height + table.cursor_index - table.top_index).text.startswith(" ●")
        await pilot.press("down", "space")
        assert len(table.selected) == 2

        await pilot.press("ctrl+a")
        await settle(pilot)
        assert table.selected == set(contacts.contact_ids(ContactQuery(search="hopper", status="joined")))

        await pilot.press("escape")  # clears the selection first
        await settle(pilot)
        assert table.selected == set()
        await pilot.press("escape")  # then the search and the filter
        await settle(pilot)
        assert table.total == 300


async def test_a_one_letter_search_shows_contacts_first_and_counts_them_after(portal_app, monkeypatch):
    """A one-letter word is answered by walking the sort order (no count); the table shows the window at once,
    says the total is a lower bound, and the count follows from the counting thread. Typing on interrupts a
    count no one needs, and the last word's count is the one that stays."""
    from tui.widgets import contact_table

    demo.seed(400)
    counted: list[str] = []
    real_count = contact_table.count_matches

    def count_slowly(query):
        counted.append(query.search)
        return real_count(query)

    monkeypatch.setattr(contact_table, "count_matches", count_slowly)
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = table_of(app)
        await pilot.press("slash", "e")
        await settle(pilot)
        expected = contacts.count_contacts(ContactQuery(search="e"))
        assert expected > 200  # more than a window: found without counting
        assert counted == ["e"] and table.counted and table.total == expected
        status = str(app.screen.query_one("#table-status").render())
        assert f"of {expected:,}" in status and "counting" not in status
        assert [row.id for row in table.shown_rows] == [
            r.id for r in contacts.contact_page(ContactQuery(search="e"), 0, table.shown_count).rows
        ]
        await pilot.press("enter", "end")  # the whole result can be walked once counted
        await settle(pilot)
        assert table.cursor_index == expected - 1

        await pilot.press("slash", "backspace", "a", "backspace", "o")
        await settle(pilot)
        assert table.query_spec.search == "o" and table.counted
        assert table.total == contacts.count_contacts(ContactQuery(search="o"))
        await pilot.press("x")  # "ox": two letters, counted by the index at once
        await settle(pilot)
        assert table.counted and table.total == contacts.count_contacts(ContactQuery(search="ox"))


async def test_the_bottom_line_shows_the_keys_that_apply_and_a_click_on_one_runs_it(portal_app):
    from tui.widgets.key_hints import KeyHints

    demo.seed(5)
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        hints = app.screen.query_one(KeyHints)
        line = hints.render().plain
        for label in ("/ Search", "i Invite", "l Login email", "m Magic link", "u URL", "? Help", "^p palette"):
            assert label in line, label
        assert line.rstrip().endswith("palette") and len(line.rstrip()) <= 100
        await pilot.click(KeyHints, offset=(line.index("i Invite") + 1, 0))
        await settle(pilot)
        assert isinstance(app.screen, InviteScreen)
        await pilot.press("escape")
        await settle(pilot)

        await pilot.press("slash")  # in the search box letters type: the line says what enter and escape do
        await pilot.pause()
        line = hints.render().plain
        assert "Results" in line and "Invite" not in line
        await pilot.click(KeyHints, offset=(line.index("Results"), 0))
        await pilot.pause()
        assert app.focused is table_of(app)
        assert "Invite" in hints.render().plain


def client_portal(db_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the real command in its own process, as another admin would."""
    return subprocess.run(
        [sys.executable, "-c", "from tui.cli import main; main()", "--db", str(db_path), *args],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parent.parent,
    )


async def test_selection_and_cursor_survive_a_change_made_by_another_process(portal_app, db_path):
    demo.seed(50)
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = table_of(app)
        await pilot.press("down", "down", "down", "space")
        highlighted = table.highlighted
        before = app.screen.query_one(StatsHeader).info.stats
        # Another admin in another process invites someone new.
        result = await asyncio.to_thread(client_portal, db_path, "invite", "newcomer@example.com")
        assert result.returncode == 0, result.stderr
        for _ in range(40):  # the dashboard must notice within 2 seconds
            await pilot.pause(0.05)
            if table.total == 51:
                break
        await settle(pilot)
        after = app.screen.query_one(StatsHeader).info.stats
        assert after.contacts == before.contacts + 1
        assert after.outbox_queued == before.outbox_queued + 1
        assert table.total == 51
        assert table.highlighted.id == highlighted.id
        assert table.selected == {highlighted.id}


# --- copying ------------------------------------------------------------------------------------------------


async def test_copy_portal_url_uses_osc52_when_there_is_no_local_clipboard(portal_app, headless_clipboard):
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.press("u")
        await settle(pilot)
        assert isinstance(app.screen, PortalUrlScreen)
        assert app.clipboard == "https://portal.example.com/"
        assert headless_clipboard == ["https://portal.example.com/"]  # tried, raised, did not crash
        assert "portal.example.com" in str(app.screen.query_one("#url").render())
        assert any("Copied the portal URL" in n.message for n in app._notifications)
        await pilot.press("enter")
        assert isinstance(app.screen, MainScreen)


async def _magic_link_box(pilot) -> MagicLinkScreen:
    """Press m on the dashboard; the magic-link box, its link made."""
    await settle(pilot)
    await pilot.press("m")
    await settle(pilot)
    assert isinstance(pilot.app.screen, MagicLinkScreen)
    return pilot.app.screen


async def test_copy_magic_link_issues_a_working_link_and_can_revoke_it(portal_app):
    row = contacts.add_contact("grace@example.com", "Grace", "Hopper")
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await _magic_link_box(pilot)
        url = app.clipboard
        assert url.startswith("https://portal.example.com/login/")
        assert url in str(app.screen.query_one("#url").render())
        assert "expires 2026-11-25 09:30" in str(app.screen.query_one("#expiry").render())
        assert links.current_link(row.id).state == "open"
        await pilot.press("r")  # asks first: the link may be in a client's hands already
        await settle(pilot)
        assert "Press r again to revoke this link" in str(app.screen.query_one("#status").render())
        assert links.current_link(row.id).state == "open"
        await pilot.press("r")
        await settle(pilot)
        assert links.current_link(row.id).state == "revoked"
        with pytest.raises(links.RedeemFailed):
            links.redeem(url)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_one_r_then_another_key_keeps_the_magic_link(portal_app):
    row = contacts.add_contact("grace@example.com", "Grace", "Hopper")
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = await _magic_link_box(pilot)
        await pilot.press("r", "x")  # any key but r keeps it; a later single r asks again
        await settle(pilot)
        assert "Kept: the link still works." in str(screen.query_one("#status").render())
        await pilot.press("r")
        await settle(pilot)
        assert links.current_link(row.id).state == "open"
        await pilot.press("enter")
        assert isinstance(app.screen, MainScreen)
    assert links.current_link(row.id).state == "open"
    links.redeem(app.clipboard)  # the link shown still signs them in


# --- mail ---------------------------------------------------------------------------------------------------


@pytest.fixture
def smtp_env(smtp_server, monkeypatch):
    for key, value in smtp_server.env().items():
        monkeypatch.setenv(key, value)
    return smtp_server


async def test_invite_a_new_address_sends_the_invitation(portal_app, smtp_env):
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, InviteScreen)
        await type_text(pilot, "katherine@")
        await settle(pilot)
        assert "not a valid email" in str(app.screen.query_one("#check").render())
        await type_text(pilot, "example.com")
        await pilot.press("tab")
        await type_text(pilot, "Katherine")
        await settle(pilot)
        assert "is new" in str(app.screen.query_one("#check").render())
        preview = app.screen.query_one("#preview").text.plain
        assert "Subject:" in preview and "Katherine" in preview
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.stage == "done"
        assert smtp_env.handler.wait_for(1)
        assert list(smtp_env.handler.by_recipient()) == ["katherine@example.com"]
        contact = contacts.find_contact("katherine@example.com")
        assert contact.status == "invited" and contact.first_name == "Katherine"
        assert [r.status for r in outbox.list_outbox()] == ["sent"]
        await pilot.press("enter")
        assert isinstance(app.screen, MainScreen)
        await settle(pilot)
        assert app.screen.query_one(StatsHeader).info.stats.invited == 1


async def test_login_email_to_a_selection_reports_skipped_and_failed(portal_app, smtp_env):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    contacts.add_contact("bob@example.com", "Bob", "Bounce")
    eve = contacts.add_contact("eve@example.com", "Eve", "Revoked")
    links.revoke_access(eve.id)
    smtp_env.handler.reject("bob@example.com")
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+a")
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LoginEmailScreen)
        assert "2 recipients, 1 skipped" in str(screen.query_one("#recipients").render())
        assert "eve@example.com: access revoked" in str(screen.query_one("#skipped").render())
        assert OutboxMessage.select().count() == 0  # nothing queued before the confirm
        await pilot.press("enter")
        await settle(pilot)
        assert screen.stage == "done"
        status = str(screen.query_one("#send-status").render())
        assert "Sent 1" in status and "Failed 1" in status
        assert "bob@example.com" in status and "550" in status
        assert list(smtp_env.handler.by_recipient()) == ["ada@example.com"]
        counts = outbox.outbox_counts()
        assert counts["sent"] == 1 and counts["failed"] == 1
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert any("failed 1" in n.message for n in app._notifications)


async def test_a_send_can_be_cancelled_and_the_ui_stays_responsive(portal_app, smtp_env):
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
        await pilot.pause(0.1)
        screen = app.screen
        assert screen.stage == "sending"
        await pilot.press("escape")  # cancel: handled at once although the sender is blocked
        assert screen.query_one("#send").cancel_event.is_set()
        smtp_env.handler.release()
        await settle(pilot)
        assert screen.stage == "done"
        assert "Cancelled" in str(screen.query_one("#send-status").render())
        counts = outbox.outbox_counts()
        assert counts["sent"] == 2 and counts["queued"] == 3


# --- hostile data ---------------------------------------------------------------------------------------------


async def test_a_hostile_name_is_shown_literally_everywhere(portal_app):
    row = contacts.add_contact("mallory@example.com", HOSTILE_NAME, "")
    app = portal_app()
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await settle(pilot)
        table = table_of(app)
        cell = table.cell_text(row.id, "name")
        assert "\x1b" not in cell and "\x07" not in cell
        assert "␛]52;c;aGk=␇" in cell and "[link=http://evil]x[/link]" in cell
        assert cell.startswith("[/x] <a@b>")
        index = [shown.id for shown in table.shown_rows].index(row.id)
        painted = table.render_line(table.header_height + index)  # what reaches the terminal
        assert "\x1b" not in painted.text and "\x07" not in painted.text
        assert "[/x] <a@b>" in painted.text
        assert not any(segment.style and segment.style.link for segment in painted)
        await pilot.press("m")  # its name is in the modal and in the notification
        await settle(pilot)
        assert "[/x] <a@b>" in str(app.screen.query_one("#who").render())
        await pilot.press("escape")
        await pilot.press("i")
        await settle(pilot)
        await pilot.press("escape")
        await pilot.press("l")
        await settle(pilot)
        preview = app.screen.query_one("#preview").text.plain
        assert "\x1b" not in preview
        await pilot.press("escape")
        for n in app._notifications:
            assert "\x1b" not in n.message


# --- the rest of the keys ---------------------------------------------------------------------------------------


async def test_help_lists_every_key_and_the_palette_every_action(portal_app):
    contacts.add_contact("ada@example.com")
    app = portal_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        main = app.screen
        commands = {title for title, _, _ in main.palette_commands()}
        assert commands == {declared.title for _, declared in main.declared_actions()}
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        listed = {key for _, rows in app.screen.sections for keys, *_ in rows for key in keys.split()}
        for binding in MainScreen.BINDINGS + ContactTable.BINDINGS:
            for key in binding.key.split(","):
                assert app.get_key_display(Binding(key, binding.action)) in listed, key
        await pilot.press("escape")
        assert app.screen is main


async def test_import_csv_reports_bad_rows_and_keeps_good_ones(portal_app, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Name,E-mail Address,Company\nAda Lovelace,ada@example.com,Acme\nNo Mail,,x\n"
                    "Bad,not-an-address,y\nGrace Hopper,grace@example.com,\n")
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ImportCsvScreen)
        await type_text(pilot, str(tmp_path / "missing.csv"))
        await pilot.press("enter")  # no such file: nothing happens
        assert app.screen.stage == "form"
        app.screen.query_one("#path").value = str(path)
        await pilot.press("enter")
        await settle(pilot)
        report = str(app.screen.query_one("#report").render())
        assert "Imported 2 contacts, skipped 2 rows" in report
        assert "line 3: no email address" in report and "line 4:" in report
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert sorted(shown_emails(app)) == ["ada@example.com", "grace@example.com"]


async def test_domains_add_and_select_update_the_url(portal_app):
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, DomainsScreen)
        await type_text(pilot, "not a domain")
        await settle(pilot)
        assert "not a domain name" in str(app.screen.query_one("#check").render())
        app.screen.query_one("#new-domain").value = ""
        await type_text(pilot, "clients.agency.test")
        await pilot.press("enter")
        await settle(pilot)
        assert [d.name for d in domains.list_domains()] == ["portal.example.com", "clients.agency.test"]
        await pilot.press("tab", "down", "enter")  # select the new one for links
        await settle(pilot)
        assert domains.portal_url() == "https://clients.agency.test/"
        assert "clients.agency.test" in str(app.screen.query_one("#url").render())
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.query_one(StatsHeader).info.url == "https://clients.agency.test/"
        await pilot.press("u")
        await settle(pilot)
        assert isinstance(app.screen, PortalUrlScreen), (app.screen, app.focused)
        assert app.clipboard == "https://clients.agency.test/"


async def test_outbox_shows_failed_mail_and_retries_it(portal_app, smtp_env):
    row = contacts.add_contact("flaky@example.com")
    smtp_env.handler.reject("flaky@example.com")
    outbox.queue_login_emails([row.id])
    app = portal_app()
    async with app.run_test(size=(110, 30), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, OutboxScreen)
        await pilot.press("s")  # send what is queued: the server refuses it
        await settle(pilot)
        assert outbox.outbox_counts()["failed"] == 1
        assert "550" in str(app.screen.query_one(DataTable).get_row_at(0)[4])
        smtp_env.handler._rejected.clear()
        await pilot.press("f")  # failed only
        await settle(pilot)
        assert app.screen.query_one(DataTable).row_count == 1
        await pilot.press("r")  # retry: queued again and sent
        await settle(pilot)
        assert smtp_env.handler.wait_for(1)
        assert outbox.outbox_counts()["sent"] == 1 and outbox.outbox_counts()["failed"] == 0


async def test_audit_view_lists_what_was_done(portal_app):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    app = portal_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        table = app.screen.query_one(DataTable)
        actions = [str(table.get_row_at(i)[2]) for i in range(table.row_count)]
        assert actions == [row.action for row in audit.recent(200)]
        assert "contact.add" in actions


async def test_every_palette_command_opens_its_action(portal_app):
    contacts.add_contact("ada@example.com")
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await type_text(pilot, "Copy portal URL")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PortalUrlScreen)
