"""One contact's story, for the dashboard's detail view: their fields and status with who and when, the links
issued to them (never a token: none is stored), the mail sent to them and its results, and their audit entries.

Everything is read in one call and returned as frozen dataclasses, newest first and bounded (`LIMIT` rows of each
kind, with the full counts beside them), so a contact with years of history costs a few small indexed reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models import clock
from models.audit import AuditRow
from models.contacts import ContactRow, get_model, to_row
from models.entities import OUTBOX_QUEUED, AuditEntry, MagicLink, OutboxMessage

LIMIT = 50
"""How many links, messages and audit entries of a contact are read, at most (the newest)."""

LINK_OPEN = "open"
LINK_USED = "used"
LINK_EXPIRED = "expired"
LINK_SUPERSEDED = "superseded"
LINK_REVOKED = "revoked"


@dataclass(frozen=True)
class LinkEntry:
    """A link issued to the contact, and what became of it."""

    purpose: str
    """`invite` or `login`."""
    channel: str
    """`email` (in an email the outbox sent) or `shown` (shown to an admin to copy)."""
    created_at: datetime
    created_by: str
    expires_at: datetime
    state: str
    """`open`, `used`, `expired`, `superseded` or `revoked` (checked in the order `links.check_link` uses)."""
    ended_at: datetime | None
    """When it stopped being open: used, revoked, superseded or expired at; None while open."""


@dataclass(frozen=True)
class MessageEntry:
    """An email queued for the contact, and its result so far."""

    kind: str
    status: str
    """`queued`, `sending`, `sent`, `failed` or `skipped`."""
    attempts: int
    last_error: str
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime


@dataclass(frozen=True)
class ContactHistory:
    """What the detail view shows about one contact."""

    contact: ContactRow
    created_at: datetime
    updated_at: datetime
    invited_by: str | None
    revoked_by: str | None
    invite_expires_at: datetime | None
    links: tuple[LinkEntry, ...]
    """The newest `LIMIT` links, newest first."""
    link_count: int
    """How many links the contact was ever issued."""
    open_links: int
    """How many of their links work now (not used, revoked, superseded or expired): what revoking ends."""
    messages: tuple[MessageEntry, ...]
    """The newest `LIMIT` emails, newest first."""
    message_count: int
    queued_messages: int
    """Emails waiting in the outbox: revoking skips them."""
    audit: tuple[AuditRow, ...]
    """The newest `LIMIT` audit entries about the contact, newest first."""
    audit_count: int


def _link_state(link: MagicLink, now: datetime) -> tuple[str, datetime | None]:
    if link.used_at is not None:
        return LINK_USED, link.used_at
    if link.revoked_at is not None:
        return LINK_REVOKED, link.revoked_at
    if link.superseded_at is not None:
        return LINK_SUPERSEDED, link.superseded_at
    if link.expires_at <= now:
        return LINK_EXPIRED, link.expires_at
    return LINK_OPEN, None


def contact_history(contact_id: int, limit: int = LIMIT) -> ContactHistory:
    """Read one contact's details, links, mail and audit entries (newest first, at most `limit` of each).

    Raises:
        NotFound: the contact no longer exists.
    """
    contact = get_model(contact_id)
    now = clock.now()
    links_query = MagicLink.select().where(MagicLink.contact == contact_id)
    links = tuple(
        LinkEntry(link.purpose, link.channel, link.created_at, link.created_by, link.expires_at,
                  *_link_state(link, now))
        for link in links_query.order_by(MagicLink.created_at.desc(), MagicLink.id.desc()).limit(limit)
    )
    open_links = links_query.where(
        MagicLink.used_at.is_null() & MagicLink.revoked_at.is_null() & MagicLink.superseded_at.is_null()
        & (MagicLink.expires_at > now)
    ).count()
    mail_query = OutboxMessage.select().where(OutboxMessage.contact == contact_id)
    messages = tuple(
        MessageEntry(m.kind, m.status, m.attempts, m.last_error, m.created_at, m.sent_at, m.next_attempt_at)
        for m in mail_query.order_by(OutboxMessage.id.desc()).limit(limit)
    )
    queued = mail_query.where(OutboxMessage.status == OUTBOX_QUEUED).count()
    audit_query = AuditEntry.select().where(AuditEntry.contact == contact_id)
    entries = tuple(
        AuditRow(e.at, e.actor, e.host, e.action, e.subject, e.detail)
        for e in audit_query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    )
    return ContactHistory(
        contact=to_row(contact),
        created_at=contact.created_at,
        updated_at=contact.updated_at,
        invited_by=contact.invited_by,
        revoked_by=contact.revoked_by,
        invite_expires_at=contact.invite_expires_at,
        links=links,
        link_count=links_query.count(),
        open_links=open_links,
        messages=messages,
        message_count=mail_query.count(),
        queued_messages=queued,
        audit=entries,
        audit_count=audit_query.count(),
    )


__all__ = ["LIMIT", "ContactHistory", "LinkEntry", "MessageEntry", "contact_history"]
