"""An invited contact says where their invitation is (queued, sent, failed, no mail), and `stats` agrees with the
table: issue 11's "invited before anything was sent" and "279 invited against 170 listed".

The delivery state lives on the contact row, kept by triggers on the outbox in the statement that queues the
email or records its outcome (schema v6); these tests send through a real aiosmtpd (tests/fixtures_smtp.py) and
check the state, the status label, the counts `stats` reports, and the dashboard's header and table.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from mail.outbox import OutboxSender, retry_failed
from models import contacts, demo, links, outbox, portal
from models.entities import DELIVERY_STATES, STATUSES, Contact, OutboxMessage
from tests.fixtures_tui import HOSTILE_NAME, settle

GREYLISTED = "451 4.7.1 greylisted, try again later"
REFUSED = "550 5.1.1 <{}>: no such user"


def _state(email: str) -> tuple[str, str | None, str]:
    row = contacts.find_contact(email)
    return row.status, row.delivery_state, row.status_label


def _delivery(s: portal.Stats) -> tuple[int, int, int, int]:
    return s.invites_queued, s.invites_sent, s.invites_failed, s.invites_no_mail


def test_a_queued_invitation_is_queued_not_sent(db):
    contacts.add_contact("ada@example.com")
    portal.invite(["ada@example.com"])
    assert _state("ada@example.com") == ("invited", "queued", "invited · queued")
    assert _delivery(portal.stats()) == (1, 0, 0, 0)


def test_server_down_leaves_the_invitation_queued_then_sent_when_it_is_back(db, smtp_server, closed_port, tmp_path):
    contacts.add_contact("ada@example.com")
    batch = portal.invite(["ada@example.com"]).batch
    down = OutboxSender(smtp_server.config(tmp_path / "Maildir", port=closed_port), rate=0).send(batch)
    assert down.sent == 0 and down.error
    assert _state("ada@example.com") == ("invited", "queued", "invited · queued")
    s = portal.stats()
    assert (s.invited, *_delivery(s)) == (1, 1, 0, 0, 0)

    up = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)
    assert up.sent == 1
    assert _state("ada@example.com") == ("invited", "sent", "invited · sent")
    assert _delivery(portal.stats()) == (0, 1, 0, 0)


@pytest.mark.parametrize(
    ("reply", "state", "outbox_status"),
    [
        ("250", "sent", "sent"),
        (GREYLISTED, "queued", "queued"),  # deferred: back in the queue for a retry, and says so
        ("550", "failed", "failed"),
    ],
)
def test_the_servers_answer_sets_the_invitation_state(db, smtp_server, tmp_path, reply, state, outbox_status):
    for name in ("ada", "bob"):
        contacts.add_contact(f"{name}@example.com")
    if reply == GREYLISTED:
        smtp_server.handler.fail_rcpt("ada@example.com", GREYLISTED)
    elif reply == "550":
        smtp_server.handler.reject("ada@example.com", REFUSED.format("ada@example.com"))
    batch = portal.invite(["ada@example.com", "bob@example.com"]).batch

    OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0, max_attempts=5).send(batch)

    (row,) = [m for m in OutboxMessage.select() if m.contact.email == "ada@example.com"]
    assert row.status == outbox_status
    if reply != "250":
        assert row.last_error.startswith(reply[:3])  # the outbox keeps the server's words
    assert _state("ada@example.com") == ("invited", state, f"invited · {state}")
    assert _state("bob@example.com") == ("invited", "sent", "invited · sent")
    expected = {"queued": 0, "sent": 1, "failed": 0, "no_mail": 0}
    expected[state] += 1
    assert _delivery(portal.stats()) == tuple(expected[k] for k in ("queued", "sent", "failed", "no_mail"))


def test_a_failed_invitation_retried_is_queued_then_sent(db, smtp_server, tmp_path):
    contacts.add_contact("ada@example.com")
    smtp_server.handler.reject("ada@example.com")
    batch = portal.invite(["ada@example.com"]).batch
    sender = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0)
    sender.send(batch)
    assert _state("ada@example.com")[1] == "failed"
    smtp_server.handler.accept("ada@example.com")
    assert retry_failed(batch) == 1
    assert _state("ada@example.com")[1] == "queued"
    sender.send(batch)
    assert _state("ada@example.com")[1] == "sent"


def test_only_the_latest_invitation_speaks_for_the_contact(db, smtp_server, tmp_path, frozen_clock):
    contacts.add_contact("ada@example.com")
    smtp_server.handler.reject("ada@example.com")
    sender = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0)
    first = portal.invite(["ada@example.com"]).batch
    sender.send(first)
    smtp_server.handler.accept("ada@example.com")
    second = portal.invite(["ada@example.com"]).batch  # invited again: a new invitation
    assert _state("ada@example.com")[1] == "queued"
    sender.send(second)
    assert _state("ada@example.com")[1] == "sent"
    # The old, failed invitation is retried and refused again: the contact's newer invitation still went out.
    smtp_server.handler.reject("ada@example.com")
    retry_failed(first)
    assert _state("ada@example.com")[1] == "sent"
    sender.send(first)
    assert OutboxMessage.select().where(OutboxMessage.status == "failed").count() == 1
    assert _state("ada@example.com")[1] == "sent"
    assert _delivery(portal.stats()) == (0, 1, 0, 0)


def test_login_emails_do_not_change_the_invitation_state(db, smtp_server, tmp_path):
    contacts.add_contact("ada@example.com")
    smtp_server.handler.reject("ada@example.com")
    sender = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0)
    sender.send(portal.invite(["ada@example.com"]).batch)
    smtp_server.handler.accept("ada@example.com")
    sender.send(outbox.queue_login_emails([contacts.find_contact("ada@example.com").id]).batch)
    assert _state("ada@example.com")[1] == "failed"  # the invitation failed; the login email is another mail


@pytest.mark.parametrize(("reply", "state"), [("250", "sent"), ("550", "failed"), ("down", "queued")])
def test_a_login_email_that_invites_a_contact_says_where_it_is(db, smtp_server, closed_port, tmp_path, reply, state):
    """A login email to a contact not invited yet invites them when it is sent: it is their invitation."""
    contacts.add_contact("ada@example.com")
    batch = outbox.queue_login_emails([contacts.find_contact("ada@example.com").id]).batch
    assert _state("ada@example.com") == ("not_invited", None, "not invited")
    config = smtp_server.config(tmp_path / "Maildir")
    if reply == "550":
        smtp_server.handler.reject("ada@example.com")
    elif reply == "down":
        config = smtp_server.config(tmp_path / "Maildir", port=closed_port)
    OutboxSender(config, rate=0).send(batch)
    assert _state("ada@example.com") == ("invited", state, f"invited · {state}")
    s = portal.stats()
    assert (s.invited, s.invites_queued, s.invites_sent, s.invites_failed) == (
        1, int(state == "queued"), int(state == "sent"), int(state == "failed"))


def test_a_contact_holding_a_shown_link_then_emailed_says_where_the_email_is(db, smtp_server, tmp_path):
    contacts.add_contact("ada@example.com")
    links.issue_link("ada@example.com")
    assert _state("ada@example.com")[1] == "no_mail"
    batch = outbox.queue_login_emails([contacts.find_contact("ada@example.com").id]).batch
    assert _state("ada@example.com")[1] == "queued"
    OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)
    assert _state("ada@example.com")[1] == "sent"


def test_a_contact_given_a_shown_link_is_invited_with_no_mail(db):
    contacts.add_contact("ada@example.com")
    links.issue_link("ada@example.com")
    assert _state("ada@example.com") == ("invited", "no_mail", "invited · no mail")
    assert _delivery(portal.stats()) == (0, 0, 0, 1)


def test_a_revoked_or_joined_contact_is_not_counted_as_invited(db):
    for name in ("ada", "bob"):
        contacts.add_contact(f"{name}@example.com")
    portal.invite(["ada@example.com", "bob@example.com"])
    links.revoke_access("ada@example.com")  # its queued invitation is taken out of the queue
    links.redeem(links.issue_link("bob@example.com").url)
    assert _state("ada@example.com") == ("revoked", None, "revoked")
    assert _state("bob@example.com") == ("joined", None, "joined")
    s = portal.stats()
    assert (s.invited, s.revoked, s.joined, s.invited_total, *_delivery(s)) == (0, 1, 1, 1, 0, 0, 0, 0)


def _every_state(smtp_server, tmp_path) -> None:
    """A database with contacts in every status and every delivery state, some deleted and re-invited."""
    demo.seed(60)
    for n in range(12):
        contacts.add_contact(f"c{n}@example.com", HOSTILE_NAME if n == 0 else f"C{n}")
    smtp_server.handler.reject("c1@example.com")
    smtp_server.handler.reject("c2@example.com")
    smtp_server.handler.fail_rcpt("c3@example.com", GREYLISTED)
    portal.invite([f"c{n}@example.com" for n in range(8)])
    outbox.queue_login_emails([contacts.find_contact("c11@example.com").id])  # invited by a login email
    OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0, max_attempts=5).send()
    portal.invite(["c8@example.com", "c9@example.com"])  # queued, not sent yet
    links.issue_link("c10@example.com")  # no mail: a link shown
    links.redeem(links.issue_link("c4@example.com").url)  # joined after a sent invitation
    links.revoke_access("c9@example.com")  # revoked while queued
    contacts.delete_contact(contacts.find_contact("c2@example.com").id)  # a failed one deleted
    contacts.delete_contact(contacts.find_contact("c8@example.com").id)  # a queued one deleted


def test_stats_agree_with_the_listing_for_every_status(db, smtp_server, tmp_path, cli, frozen_clock):
    _every_state(smtp_server, tmp_path)
    s = portal.stats()
    by_state = {state: 0 for state in DELIVERY_STATES}
    for contact in Contact.select():
        state = contacts.to_row(contact).delivery_state
        if state is not None:
            by_state[state] += 1
    # The trigger-kept counts equal a full count, and every state occurs.
    assert _delivery(s) == (by_state["queued"], by_state["sent"], by_state["failed"], by_state["no_mail"])
    assert all(by_state.values()), by_state
    assert sum(by_state.values()) == s.invited
    assert s.not_invited + s.invited + s.joined + s.revoked == s.contacts
    assert s.invited_total == s.invited + s.joined

    stats = json.loads(cli("stats", "--json").stdout)
    assert stats == s.as_dict()
    for status in STATUSES:
        listed = json.loads(cli("contacts", "list", "--status", status, "--limit", "1000", "--json").stdout)
        assert listed["total"] == len(listed["contacts"]) == stats[status], status
    text = cli("contacts", "list", "--search", "c1@example.com").stdout
    assert "invited · failed" in text


async def test_the_header_and_the_table_say_where_invitations_are(portal_app, smtp_server, tmp_path):
    from tui.screens.main import MainScreen
    from tui.widgets.contact_table import ContactTable
    from tui.widgets.stats_header import StatsHeader

    for name in ("ada", "bob", "cyd", "dee"):
        contacts.add_contact(f"{name}@example.com", name.title())
    smtp_server.handler.reject("bob@example.com")
    OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(
        portal.invite(["ada@example.com", "bob@example.com"]).batch
    )
    portal.invite(["cyd@example.com"])
    links.issue_link("dee@example.com")
    app = portal_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        header = str(app.screen.query_one(StatsHeader).render())
        assert "Invited 4 (1 sent · 1 queued · 1 failed · 1 no mail)  Joined 0  of 4 contacts" in header
        table = app.screen.query_one(ContactTable)
        cells = {table.cell_text(row.id, "email"): table.cell_text(row.id, "status") for row in table.shown_rows}
        assert cells == {
            "ada@example.com": "invited · sent",
            "bob@example.com": "invited · failed",
            "cyd@example.com": "invited · queued",
            "dee@example.com": "invited · no mail",
        }
        # Filtering the table by status lists as many as the header counts.
        table.set_query(contacts.ContactQuery(status="invited"))
        await settle(pilot)
        assert table.total == app.screen.query_one(StatsHeader).info.stats.invited == 4


async def test_a_lapsed_invitation_says_expired_wherever_the_status_is_shown(portal_app, cli, smtp_server, tmp_path,
                                                                          frozen_clock):
    """An invitation that went out but whose link lapsed is what the header counts as "links expired" and the
    expired filter lists: its row says so (`invited · expired`), not `invited · sent` (the trial's F8)."""
    from tui.screens.main import MainScreen
    from tui.widgets.contact_table import ContactTable
    from tui.widgets.stats_header import StatsHeader

    for name in ("ada", "bob"):
        contacts.add_contact(f"{name}@example.com", name.title())
    OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(portal.invite(["ada@example.com"]).batch)
    assert _state("ada@example.com") == ("invited", "sent", "invited · sent")
    lapses = Contact.get(Contact.email == "ada@example.com").invite_expires_at
    frozen_clock[0] = lapses + timedelta(seconds=1)
    portal.invite(["bob@example.com"])  # invited after: still live
    assert _state("ada@example.com") == ("invited", "sent", "invited · expired")
    assert _state("bob@example.com") == ("invited", "queued", "invited · queued")
    assert portal.stats().expired == 1
    assert "invited · expired" in cli("contacts", "list", "--search", "ada@example.com").stdout
    listed = json.loads(cli("contacts", "list", "--status", "expired", "--json").stdout)
    assert [row["email"] for row in listed["contacts"]] == ["ada@example.com"]
    app = portal_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.screen.query_one(StatsHeader).info.stats.expired == 1
        table = app.screen.query_one(ContactTable)
        cells = {table.cell_text(row.id, "email"): table.cell_text(row.id, "status") for row in table.shown_rows}
        assert cells == {"ada@example.com": "invited · expired", "bob@example.com": "invited · queued"}


def test_a_deferred_invitation_due_again_is_sent_and_counted_once(db, smtp_server, tmp_path, frozen_clock):
    contacts.add_contact("ada@example.com")
    smtp_server.handler.fail_rcpt("ada@example.com", GREYLISTED)
    batch = portal.invite(["ada@example.com"]).batch
    sender = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0, max_attempts=5)
    sender.send(batch)
    assert _state("ada@example.com")[1] == "queued"
    frozen_clock[0] += timedelta(minutes=5)
    sender.send(batch)
    assert _state("ada@example.com")[1] == "sent"
    assert _delivery(portal.stats()) == (0, 1, 0, 0)
