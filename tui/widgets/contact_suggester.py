"""Completes an email address from the existing contacts as it is typed (right arrow accepts)."""

from __future__ import annotations

import asyncio

from textual.suggester import Suggester

from models import contacts
from models.contacts import ContactQuery
from models.db import database

CANDIDATES = 20
"""How many matching contacts are looked at for one that starts with what was typed."""


def _first_email_starting_with(value: str) -> str | None:
    with database.connection_context():
        page = contacts.contact_page(ContactQuery(search=value, sort="email"), 0, CANDIDATES)
    prefix = value.lower()
    return next((row.email for row in page.rows if row.email.startswith(prefix)), None)


class ContactSuggester(Suggester):
    """Suggests the address of an existing contact that starts with the text in the box."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=False)

    async def get_suggestion(self, value: str) -> str | None:
        if len(value.strip()) < 2 or " " in value:
            return None
        try:
            return await asyncio.to_thread(_first_email_starting_with, value.strip())
        except Exception:  # a suggestion is a nicety: never let it break typing
            return None
