"""The outbox sender's database round trips per message, counted, not timed; and what the one-statement link issue
(`Backend.insert_link`) must leave exactly as the statement-by-statement one did.

Round trips are counted in libpq's own trace of the sender's connection (psycopg's `PGconn.trace`): each
`ReadyForQuery` the server sends ends one exchange the client waited for. Between two emails of one claimed chunk
the sender records the email before as sent and issues the next one's link: on PostgreSQL that is one
transaction sent as one pipeline (BEGIN with the shared write lock, the contact's row lock, the link, the
supersede, the audit entry, the outbox row marked sent, COMMIT), so one round trip where it took seven.
"""

from __future__ import annotations

import re
from datetime import timedelta

import peewee
import pytest

from mail.outbox import OutboxSender
from models import audit, clock, links, outbox, portal, settings
from models.backends import NewLink
from models.base import to_db_time
from models.contacts import to_row
from models.db import backend, database
from models.entities import AuditEntry, Contact, MagicLink, OutboxMessage
from tests.conftest import ENGINES

MESSAGES = 8
"""Emails sent in the counted run: one claimed chunk (50 at most), so every gap between two reports is the
step between two emails, never a claim."""


def _token(message) -> str:
    body = message.get_body(("plain",)).get_content()
    return links.extract_token(re.search(r"https?://\S+/login/\S+", body).group(0))


def _trips_between_emails(config, trace_path) -> list[int]:
    """Send what is queued on this thread's connection under libpq's trace; the round trips the connection made
    between one email's report and the next's, for each pair of emails in a row."""
    from psycopg.pq import Trace

    pgconn = database.connection().pgconn
    marks: list[int] = []
    with open(trace_path, "w") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
        try:
            summary = OutboxSender(config, rate=0).send(
                progress=lambda _: marks.append(trace_path.read_text().count("\tReadyForQuery\t")))
        finally:
            pgconn.untrace()
    assert summary.sent == MESSAGES and not summary.failed and not summary.error
    return [after - before for before, after in zip(marks, marks[1:])]


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
@pytest.mark.parametrize("kind", ["invite", "login"])
def test_each_email_after_the_first_costs_one_round_trip(db, kind, smtp_server, tmp_path):
    addresses = [f"client{i}@example.com" for i in range(MESSAGES)]
    portal.invite(addresses)
    if kind == "login":  # the invitations go first (counted in no run), then one login email each
        assert OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send().sent == MESSAGES
        smtp_server.handler.messages.clear()
        outbox.queue_login_emails([c.id for c in Contact.select(Contact.id)])
    gaps = _trips_between_emails(smtp_server.config(tmp_path / "Maildir"), tmp_path / "trace.txt")
    assert gaps == [1] * (MESSAGES - 1)
    # And it did what the seven statements did: each email carries its contact's open link of the kind, one audit
    # entry for each link, every row recorded as sent.
    received = smtp_server.handler.messages
    assert sorted(rcpt for item in received for rcpt in item.rcpt_tos) == sorted(addresses)
    for item in received:
        link = MagicLink.get(MagicLink.token_hash == links.hash_token(_token(item.message)))
        assert link.purpose == kind and link.channel == "email"
        assert link.contact.email == item.rcpt_tos[0]
        assert link.superseded_at is None and link.revoked_at is None and link.used_at is None
        entries = AuditEntry.select().where((AuditEntry.contact == link.contact_id)
                                            & (AuditEntry.action == f"link.{kind}"))
        assert [e.subject for e in entries] == [link.contact.email]
    assert {m.status for m in OutboxMessage.select()} == {"sent"}


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_a_new_emailed_invitation_supersedes_its_channel_only_and_the_expiry_is_the_last_open_link(db):
    """The invitation's expiry as the statement-by-statement issue computed it (the latest of the contact's open
    invitation links once the older emailed one is superseded), on both engines."""
    portal.invite(["ada@example.com"])
    ada = Contact.get(Contact.email == "ada@example.com")
    first = links.LinkIssuer("invite", "email").issue_at_once(to_row(ada))
    settings.set_value("invite_ttl_hours", "700")
    shown = links.issue_link(ada.id, "invite", "shown")  # expires long after the next emailed one
    settings.set_value("invite_ttl_hours", "24")
    second = links.LinkIssuer("invite", "email").issue_at_once(to_row(Contact.get_by_id(ada.id)))
    assert first is not None and second is not None
    stored = {row.token_hash: row for row in MagicLink.select().where(MagicLink.contact == ada.id)}
    assert stored[links.hash_token(first.token)].superseded_at is not None
    assert stored[links.hash_token(shown.token)].superseded_at is None
    assert stored[links.hash_token(second.token)].superseded_at is None
    assert shown.expires_at > second.expires_at
    assert Contact.get_by_id(ada.id).invite_expires_at == shown.expires_at
    # The shown one revoked: the emailed one is the last open invitation link, and its expiry the contact's.
    links.revoke_issued(shown)
    assert Contact.get_by_id(ada.id).invite_expires_at == second.expires_at
    issued = [e.detail for e in AuditEntry.select().where(AuditEntry.action == "link.invite").order_by(AuditEntry.id)]
    assert len(issued) == 3 and issued[0].startswith("emailed link") and issued[1].startswith("shown link")


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_a_step_that_fails_midway_leaves_nothing_and_the_connection_usable(db):
    """A link whose token hash clashes with a stored one (a real UNIQUE constraint) fails the whole step: the
    outbox row it was to mark sent stays as it was, no audit entry, and the connection is out of the
    transaction, ready for the next."""
    portal.invite(["ada@example.com", "bob@example.com"])
    ada = to_row(Contact.get(Contact.email == "ada@example.com"))
    taken = links.issue_link(ada.id, "login", "shown")
    row = OutboxMessage.get()
    OutboxMessage.update(status="sending", claimed_by="me:1", claimed_at=clock.now()).where(
        OutboxMessage.id == row.id).execute()
    entries = AuditEntry.select().count()
    now = clock.now()
    clash = NewLink(contact_id=ada.id, status=ada.status, email=ada.email, purpose="invite",
                    token_hash=links.hash_token(taken.token), created_at=to_db_time(now), created_by="t",
                    expires_at=to_db_time(now + timedelta(hours=1)), channel="email",
                    audit=audit.entry_values("link.invite", Contact.get_by_id(ada.id), "emailed link"))
    with pytest.raises(peewee.IntegrityError):  # the engine's error as Peewee raises it, as a write_lock block would
        backend().insert_link_transaction(clash, [outbox.mark_sent_statement(row.id)])
    assert not database.in_transaction() and not backend().connection_in_transaction()
    assert OutboxMessage.get_by_id(row.id).status == "sending"
    assert AuditEntry.select().count() == entries
    assert MagicLink.select().where(MagicLink.purpose == "invite", MagicLink.channel == "email").count() == 0
    # The next step on the same connection goes through.
    link = links.LinkIssuer("invite", "email").issue_at_once(ada, [outbox.mark_sent_statement(row.id)])
    assert link is not None and OutboxMessage.get_by_id(row.id).status == "sent"
