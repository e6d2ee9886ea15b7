"""Snapshot tests: the main screen, the empty state, 80x24, each modal, and a hostile name.

Fixed data (`demo.seed` with a frozen clock), a fixed SMTP route, a fixed actor and a fixed token, so every
run draws the same screen. Review `snapshot_report.html` before `--snapshot-update`.
"""

from __future__ import annotations

from mail.outbox import OutboxSender
from models import contacts, links, outbox
from tests.fixtures_tui import HOSTILE_NAME, keys

WIDE = (110, 32)
SMALL = (80, 24)


# --- the main screen ------------------------------------------------------------------------------------------


def test_main_screen(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("down", "down", "space", "down"), terminal_size=WIDE)


def test_main_screen_in_a_light_theme(snap_compare, snap_app):
    # Every label must stay readable on a light background (it was white on light grey in textual-light).
    async def light(pilot) -> None:
        pilot.app.theme = "textual-light"
        await keys("down", "down", "space", "down")(pilot)

    assert snap_compare(snap_app(), run_before=light, terminal_size=WIDE)


def test_main_screen_at_80x24(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("slash", "a", "d", "a", "enter"), terminal_size=SMALL)


def test_empty_state(snap_compare, portal_app, fixed_mail_env):
    assert snap_compare(portal_app(), run_before=keys(), terminal_size=SMALL)


def test_hostile_name_is_shown_literally(snap_compare, portal_app, fixed_mail_env, monkeypatch):
    # Markup, an ANSI colour, an OSC 52 and a bidi override: in the table and, in full, in the magic-link modal.
    monkeypatch.setattr(links.secrets, "token_urlsafe", lambda n: "H" * 43)
    contacts.add_contact("mallory@example.com", HOSTILE_NAME, "[/]", company="[link=http://evil]co[/link]")
    contacts.add_contact("zed@example.com", "Zed", "\u202eevil\u202c")
    assert snap_compare(portal_app(), run_before=keys("m"), terminal_size=(100, 20))


# --- the modals -----------------------------------------------------------------------------------------------


def test_portal_url_modal(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("u"), terminal_size=SMALL)


def test_magic_link_modal(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("m"), terminal_size=SMALL)


def test_magic_link_qr_at_120x40(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("m"), terminal_size=(120, 40))


def test_magic_link_qr_needs_a_larger_terminal(snap_compare, snap_app):
    # 80x22: no room for the code beside the text; the box says how large the terminal must be, and `f`.
    assert snap_compare(snap_app(), run_before=keys("m"), terminal_size=(80, 22))


def test_magic_link_qr_full_screen(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("m", "f"), terminal_size=SMALL)


def test_magic_link_of_a_revoked_contact(snap_compare, snap_app):
    # The status filter cycled to "revoked": the box says why there is no link, and offers no dead keys.
    assert snap_compare(snap_app(), run_before=keys("f", "f", "f", "f", "m"), terminal_size=SMALL)


def test_invite_modal(snap_compare, snap_app):
    def run_before(pilot):
        return keys("i", *"new@example.com", "tab", *"Nora")(pilot)

    assert snap_compare(snap_app(), run_before=run_before, terminal_size=SMALL)


def test_login_email_modal(snap_compare, snap_app):
    # Three selected, one of them revoked: two recipients, one skipped with its reason.
    assert snap_compare(
        snap_app(), run_before=keys("f", "f", "f", "f", "space", "escape", "escape", "space", "down", "space", "l"),
        terminal_size=WIDE,
    )


def test_outbox_modal(snap_compare, snap_app, smtp_server, tmp_path):
    ids = [row.id for row in contacts.contact_page(contacts.ContactQuery(status="joined"), 0, 3).rows]
    smtp_server.handler.reject(contacts.contacts_by_id(ids)[1].email)
    batch = outbox.queue_login_emails(ids).batch
    OutboxSender(smtp_server.config(tmp_path / "Maildir")).send(batch)
    assert snap_compare(snap_app(), run_before=keys("o"), terminal_size=WIDE)


def test_add_contact_modal(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("a", *"ada@exam"), terminal_size=SMALL)


def test_import_csv_report(snap_compare, snap_app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the path typed is relative, so it reads the same in every run
    path = tmp_path / "c.csv"
    path.write_text("Email,First Name,Last Name\nnew1@example.com,New,One\nnot-an-address,Bad,Row\n"
                    "new1@example.com,Dup,Row\n,No,Email\n")

    async def run_before(pilot) -> None:
        await keys("c", *"c.csv", "enter")(pilot)

    assert snap_compare(snap_app(), run_before=run_before, terminal_size=SMALL)


def test_domains_modal(snap_compare, snap_app):
    assert snap_compare(
        snap_app(), run_before=keys("d", *"clients.agency.test", "enter", "tab", "down", "enter"),
        terminal_size=SMALL,
    )


def test_audit_modal(snap_compare, snap_app):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    assert snap_compare(snap_app(), run_before=keys("h"), terminal_size=WIDE)


def test_help_screen(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("question_mark"), terminal_size=(100, 40))


# --- the contact's own view ---------------------------------------------------------------------------------------


def test_contact_detail_view(snap_compare, snap_app, frozen_clock, smtp_server, tmp_path):
    # Ada sorts first: invited (the invitation still queued), two login links shown (the first superseded), and a
    # login email the server refused.
    from datetime import timedelta

    from models import portal

    row = contacts.add_contact("ada@example.com", "Ada", "Aaronson", company="Analytical Engines",
                               phone="+44 20 7946 0001")
    portal.invite(["ada@example.com"])
    for _ in range(2):
        frozen_clock[0] += timedelta(minutes=5)
        links.issue_link(row.id, "login", "shown")
    smtp_server.handler.reject("ada@example.com")
    batch = outbox.queue_login_emails([row.id]).batch
    OutboxSender(smtp_server.config(tmp_path / "Maildir")).send(batch)
    assert snap_compare(snap_app(), run_before=keys("enter"), terminal_size=(100, 30))
