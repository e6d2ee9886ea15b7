"""Bulk sending's fast paths: links issued to the contact the claim read, one commit per email, flat memory.

The outbox sender issues each link with `models.links.LinkIssuer`, trusting the contact `claim_due` just read
unless the stored row changed since; it records a sent message in the transaction that issues the next
message's link; its claim reads rows through SQL text; it sends with a policy that makes each header class
once. These tests hold each of those to what the slower paths did, through the real aiosmtpd server of
tests/fixtures_smtp.py.
"""

from __future__ import annotations

import gc
import re
import tracemalloc
from email import policy

import pytest

import mail.message
from mail.message import build_message, recipient_address
from mail.outbox import OutboxSender, SendProgress
from mail.templates import RenderedEmail
from models import clock, contacts, links, outbox, portal
from models.db import database
from models.entities import AuditEntry, Contact, MagicLink, OutboxMessage
from models.errors import AccessRevoked, NotFound, RedeemFailed
from tests.fixtures_smtp import RecordingHandler, start_server

NASTY_NAME = "[/x] <a@b>\x1b[31m"
"""A name that is markup, HTML and a terminal escape at once (STYLE.md: every test suite meets it)."""

LINK = re.compile(r"https://portal\.example\.com/login/[A-Za-z0-9_-]{43}")


def _invited(n: int, prefix: str = "client") -> list[int]:
    """n contacts, invited (so the sender's claim sees a status it can issue a link for without reading again)."""
    ids = [contacts.add_contact(f"{prefix}{i}@example.com", f"First{i}", f"Last{i}").id for i in range(n)]
    portal.invite([f"{prefix}{i}@example.com" for i in range(n)])
    OutboxMessage.delete().execute()  # the invitations `invite` queued: these tests send login emails
    return ids


def _link_in(received) -> str:
    (link,) = set(LINK.findall(received.message.get_body(("plain",)).get_content()))
    return link


def _claimed(contact_id: int) -> outbox.ClaimedMessage:
    batch = outbox.queue_login_emails([contact_id]).batch
    claim = outbox.claim_due(outbox.sender_identity(), 10, batch=batch, due_by=clock.now(), max_attempts=5)
    (message,) = claim.messages
    return message


# --- the claim ------------------------------------------------------------------------------------------------


def test_a_claimed_contact_is_the_contact_as_stored(db):
    (contact_id,) = _invited(1)
    links.redeem(links.issue_link(contact_id).url)  # joined, with a last login: every datetime field filled
    claimed = _claimed(contact_id)
    assert claimed.contact == contacts.get_contact(contact_id)
    assert claimed.contact.joined_at.tzinfo is not None
    assert OutboxMessage.get_by_id(claimed.id).status == "sending" and claimed.attempts == 1


# --- links for the contact the claim read ---------------------------------------------------------------------


def test_a_batch_to_invited_contacts_reaches_each_with_a_link_that_logs_in_that_contact(db, smtp_server, tmp_path):
    ids = _invited(6)
    contacts.update_contact(ids[0], first_name=NASTY_NAME)
    older = links.issue_link(ids[1], channel="email")  # emailed before: the batch's link supersedes it
    batch = outbox.queue_login_emails(ids).batch

    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)

    assert (summary.sent, summary.failed, summary.skipped) == (6, [], [])
    received = smtp_server.handler.by_recipient()
    assert sorted(received) == sorted(f"client{i}@example.com" for i in range(6))
    for address, (message,) in received.items():
        assert message.message["To"].addresses[0].addr_spec == address
        redeemed = links.redeem(_link_in(message))
        assert redeemed.contact.email == address and redeemed.first_login
    nasty = received["client0@example.com"][0].message
    assert "\x1b" not in nasty.as_string()
    assert nasty["To"].addresses[0].display_name == "[/x] <a@b>[31m Last0"
    with pytest.raises(RedeemFailed) as failed:
        links.redeem(older.url)
    assert failed.value.reason == "superseded"
    assert AuditEntry.select().where(AuditEntry.action == "link.login").count() == 7
    assert {m.status for m in OutboxMessage.select()} == {"sent"}


def test_the_raw_tokens_of_a_batch_never_rest_in_the_database(db, db_path, smtp_server, tmp_path):
    batch = outbox.queue_login_emails(_invited(3)).batch
    OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)
    tokens = [_link_in(r).rsplit("/", 1)[1] for r in smtp_server.handler.messages]
    assert len(tokens) == 3
    assert {m.token_hash for m in MagicLink.select()} == {links.hash_token(t) for t in tokens}
    db.close()
    for path in db_path.parent.glob("portal.db*"):
        raw = path.read_bytes()
        for token in tokens:
            assert token.encode() not in raw


def test_an_invitation_batch_sets_each_contacts_invitation_expiry(db, smtp_server, tmp_path):
    _invited(2)
    result = portal.invite(["client0@example.com", "client1@example.com"])
    OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(result.batch)
    for contact in Contact.select():
        link = MagicLink.get(MagicLink.contact == contact)
        assert link.purpose == "invite" and contact.invite_expires_at == link.expires_at
    assert len(smtp_server.handler.messages) == 2


def test_a_contact_revoked_after_the_claim_is_skipped_and_the_message_before_stays_sent(db, smtp_server, tmp_path):
    ids = _invited(5)
    batch = outbox.queue_login_emails(ids).batch

    def progress(p: SendProgress) -> None:
        if p.done == 2:  # all five are claimed already: the third is revoked between its claim and its send
            links.revoke_access(ids[2])

    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch, progress=progress)

    assert summary.sent == 4
    assert [email for email, _ in summary.skipped] == ["client2@example.com"]
    assert "revoked" in summary.skipped[0][1]
    assert "client2@example.com" not in smtp_server.handler.by_recipient()
    statuses = {m.contact.email: m.status for m in OutboxMessage.select()}
    assert statuses == {f"client{i}@example.com": "skipped" if i == 2 else "sent" for i in range(5)}
    assert not MagicLink.select().where(MagicLink.contact == ids[2]).exists()


def test_a_contact_readdressed_after_the_claim_gets_the_mail_at_the_new_address(db, smtp_server, tmp_path):
    ids = _invited(3)
    batch = outbox.queue_login_emails(ids).batch

    def progress(p: SendProgress) -> None:
        if p.done == 1:
            Contact.update(email="moved@example.com").where(Contact.id == ids[2]).execute()

    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch, progress=progress)

    assert summary.sent == 3
    received = smtp_server.handler.by_recipient()
    assert sorted(received) == ["client0@example.com", "client1@example.com", "moved@example.com"]
    assert links.redeem(_link_in(received["moved@example.com"][0])).contact.email == "moved@example.com"


def test_the_issuer_reads_again_a_contact_that_changed_since_it_was_read_and_decides_as_issue_link(db):
    """One path issues every link: the issuer trusts the row it was given only while the stored contact still
    matches it; otherwise it reads the contact and decides (what the sender used to fall back to `issue_link` for)."""
    ids = _invited(4)
    issuer = links.LinkIssuer("login")
    read = [contacts.get_contact(i) for i in ids]
    links.revoke_access(ids[0])
    Contact.update(email="elsewhere@example.com").where(Contact.id == ids[1]).execute()
    links.redeem(links.issue_link(ids[2]).url)  # joined since it was read
    never = contacts.get_contact(contacts.add_contact("new@example.com").id)
    contacts.delete_contact(ids[3])  # after the add: SQLite would give a new contact the last id again
    before = (MagicLink.select().count(), AuditEntry.select().count())

    with pytest.raises(AccessRevoked, match="portal access is revoked"):
        issuer.issue(read[0])
    with pytest.raises(NotFound, match="no longer exists"):
        issuer.issue(read[3])
    assert (MagicLink.select().count(), AuditEntry.select().count()) == before  # refused: nothing written

    readdressed = issuer.issue(read[1])
    assert readdressed.contact.email == "elsewhere@example.com"
    joined = issuer.issue(read[2])
    assert joined.contact.status == "joined"
    invited = issuer.issue(never)  # a login link for a contact never invited invites them, as issue_link does
    assert invited.contact.status == "invited" and contacts.get_contact(never.id).status == "invited"
    for link in (readdressed, joined, invited):
        assert links.redeem(link.url).contact.id == link.contact.id


def test_the_issuer_makes_the_same_link_as_issue_link(db, frozen_clock):
    (contact_id,) = _invited(1)
    row = contacts.get_contact(contact_id)
    slow = links.issue_link(contact_id, channel="email")
    fast = links.LinkIssuer("login").issue(row)
    assert fast.contact == row and fast.purpose == slow.purpose == "login"
    assert fast.expires_at == slow.expires_at and fast.url.rsplit("/", 1)[0] == slow.url.rsplit("/", 1)[0]
    assert fast.token != slow.token
    newest = MagicLink.get(MagicLink.token_hash == links.hash_token(fast.token))
    assert (newest.created_by, newest.expires_at) == (MagicLink.get(MagicLink.id != newest.id).created_by,
                                                      fast.expires_at)
    assert links.current_link(contact_id).state == "open"
    assert links.redeem(fast.url).contact.id == contact_id
    with pytest.raises(RedeemFailed):
        links.redeem(slow.url)


# --- one commit per email -------------------------------------------------------------------------------------


class _Watching(RecordingHandler):
    """Records, as each message arrives, the outbox statuses committed at that moment."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):
        # The server's thread, while the sender waits for this reply: its own connection sees what is committed.
        with database.connection_context():
            self.statuses.append(sorted(m.status for m in OutboxMessage.select(OutboxMessage.status)))
        return await super().handle_DATA(server, session, envelope)


def test_each_message_is_recorded_sent_before_the_next_one_goes(db, tmp_path):
    batch = outbox.queue_login_emails(_invited(5)).batch
    controller, server = start_server(_Watching())
    try:
        summary = OutboxSender(server.config(tmp_path / "Maildir"), rate=0).send(batch)
    finally:
        controller.stop()

    assert summary.sent == 5
    assert server.handler.statuses == [["sending"] * (5 - k) + ["sent"] * k for k in range(5)]
    assert {m.status for m in OutboxMessage.select()} == {"sent"}


def test_a_send_leaves_the_connections_page_cache_as_it_was(db, smtp_server, tmp_path):
    before = database.execute_sql("PRAGMA cache_size").fetchone()[0]
    batch = outbox.queue_login_emails(_invited(2)).batch
    OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)
    assert database.execute_sql("PRAGMA cache_size").fetchone()[0] == before


# --- the message ----------------------------------------------------------------------------------------------


def test_messages_are_the_same_bytes_as_with_the_default_policy(db, monkeypatch):
    rendered = RenderedEmail(subject=f"Hello {NASTY_NAME} " + "long " * 30, text="Hi\n" + "é" * 200 + "\n",
                             html="<p>" + "x" * 2000 + "</p>\n")
    args = {"sender": recipient_address("portal@portal.example.com", "Agency, Ltd. " * 8),
            "to": recipient_address("ada@example.com", NASTY_NAME * 5), "message_id": "<1@portal.example.com>",
            "date": clock.now(), "kind": "login"}
    ours = build_message(rendered, **args)
    monkeypatch.setattr(mail.message, "POLICY", policy.default)
    plain = build_message(rendered, **args)
    for msg in (ours, plain):
        msg.set_boundary("boundary")
    assert ours.as_bytes(policy=ours.policy.clone(linesep="\r\n")) == plain.as_bytes(
        policy=plain.policy.clone(linesep="\r\n"))
    assert ours.policy.header_factory["to"] is ours.policy.header_factory["To"]


# --- memory ---------------------------------------------------------------------------------------------------


def test_what_a_run_holds_does_not_grow_with_the_messages_it_sent(db, smtp_server, tmp_path):
    first, last = 100, 400  # chunk boundaries (50 rows a claim): the run is in the same state at both
    batch = outbox.queue_login_emails(_invited(last)).batch
    handler = smtp_server.handler
    held: dict[int, int] = {}
    received = 0

    def progress(p: SendProgress) -> None:
        nonlocal received
        if p.done in (first, last):
            with handler.lock:  # the server's record of every message is the test's, not the sender's
                received += len(handler.messages)
                handler.messages.clear()
            re.purge()  # the email package compiles a pattern per MIME boundary into `re`'s (bounded) cache
            gc.collect()
            held[p.done] = tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch, progress=progress)
    finally:
        tracemalloc.stop()

    assert summary.sent == last and received == last
    per_message = (held[last] - held[first]) / (last - first)
    # Nothing is kept per message (measured: 0 +- 40 bytes, transient objects); keeping an outcome per message,
    # as the sender once did, held 215 bytes each.
    assert per_message < 100, f"{per_message:.0f} bytes held per message sent"
