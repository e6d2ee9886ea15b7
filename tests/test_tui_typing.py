"""Keys that arrive in one burst (a paste, a fast typist, tmux send-keys): enter must act on everything typed
before it. Enter is a priority binding in the modals; before `Dialog.after_typing` it ran ahead of the keys
still queued for the input (found in tmux: a domain typed and entered at once was refused as empty)."""

from __future__ import annotations

from textual import events

from models import contacts, domains
from tests.fixtures_tui import settle
from tui.screens.add_contact import AddContactScreen
from tui.screens.domains import DomainsScreen


def burst(app, text: str) -> None:
    """Queue every key at once, as a terminal delivers a paste or fast typing, without waiting in between."""
    for ch in text:
        app.post_message(events.Key(ch, ch))
    app.post_message(events.Key("enter", "\r"))


async def test_domain_typed_and_entered_in_one_burst_is_added(portal_app):
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, DomainsScreen)
        burst(app, "clients.agency.io")
        await settle(pilot)
        assert [d.name for d in domains.list_domains()] == ["portal.example.com", "clients.agency.io"]


async def test_contact_typed_and_entered_in_one_burst_is_added_with_the_full_address(portal_app):
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AddContactScreen)
        burst(app, "grace@example.com")
        await settle(pilot)
        assert contacts.find_contact("grace@example.com").email == "grace@example.com"
        assert contacts.count_contacts() == 1
