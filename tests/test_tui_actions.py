"""Every command-line action in the dashboard (issue 13): revoke access, export to CSV and settings, each by its
key and by the command palette, and removing a domain in the domains box; each test asserts on the database (or
the file written). Real components: a SQLite file under tmp_path, real files, the real `client-portal` command.
"""

from __future__ import annotations

import csv
import io

import pytest

from models import contacts, csv_io, domains, links, portal, settings
from models.contacts import ContactQuery
from models.entities import OUTBOX_QUEUED, OUTBOX_SKIPPED, STATUS_REVOKED, MagicLink, OutboxMessage
from tests.fixtures_tui import HOSTILE_NAME, settle
from tui.screens.domains import DomainsScreen, RemoveDomainScreen
from tui.screens.export_csv import ExportCsvScreen
from tui.screens.main import MainScreen
from tui.screens.revoke import RevokeScreen
from tui.screens.settings import FIELDS as SETTINGS_FIELDS, SettingsScreen

SIZE = (100, 34)


def shown(screen, selector: str) -> str:
    """The text a widget (or every `Static` in a container) draws, all lines, words joined by one space (a long
    line wraps)."""
    from textual.widgets import Static

    widget = screen.query_one(selector)
    parts = [widget] if isinstance(widget, Static) else list(widget.query(Static))
    lines = [part.render_line(y).text for part in parts for y in range(part.size.height)]
    return " ".join(" ".join(lines).split())


def squeezed(text: str) -> str:
    """`text` without whitespace: a long path wraps anywhere in a narrow box."""
    return "".join(text.split())


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in text])


async def palette(pilot, name: str) -> None:
    await pilot.press("ctrl+p")
    await settle(pilot)
    await type_text(pilot, name)
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


def open_links(contact_id: int) -> int:
    return MagicLink.select().where((MagicLink.contact == contact_id) & MagicLink.used_at.is_null()
                                    & MagicLink.revoked_at.is_null() & MagicLink.superseded_at.is_null()).count()


@pytest.fixture
def people(db, frozen_clock, fixed_actor):
    """Ada (invited: her invitation queued, and a login link shown), Bob (invited), Cy (not invited), and
    Dee, whose access is already revoked. The table sorts by name: Ada, Bob, Cy, Dee."""
    ada = contacts.add_contact("ada@example.com", "Ada", "Adams")
    bob = contacts.add_contact("bob@example.com", "Bob", "Brown")
    cy = contacts.add_contact("cy@example.com", "Cy", "Clark")
    dee = contacts.add_contact("dee@example.com", "Dee", "Dunn")
    portal.invite(["ada@example.com", "bob@example.com", "dee@example.com"])
    links.issue_link("ada@example.com")
    links.revoke_access("dee@example.com")
    return {"ada": ada, "bob": bob, "cy": cy, "dee": dee}


# --- revoke ---------------------------------------------------------------------------------------------------


async def test_revoke_the_highlighted_contact_by_key_says_what_stops_working(people, portal_app):
    ada, bob = people["ada"], people["bob"]
    assert open_links(ada.id) == 1
    app = portal_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        assert app.screen.table.highlighted.id == ada.id
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, RevokeScreen)
        said = shown(app.screen, "#dialog-body")
        assert "End Ada Adams <ada@example.com>'s access to the portal?" in said
        assert "1 open link (invitation or login) stops working (revoked)" in said
        assert "1 queued email will not be sent (skipped)" in said
        assert "they can no longer sign in" in said
        assert "To undo: invite them again" in said
        assert "enter revokes their access" in said
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    stored = contacts.get_contact(ada.id)
    assert stored.status == STATUS_REVOKED and stored.revoked_at is not None
    assert open_links(ada.id) == 0
    statuses = {m.status for m in OutboxMessage.select().where(OutboxMessage.contact == ada.id)}
    assert OUTBOX_QUEUED not in statuses and OUTBOX_SKIPPED in statuses
    assert contacts.get_contact(bob.id).status == "invited"  # only the highlighted one


async def test_revoke_the_selection_by_palette_names_the_count(people, portal_app):
    ada, bob, cy, dee = people["ada"], people["bob"], people["cy"], people["dee"]
    app = portal_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("space", "down", "space", "down", "down", "space")  # Ada, Bob and Dee (revoked)
        await settle(pilot)
        assert app.screen.table.selected == {ada.id, bob.id, dee.id}
        await palette(pilot, "Revoke access")
        assert isinstance(app.screen, RevokeScreen)
        said = shown(app.screen, "#dialog-body")
        assert "End the portal access of 2 contacts (ada@example.com, bob@example.com)?" in said
        assert "1 open link (invitation or login) stops working" in said
        assert "2 queued emails will not be sent (skipped)" in said
        assert "(1 contact already revoked is left as they are)" in said
        assert "enter revokes the access of 2 contacts" in said
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    assert [contacts.get_contact(c.id).status for c in (ada, bob, cy)] == [STATUS_REVOKED, STATUS_REVOKED,
                                                                            "not_invited"]
    assert open_links(ada.id) == open_links(bob.id) == 0


async def test_escape_in_the_revoke_box_keeps_access(people, portal_app):
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    assert contacts.get_contact(people["ada"].id).status == "invited"
    assert open_links(people["ada"].id) == 1


async def test_revoking_an_already_revoked_contact_says_so_and_changes_nothing(people, portal_app):
    dee = people["dee"]
    before = contacts.get_contact(dee.id).revoked_at
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("G")  # Dee is last
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert "This contact's access is already revoked: nothing to do." in shown(app.screen, "#dialog-body")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    assert contacts.get_contact(dee.id).revoked_at == before


async def test_revoke_on_an_empty_dashboard_says_why(db, portal_app):
    app = portal_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any("No contacts yet" in n.message for n in app._notifications)


async def test_revoke_box_shows_a_hostile_name_literally(db, frozen_clock, portal_app):
    row = contacts.add_contact("evil@example.com", HOSTILE_NAME)
    app = portal_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        said = shown(app.screen, "#question")
        assert "[/x] <a@b> ␛[31mred" in said and "[link=http://evil]x[/link] [bold]" in said
        await pilot.press("enter")
        await settle(pilot)
    assert contacts.get_contact(row.id).status == STATUS_REVOKED


# --- export ---------------------------------------------------------------------------------------------------


def rows_of(path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


async def set_path(pilot, path) -> None:
    box = pilot.app.screen.query_one("#path")
    box.value = ""
    await type_text(pilot, str(path))
    await settle(pilot)


async def test_export_everything_by_key_writes_what_the_command_line_writes(people, portal_app, cli, tmp_path):
    target = tmp_path / "dash.csv"
    app = portal_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ExportCsvScreen)
        assert "Export every contact (4)" in shown(app.screen, "#dialog-body")
        await set_path(pilot, target)
        assert squeezed(f"→ writes {target}") in squeezed(shown(app.screen, "#check"))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any(f"Exported 4 contacts to {target}" in n.message for n in app._notifications)
    assert cli("contacts", "export", str(tmp_path / "cli.csv")).exit_code == 0
    assert target.read_bytes() == (tmp_path / "cli.csv").read_bytes()
    assert target.stat().st_mode & 0o077 == 0


async def test_export_the_selection_by_palette(people, portal_app, tmp_path):
    target = tmp_path / "chosen.csv"
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "space", "down", "space")  # Bob and Cy
        await settle(pilot)
        await palette(pilot, "Export CSV")
        assert isinstance(app.screen, ExportCsvScreen)
        assert "Export the 2 selected contacts" in shown(app.screen, "#dialog-body")
        await set_path(pilot, target)
        await pilot.press("enter")
        await settle(pilot)
    rows = rows_of(target)
    assert rows[0] == list(csv_io.EXPORT_COLUMNS)
    assert [row[0] for row in rows[1:]] == ["bob@example.com", "cy@example.com"]


async def test_export_what_the_search_and_filter_show(people, portal_app, tmp_path):
    target = tmp_path / "invited.csv"
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f", "f")  # all -> not invited -> invited
        await settle(pilot)
        assert app.screen.table.query_spec.status == "invited"
        await pilot.press("e")
        await settle(pilot)
        assert "Export the 2 contacts the search and filter show" in shown(app.screen, "#dialog-body")
        await set_path(pilot, target)
        await pilot.press("enter")
        await settle(pilot)
    expected = contacts.contact_ids(ContactQuery(status="invited"))
    assert sorted(row[0] for row in rows_of(target)[1:]) == ["ada@example.com", "bob@example.com"]
    assert len(expected) == 2


async def test_export_asks_before_replacing_a_file(people, portal_app, tmp_path):
    target = tmp_path / "old.csv"
    target.write_text("keep me\n")
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        await set_path(pilot, target)
        assert squeezed("exists: enter asks before replacing it") in squeezed(shown(app.screen, "#check"))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ExportCsvScreen)
        assert squeezed("already exists: enter again replaces it") in squeezed(shown(app.screen, "#check"))
        assert target.read_text() == "keep me\n"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    assert len(rows_of(target)) == 5


async def test_export_to_a_missing_folder_reports_the_error_and_keeps_the_path(people, portal_app, tmp_path):
    target = tmp_path / "nowhere" / "x.csv"
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        await set_path(pilot, target)
        assert squeezed(f"✗ no folder {target.parent}") in squeezed(shown(app.screen, "#check"))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ExportCsvScreen)
        assert squeezed(f"✗ Not exported: cannot write {target}: No such file or directory") in squeezed(
            shown(app.screen, "#outcome"))
        assert app.screen.query_one("#path").value == str(target)
    assert not target.parent.exists()


# --- settings -------------------------------------------------------------------------------------------------


async def test_settings_by_key_saves_the_changed_fields(db, frozen_clock, fixed_actor, portal_app):
    app = portal_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("comma")
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        screen = app.screen
        assert screen.box("agency_name").value == "Your agency"
        assert "Sent as Your agency <portal@portal.example.com>" in shown(screen, "#sender")
        screen.box("agency_name").value = ""
        await type_text(pilot, "Acme Studio")
        await settle(pilot)
        assert "Sent as Acme Studio <portal@portal.example.com>" in shown(screen, "#sender")
        screen.box("send_rate").focus()
        screen.box("send_rate").value = ""
        await type_text(pilot, "2.5")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    assert settings.get("agency_name") == "Acme Studio"
    assert settings.get("send_rate") == 2.5
    assert settings.get("invite_ttl_hours") == 168  # untouched
    from models.entities import AuditEntry
    assert {e.subject for e in AuditEntry.select().where(AuditEntry.action == "setting")} == {"agency_name",
                                                                                              "send_rate"}


async def test_settings_by_palette_refuses_what_the_cli_refuses_and_keeps_what_was_typed(
        db, frozen_clock, portal_app, cli):
    refused = {}
    for key, value in (("invite_ttl_hours", "0"), ("portal_callback_url", "http://example.com/back")):
        result = cli("settings", "set", key, value)
        assert result.exit_code != 0
        refused[key] = result.output.strip().splitlines()[-1].removeprefix("Error: ").removeprefix("error: ")
    from models.db import open_database
    open_database(db.database)
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await palette(pilot, "Settings")
        assert isinstance(app.screen, SettingsScreen)
        screen = app.screen
        screen.box("agency_name").value = "Acme"
        screen.box("invite_ttl_hours").value = "0"
        screen.box("portal_callback_url").value = "http://example.com/back"
        await settle(pilot)
        labels = {key: label for key, label, _help in SETTINGS_FIELDS}

        def says_under_its_label(key: str, message: str) -> None:
            # The CLI's sentence, naming the setting by the label above the box rather than the CLI's key.
            under = shown(screen, f"#setting-{key.replace('_', '-')}-help")
            assert "✗ " + labels[key] + message.removeprefix(key) in under, (key, under)
            assert key not in under

        for key, message in refused.items():
            says_under_its_label(key, message)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert "Not saved" in shown(screen, "#outcome")
        for key, message in refused.items():
            says_under_its_label(key, message)
        assert (screen.box("agency_name").value, screen.box("invite_ttl_hours").value) == ("Acme", "0")
        assert screen.focused is screen.box("invite_ttl_hours")
    assert settings.get("agency_name") == "Your agency"  # all or none
    assert settings.get("invite_ttl_hours") == 168


# --- domain removal -------------------------------------------------------------------------------------------


async def open_domains_list(pilot) -> None:
    await settle(pilot)
    await pilot.press("d")
    await settle(pilot)
    assert isinstance(pilot.app.screen, DomainsScreen)
    await pilot.press("tab")
    await settle(pilot)


async def test_remove_a_selected_domain_says_links_go_back_to_the_default(db, frozen_clock, portal_app):
    domains.add_domain("clients.agency.test", select=True)
    app = portal_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_domains_list(pilot)
        await pilot.press("down", "d")
        await settle(pilot)
        assert isinstance(app.screen, RemoveDomainScreen)
        said = shown(app.screen, "#dialog-body")
        assert "Remove clients.agency.test?" in said
        assert ("New links and the portal URL use the default domain, portal.example.com, instead of "
                "clients.agency.test.") in said
        assert "Links already sent keep clients.agency.test in them" in said
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DomainsScreen)
        assert "Removed clients.agency.test" in shown(app.screen, "#outcome")
        assert "https://portal.example.com/" in shown(app.screen, "#url")
    assert [d.name for d in domains.list_domains()] == ["portal.example.com"]
    assert domains.portal_url() == "https://portal.example.com/"


async def test_escape_keeps_the_domain(db, frozen_clock, portal_app):
    domains.add_domain("clients.agency.test")
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_domains_list(pilot)
        await pilot.press("down", "delete")
        await settle(pilot)
        assert isinstance(app.screen, RemoveDomainScreen)
        assert "do not change: they use portal.example.com" in shown(app.screen, "#dialog-body")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DomainsScreen)
    assert len(domains.list_domains()) == 2


async def test_the_default_domain_is_not_removed_while_others_exist(db, frozen_clock, portal_app):
    domains.add_domain("clients.agency.test")
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_domains_list(pilot)
        await pilot.press("d")  # on the default, first in the list
        await settle(pilot)
        assert isinstance(app.screen, DomainsScreen)
        assert ("portal.example.com is the default domain (mail is sent from it): make another one the default "
                "first") in shown(app.screen, "#outcome")
    assert len(domains.list_domains()) == 2


async def test_the_last_domain_is_removed_after_saying_nothing_is_left(db, frozen_clock, portal_app):
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_domains_list(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert "No domain is left: there is no portal URL" in shown(app.screen, "#dialog-body")
        await pilot.press("enter")
        await settle(pilot)
    assert domains.list_domains() == []


async def test_a_refused_domain_change_is_reported_in_the_box(db, frozen_clock, portal_app):
    """The recipe's error path: a `PortalError` from the worker lands in the box, which keeps what was typed."""
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        await type_text(pilot, "portal.example.com")
        await pilot.press("enter")
        await settle(pilot)
        assert "✗ portal.example.com is already a domain" in shown(app.screen, "#outcome")
        assert app.screen.query_one("#new-domain").value == "portal.example.com"


async def test_the_list_keys_are_not_offered_while_typing_a_domain(db, frozen_clock, portal_app):
    """x, f and d type into the domain box: the footer offers them only once the list has the focus."""
    domains.add_domain("clients.agency.test")
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        screen = app.screen
        assert [screen.check_action(a, ()) for a in ("use_default", "make_default", "remove")] == [None] * 3
        await type_text(pilot, "dfx")
        await settle(pilot)
        assert screen.query_one("#new-domain").value == "dfx"
        assert len(domains.list_domains()) == 2
        await pilot.press("tab")
        await settle(pilot)
        assert screen.check_action("remove", ()) is True


async def test_the_new_actions_are_in_the_palette_and_the_help(db, portal_app):
    app = portal_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        titles = {title for title, _help, _action in screen.palette_commands()}
        assert {"Revoke access", "Export CSV", "Settings"} <= titles
        help_rows = {row[0]: row[1] for _section, rows in screen.key_sections() for row in rows}
        assert (help_rows["x"], help_rows["e"], help_rows[","]) == ("Revoke access", "Export CSV", "Settings")


async def test_the_worker_recipe_reports_an_unexpected_error_instead_of_waiting(db):
    """`Dialog.run_operation`: an exception that is not a `PortalError` still reaches the box, named."""
    from textual.app import App
    from textual.widgets import Static

    from tui.screens.dialog import Dialog

    class Probe(Dialog[None]):
        def compose_body(self):
            yield Static("", id="outcome")

        def on_mount(self) -> None:
            self.run_operation(domains.normalize_domain, None, done=lambda _: None)  # None is not text

    class ProbeApp(App):
        def on_mount(self) -> None:
            self.push_screen(Probe())

    app = ProbeApp()
    async with app.run_test() as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        said = shown(app.screen, "#outcome")
        assert said.startswith("✗ unexpected error: AttributeError(")
