"""The audit log: every change records who made it, from where, and to whom."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models import clock
from models.actor import current_actor, current_host
from models.entities import AuditEntry, Contact


@dataclass(frozen=True)
class AuditRow:
    """One audit entry as the dashboard and the CLI show it."""

    at: datetime
    actor: str
    host: str | None
    action: str
    subject: str
    detail: str


def record(action: str, contact: Contact | None = None, detail: str = "", subject: str | None = None) -> None:
    """Append an entry. Call inside the transaction of the change it describes, so both land or neither."""
    AuditEntry.create(
        at=clock.now(),
        actor=current_actor(),
        host=current_host(),
        action=action,
        contact=contact,
        subject=subject if subject is not None else (contact.email if contact is not None else ""),
        detail=detail,
    )


def recent(limit: int = 200, offset: int = 0) -> list[AuditRow]:
    """The newest entries first."""
    query = AuditEntry.select().order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    return [AuditRow(e.at, e.actor, e.host, e.action, e.subject, e.detail) for e in query]
