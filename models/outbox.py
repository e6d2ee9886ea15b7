"""The outbox table's side in the model layer: queueing mail and reading the queue.

A row names a contact and a kind (invite, login); it never holds rendered text or a token. `mail.outbox`
claims rows, renders and sends them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import peewee

from models import audit, clock
from models.contacts import ContactRow, to_row
from models.db import write_transaction
from models.domains import default_domain
from models.entities import (
    OUTBOX_FAILED,
    OUTBOX_QUEUED,
    OUTBOX_SENDING,
    PURPOSES,
    STATUS_REVOKED,
    Contact,
    OutboxMessage,
)
from models.errors import InvalidInput


@dataclass(frozen=True)
class OutboxRow:
    """One queued, sent or failed email as the outbox view shows it."""

    id: int
    contact_id: int
    email: str
    kind: str
    batch: str
    status: str
    attempts: int
    last_error: str
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    message_id: str


@dataclass(frozen=True)
class QueueResult:
    """What queueing a batch did: the batch id, who was queued, and who was skipped and why."""

    batch: str
    queued: list[ContactRow] = field(default_factory=list)
    skipped: list[tuple[ContactRow, str]] = field(default_factory=list)


def new_batch_id() -> str:
    return uuid.uuid4().hex[:12]


def new_message_id(domain: str) -> str:
    """A globally unique Message-ID on our default domain, fixed at queue time."""
    return f"<{uuid.uuid4().hex}@{domain}>"


def _skip_reason(contact: Contact, kind: str) -> str | None:
    if contact.status == STATUS_REVOKED:
        return "access revoked"
    pending = OutboxMessage.select().where(
        (OutboxMessage.contact == contact)
        & (OutboxMessage.kind == kind)
        & (OutboxMessage.status.in_([OUTBOX_QUEUED, OUTBOX_SENDING]))
    )
    if pending.exists():
        return f"a {kind} email is already waiting to be sent"
    return None


def queue_for_contacts(contacts: list[Contact], kind: str, batch: str | None = None) -> QueueResult:
    """Queue one `kind` email per contact inside the caller's transaction; revoked or already-queued are skipped."""
    if kind not in PURPOSES:
        raise InvalidInput(f"unknown email kind {kind!r}")
    domain = default_domain()
    batch = batch or new_batch_id()
    now = clock.now()
    actor = audit.current_actor()
    result = QueueResult(batch=batch)
    seen: set[int] = set()
    for contact in contacts:
        if contact.id in seen:
            continue
        seen.add(contact.id)
        reason = _skip_reason(contact, kind)
        if reason:
            result.skipped.append((to_row(contact), reason))
            continue
        OutboxMessage.create(
            contact=contact,
            kind=kind,
            batch=batch,
            next_attempt_at=now,
            message_id=new_message_id(domain),
            created_at=now,
            created_by=actor,
        )
        result.queued.append(to_row(contact))
    if result.queued:
        audit.record(f"queue.{kind}", subject=f"batch {batch}", detail=f"{len(result.queued)} email(s)")
    return result


@write_transaction
def queue_login_emails(contact_ids: list[int], batch: str | None = None) -> QueueResult:
    """Queue a login email to each of these contacts as one batch."""
    contacts: list[Contact] = []
    for start in range(0, len(contact_ids), 500):
        chunk = contact_ids[start : start + 500]
        found = {c.id: c for c in Contact.select().where(Contact.id.in_(chunk))}
        contacts.extend(found[i] for i in chunk if i in found)
    return queue_for_contacts(contacts, "login", batch)


def to_outbox_row(m: OutboxMessage, email: str) -> OutboxRow:
    return OutboxRow(
        id=m.id,
        contact_id=m.contact_id,
        email=email,
        kind=m.kind,
        batch=m.batch,
        status=m.status,
        attempts=m.attempts,
        last_error=m.last_error,
        next_attempt_at=m.next_attempt_at,
        created_at=m.created_at,
        sent_at=m.sent_at,
        message_id=m.message_id,
    )


def list_outbox(status: str | None = None, batch: str | None = None, limit: int = 500) -> list[OutboxRow]:
    """Outbox rows, newest first, optionally of one status or batch."""
    query = OutboxMessage.select(OutboxMessage, Contact.email).join(Contact)
    if status:
        query = query.where(OutboxMessage.status == status)
    if batch:
        query = query.where(OutboxMessage.batch == batch)
    query = query.order_by(OutboxMessage.id.desc()).limit(limit)
    return [to_outbox_row(m, m.contact.email) for m in query]


def outbox_counts() -> dict[str, int]:
    """How many rows are in each outbox status."""
    counts = {s: 0 for s in (OUTBOX_QUEUED, OUTBOX_SENDING, OUTBOX_FAILED, "sent", "skipped")}
    for status, n in OutboxMessage.select(OutboxMessage.status, peewee.fn.COUNT(OutboxMessage.id)).group_by(
        OutboxMessage.status
    ).tuples():
        counts[status] = n
    return counts
