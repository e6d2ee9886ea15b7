"""Two browser sessions and a terminal dashboard on one database, each its own process (the terminal one is this
test's): a contact added in one shows in the other two within 2 seconds (the dashboards poll
`PRAGMA data_version`; nothing tells them)."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from models import contacts
from models.errors import NotFound
from tests.fixtures_tui import settle
from tests.test_web_auth import TerminalSession, WebServer, sign_in
from tui.screens.add_contact import AddContactScreen
from tui.widgets.stats_header import StatsHeader

SHOWN_WITHIN = 2.0
"""Seconds from the change being committed to it being drawn everywhere else (issue 15)."""


async def committed(email: str, seconds: float = 20) -> float:
    """Wait until the contact is in the database (as seen from this process); returns that moment."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            contacts.find_contact(email)
            return time.monotonic()
        except NotFound:
            if time.monotonic() > deadline:
                raise AssertionError(f"{email} was never added") from None
            await asyncio.sleep(0.02)


async def test_a_change_in_one_dashboard_shows_in_the_others_within_two_seconds(portal_app, db_path, frozen_clock):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    server = WebServer(db_path).start()
    try:
        async with aiohttp.ClientSession() as http:
            first = await TerminalSession.open(http, server, await sign_in(http, server.url))
            second = await TerminalSession.open(http, server, await sign_in(http, server.new_url()))
            app = portal_app()
            async with app.run_test(size=(100, 30)) as pilot:
                try:
                    await settle(pilot)
                    await first.wait_for("of 1 contact", "ada@example.com")
                    await second.wait_for("of 1 contact", "ada@example.com")

                    # The terminal dashboard adds a contact; both browsers show it.
                    marks = first.mark(), second.mark()
                    await pilot.press("a")
                    await settle(pilot)
                    assert isinstance(app.screen, AddContactScreen)
                    await pilot.press(*"zed@example.com")
                    await settle(pilot)
                    await pilot.press("enter")
                    at = await committed("zed@example.com")
                    for session, since in zip((first, second), marks):
                        await session.wait_for("of 2 contacts", "zed@example.com", since=since,
                                               seconds=max(0.0, at + SHOWN_WITHIN - time.monotonic()))

                    # The first browser adds one; the terminal dashboard and the second browser show it.
                    since = second.mark()
                    mark = first.mark()
                    await first.keys("a")
                    await first.wait_for("Add a contact", since=mark)
                    mark = first.mark()
                    await first.keys("yvonne@example.com")
                    await first.wait_for("✓ yvonne@example.com", since=mark)
                    await first.keys("\r")
                    at = await committed("yvonne@example.com")
                    header = app.main_screen.query_one(StatsHeader)
                    while header.info is None or header.info.stats.contacts != 3:
                        assert time.monotonic() < at + SHOWN_WITHIN, "the terminal dashboard did not see it in time"
                        await asyncio.sleep(0.02)
                    await second.wait_for("of 3 contacts", "yvonne@example.com", since=since,
                                          seconds=max(0.0, at + SHOWN_WITHIN - time.monotonic()))
                finally:
                    await first.close()
                    await second.close()
    finally:
        server.stop()
