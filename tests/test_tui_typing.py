"""Keys that arrive in one burst (a paste, a fast typist, a laggy SSH link, tmux send-keys) land where they were
typed, in every form: each key reaches the widget that had the focus when it was typed (`tui.key_order`).

Before that, Textual handed every key of a burst to the focused widget before the first tab had moved the focus,
and before the dialog opened by `a` was mounted: `a q@example.org<tab>Quinn<enter>` stored `q@example.orgquinn`
or typed the address into the table under the dialog. Each test types a burst and asserts on the database.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from textual import events
from textual.keys import _character_to_key

from models import contacts, domains, outbox
from models.errors import NotFound
from tests.fixtures_tui import settle
from tui.screens.add_contact import AddContactScreen
from tui.screens.domains import DomainsScreen
from tui.screens.main import MainScreen

CSV = Path(__file__).resolve().parent / "fixtures" / "contacts_google.csv"

NAMED = {"tab": "\t", "shift+tab": None, "enter": "\r", "escape": "\x1b", "space": " ", "down": None}
"""Keys written by name in a burst; anything else is text, typed one character at a time."""


def burst(*parts: str) -> list[events.Key]:
    """The key events a terminal delivers for `parts` (key names from NAMED, or text to type)."""
    out: list[events.Key] = []
    for part in parts:
        if part in NAMED:
            out.append(events.Key(part, NAMED[part]))
        else:
            out.extend(events.Key(ch if ch.isalnum() else _character_to_key(ch), ch) for ch in part)
    return out


def post(app, *parts: str | events.Event) -> None:
    """Queue every key at once, as the terminal delivers a paste or fast typing: nothing waits in between."""
    for part in parts:
        for event in [part] if isinstance(part, events.Event) else burst(part):
            app.post_message(event)


def contact(email: str):
    try:
        return contacts.find_contact(email)
    except NotFound:
        return None


async def typed(pilot) -> None:
    """Wait until every key of the burst has landed and what it started (workers, their messages) is over."""
    for _ in range(200):
        await settle(pilot)
        if not getattr(pilot.app, "keys_waiting", 0):
            return
    raise AssertionError(f"{pilot.app.keys_waiting} keys never landed")


async def started(pilot) -> None:
    await settle(pilot)
    assert isinstance(pilot.app.screen, MainScreen)


# --- add contact --------------------------------------------------------------------------------------------


async def test_add_contact_burst_puts_each_field_in_its_field(portal_app):
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        post(app, "a", "q@example.org", "tab", "Quinn", "tab", "Lovelace", "tab", "Acme", "tab", "+33 1 23", "enter")
        await typed(pilot)
        row = contact("q@example.org")
        assert row is not None, contacts.count_contacts()
        assert (row.first_name, row.last_name, row.company, row.phone) == ("Quinn", "Lovelace", "Acme", "+33 1 23")
        assert contacts.count_contacts() == 1
        assert isinstance(app.screen, MainScreen)  # enter added and closed


async def test_add_contact_burst_with_shift_tab_goes_back_to_the_address(portal_app):
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        post(app, "a", "tab", "Quinn", "shift+tab", "q@example.org", "enter")
        await typed(pilot)
        row = contact("q@example.org")
        assert row is not None and row.first_name == "Quinn"


async def test_add_contact_pasted_fields_land_in_their_fields(portal_app):
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        post(app, "a", events.Paste("q@example.org"), "tab", events.Paste("Quinn"), "tab", events.Paste("Hale"),
             "enter")
        await typed(pilot)
        row = contact("q@example.org")
        assert row is not None and (row.first_name, row.last_name) == ("Quinn", "Hale")


async def test_escape_in_a_burst_closes_the_dialog_before_the_next_keys(portal_app):
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        post(app, "a", "one@example.org", "escape", "a", "two@example.org", "tab", "Two", "enter")
        await typed(pilot)
        assert contact("one@example.org") is None
        row = contact("two@example.org")
        assert row is not None and row.first_name == "Two"
        assert contacts.count_contacts() == 1


async def test_two_contacts_added_in_one_burst_are_both_added_whole(portal_app):
    # The keys after the first enter wait for the contact to be added and the dialog to close.
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        post(app, "a", "one@example.org", "tab", "One", "enter", "a", "two@example.org", "tab", "Two", "enter")
        await typed(pilot)
        one, two = contact("one@example.org"), contact("two@example.org")
        assert one is not None and one.first_name == "One"
        assert two is not None and two.first_name == "Two"
        assert contacts.count_contacts() == 2


# --- invite -----------------------------------------------------------------------------------------------


async def test_invite_burst_keeps_the_names_of_the_new_contact(portal_app):
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        post(app, "i", "q@example.org", "tab", "Quinn", "tab", "Lovelace", "enter")
        await typed(pilot)
        row = contact("q@example.org")
        assert row is not None
        assert (row.first_name, row.last_name) == ("Quinn", "Lovelace")
        assert [(m.email, m.kind) for m in outbox.list_outbox()] == [("q@example.org", "invite")]


# --- import CSV ---------------------------------------------------------------------------------------------


async def test_import_path_typed_and_entered_in_one_burst_imports_the_file(portal_app, tmp_path):
    path = tmp_path / "from-google_2026.csv"
    path.write_bytes(CSV.read_bytes())
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        post(app, "c", str(path), "enter")
        await typed(pilot)
        assert contact("marie@example.fr") is not None
        assert contacts.count_contacts() >= 3


# --- domains ------------------------------------------------------------------------------------------------


async def test_domain_typed_and_entered_in_one_burst_is_added(portal_app):
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        post(app, "d", "clients.agency.io", "enter")
        await typed(pilot)
        assert [d.name for d in domains.list_domains()] == ["portal.example.com", "clients.agency.io"]


async def test_domain_added_then_chosen_from_the_list_in_one_burst(portal_app):
    # tab and down must wait for the list that adding the domain reloads, then enter selects from it.
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        post(app, "d", "clients.agency.io", "enter", "tab", "down", "enter")
        await typed(pilot)
        assert isinstance(app.screen, DomainsScreen)
        chosen = {d.name: d.is_selected for d in domains.list_domains()}
        assert chosen == {"portal.example.com": False, "clients.agency.io": True}


# --- login email and the search box -------------------------------------------------------------------------


async def test_login_email_opened_and_confirmed_in_one_burst_is_queued(portal_app):
    contacts.add_contact("grace@example.com", "Grace")
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        post(app, "l", "enter")
        await typed(pilot)
        assert [(m.email, m.kind) for m in outbox.list_outbox()] == [("grace@example.com", "login")]


async def test_search_select_and_send_in_one_burst_reaches_only_the_contact_searched(portal_app):
    for email, name in (("ada@example.com", "Ada"), ("grace@example.com", "Grace"), ("linus@example.com", "Linus")):
        contacts.add_contact(email, name)
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        post(app, "/", "grace", "enter", "space", "l", "enter")
        await typed(pilot)
        assert [(m.email, m.kind) for m in outbox.list_outbox()] == [("grace@example.com", "login")]


# --- the command palette ------------------------------------------------------------------------------------


async def test_palette_command_typed_and_run_in_one_burst_then_its_form(portal_app):
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        post(app, events.Key("ctrl+p", None), "add contact", "enter", "q@example.org", "tab", "Quinn", "enter")
        await typed(pilot)
        row = contact("q@example.org")
        assert row is not None and row.first_name == "Quinn"


# --- under load ---------------------------------------------------------------------------------------------


@pytest.fixture
def busy_thread():
    """A thread that keeps the interpreter to itself for a while at a time, as a big import or send does (a
    sort of a long list does not let other threads run until it ends), until the test ends."""
    stop = threading.Event()
    numbers = [(i * 7919) % 100_003 for i in range(100_000)]

    def hog() -> None:
        while not stop.is_set():
            sorted(numbers)

    thread = threading.Thread(target=hog, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


async def test_keys_typed_60_ms_apart_under_load_land_in_their_fields(portal_app, busy_thread):
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        for key in burst("a", "q@example.org", "tab", "Quinn", "tab", "Hale", "enter"):
            app.post_message(key)
            await asyncio.sleep(0.06)  # a typist's pace; the app is slower than that while the thread runs
        await typed(pilot)
        row = contact("q@example.org")
        assert row is not None and (row.first_name, row.last_name) == ("Quinn", "Hale")


async def test_a_burst_under_load_lands_in_its_fields(portal_app, busy_thread):
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        post(app, "i", "q@example.org", "tab", "Quinn", "tab", "Hale", "enter")
        await typed(pilot)
        row = contact("q@example.org")
        assert row is not None and (row.first_name, row.last_name) == ("Quinn", "Hale")


# --- a key whose widget goes away ---------------------------------------------------------------------------


async def test_keys_go_on_after_the_widget_a_key_went_to_is_removed(portal_app):
    # The dialog closes (as a worker's result can close it) while a key for its input is still queued there:
    # the keys after it must not wait forever for that key to land.
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        post(app, "a")
        await typed(pilot)
        assert isinstance(app.screen, AddContactScreen)
        post(app, "x", "y", "z")
        await app.screen.dismiss(None)
        post(app, "a", "q@example.org", "tab", "Quinn", "enter")
        await typed(pilot)
        row = contact("q@example.org")
        assert row is not None and row.first_name == "Quinn"
        assert contacts.count_contacts() == 1
