"""Keys that act on a contact say why when there is none to act on, rather than doing nothing."""

from __future__ import annotations

from models.entities import OutboxMessage
from tests.fixtures_tui import settle
from tui.screens.main import MainScreen


def _messages(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_l_on_an_empty_database_says_why_and_what_to_do(portal_app):
    app = portal_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert _messages(app) == ["No contacts yet: press a to add one, or c to import a CSV file."]
    assert OutboxMessage.select().count() == 0
