"""The audit log: every change records who made it, from where, and to whom."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models import clock
from models.actor import current_actor, current_host
from models.base import to_db_time
from models.db import database
from models.entities import AuditEntry, Contact

_INSERT = (
    'INSERT INTO "audit_entry" ("at", "actor", "host", "action", "contact_id", "subject", "detail") '
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


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
    # SQL text rather than AuditEntry.create: every change writes one, and building the INSERT costs more than
    # running it (the bulk sender writes one per message).
    database.execute_sql(_INSERT, entry_values(action, contact, detail, subject))


def entry_values(action: str, contact: Contact | None = None, detail: str = "",
                 subject: str | None = None) -> tuple:
    """The values of the entry `record` would append now (at, actor, host, action, contact id, subject, detail),
    for a statement that writes the entry as part of a change of its own (`Backend.insert_link`)."""
    return (
        to_db_time(clock.now()),
        current_actor(),
        current_host(),
        action,
        contact.id if contact is not None else None,
        subject if subject is not None else (contact.email if contact is not None else ""),
        detail,
    )


def recent(limit: int = 200, offset: int = 0) -> list[AuditRow]:
    """The newest entries first."""
    query = AuditEntry.select().order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    return [AuditRow(e.at, e.actor, e.host, e.action, e.subject, e.detail) for e in query]
