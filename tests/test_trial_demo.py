"""What a demanding user's trial of `client-portal --demo` found (session 21), kept fixed: the sample contacts have
the history the real commands would have recorded, so a contact's own view does not contradict itself."""

from __future__ import annotations

from models import demo, history, outbox, portal
from models.entities import STATUS_INVITED, STATUS_JOINED, STATUS_REVOKED, Contact


def _one(status: str) -> int:
    return Contact.select(Contact.id).where(Contact.status == status).order_by(Contact.id).first().id


def test_a_sample_contact_has_the_email_and_history_its_status_says(db):
    demo.ensure_demo(120)
    invited = history.contact_history(_one(STATUS_INVITED))
    # "Invite email: sent" above "No email was sent to this contact yet" and "Nothing recorded".
    assert invited.contact.delivery_state == "sent"
    assert [(m.kind, m.status, m.attempts) for m in invited.messages] == [("invite", "sent", 1)]
    assert [e.action for e in invited.audit] == ["link.invite", "invite"]
    joined = history.contact_history(_one(STATUS_JOINED))
    assert [e.action for e in joined.audit] == ["redeem", "link.invite", "invite"]
    assert [(link.purpose, link.state, link.ended_at) for link in joined.links] == [
        ("invite", "used", joined.contact.joined_at)]
    revoked = history.contact_history(_one(STATUS_REVOKED))
    assert revoked.audit[0].action == "revoke"
    assert all(e.actor == "demo" for e in invited.audit + joined.audit + revoked.audit)
    # Every invited, joined or revoked sample contact has its invitation row; the rest have none.
    counts = outbox.outbox_counts()
    assert counts["sent"] == Contact.select().where(Contact.invited_at.is_null(False)).count()
    assert counts["queued"] == counts["failed"] == 0


def test_a_login_email_to_sample_contacts_leaves_their_invitations_sent(db):
    demo.ensure_demo(120)
    before = portal.stats()
    assert before.invites_sent == before.invited and before.invites_queued == 0
    ids = [row.id for row in Contact.select(Contact.id).where(Contact.status == STATUS_INVITED)]
    assert outbox.queue_login_emails(ids).queued
    after = portal.stats()
    # The header's "Invited 70 (70 sent)" turned into "(6 sent · 64 queued)": a login email spoke for invitations
    # the sample said were sent, for want of their rows.
    assert (after.invites_sent, after.invites_queued) == (before.invites_sent, 0)
