"""The header says when mail waits and no sender runs (`serve` or `outbox send --watch`), and stops saying it once
one records its heartbeat."""

from __future__ import annotations

from models import contacts, heartbeat
from models.outbox import queue_login_emails
from tests.fixtures_tui import settle
from tui.widgets.stats_header import StatsHeader


def _header_text(app) -> str:
    return str(app.main_screen.query_one(StatsHeader).render())


async def test_queued_mail_with_no_sender_running_is_named_in_the_header(portal_app):
    ada = contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    queue_login_emails([ada.id])
    app = portal_app()
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        assert "1 mail queued (no sender running: client-portal serve)" in _header_text(app)

        heartbeat.beat("test-host:1")  # a sender started somewhere
        app.main_screen.query_one(StatsHeader).reload()
        await settle(pilot)
        text = _header_text(app)
        assert "1 mail queued" in text and "no sender running" not in text


async def test_no_note_when_nothing_waits(portal_app):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    app = portal_app()
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        text = _header_text(app)
        assert "0 mail queued" in text and "no sender running" not in text
