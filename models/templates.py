"""Storage of edited email templates in the `Template` table.

Only an admin's edit of a template is stored; a name with no row means "use the built-in default" that ships
with `mail/`. Checking that a template is valid (Jinja syntax, known custom values) is `mail.templates`' job:
this module keeps text and records who changed it, and knows nothing of Jinja.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models import audit, clock
from models.db import write_transaction
from models.entities import Template


@dataclass(frozen=True)
class StoredTemplate:
    """An edited template as stored: its three parts, and who last changed it when."""

    name: str
    subject: str
    text_body: str
    html_body: str
    updated_at: datetime
    updated_by: str


def get_stored(name: str) -> StoredTemplate | None:
    """The stored edit of template `name`, or None when the built-in default is in use."""
    row = Template.get_or_none(Template.name == name)
    if row is None:
        return None
    return StoredTemplate(row.name, row.subject, row.text_body, row.html_body, row.updated_at, row.updated_by)


@write_transaction
def store(name: str, subject: str, text_body: str, html_body: str) -> StoredTemplate:
    """Insert or replace the edit of template `name` (the caller has validated the three parts)."""
    now = clock.now()
    actor = audit.current_actor()
    Template.insert(
        name=name, subject=subject, text_body=text_body, html_body=html_body, updated_at=now, updated_by=actor
    ).on_conflict(
        conflict_target=[Template.name],
        update={
            Template.subject: subject,
            Template.text_body: text_body,
            Template.html_body: html_body,
            Template.updated_at: now,
            Template.updated_by: actor,
        },
    ).execute()
    audit.record("template.set", subject=name)
    return StoredTemplate(name, subject, text_body, html_body, now, actor)


@write_transaction
def delete_stored(name: str) -> bool:
    """Drop the edit of template `name` so the built-in default applies again; False if there was none."""
    deleted = Template.delete().where(Template.name == name).execute()
    if deleted:
        audit.record("template.reset", subject=name)
    return bool(deleted)
