"""The terminal attacks the dashboard: a tiny window, a 1 MB paste, every key on an empty database (issue 5).

Each test drives the real app with Pilot and lets `run_test` re-raise anything that crashed inside it; what the
user must see instead of a crash is a notification.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.binding import Binding
from textual.widgets import Input, Static

from models import contacts
from tests.fixtures_tui import HOSTILE_NAME, settle, workers_done
from tui.app import MIN_HEIGHT, MIN_WIDTH, TooSmallScreen
from tui.screens.main import MainScreen
from tui.widgets.contact_table import ContactTable
from tui.widgets.search_bar import SearchBar

MODAL_KEYS = ("m", "i", "l", "o", "question_mark")
"""Modals to resize: one with a worker running (magic link), forms (invite, login email), a table (outbox) and
the longest text (help)."""


def _keys(bindings) -> list[str]:
    """Every key of a `BINDINGS` list (a binding may name several keys, comma-separated)."""
    out: list[str] = []
    for binding in bindings:
        if isinstance(binding, Binding):
            out.extend(key.strip() for key in binding.key.split(","))
    return out


async def _quiet(pilot) -> None:
    """Every worker finished and its messages handled (lighter than `settle`, which also waits for the header)."""
    for _ in range(3):
        await workers_done(pilot.app)
        await pilot.pause()


async def _back_to_main(pilot) -> None:
    for _ in range(6):
        await _quiet(pilot)
        if isinstance(pilot.app.screen, MainScreen):
            return
        await pilot.press("escape")
    assert isinstance(pilot.app.screen, MainScreen), pilot.app.screen


def _add_hostile_contacts() -> None:
    contacts.add_contact("hostile@example.com", first_name=HOSTILE_NAME, company="\u202eevil\u202c zero\u200bwidth")
    contacts.add_contact("long@example.com", first_name="x" * 200, last_name="[bold]" * 33)
    contacts.add_contact("jürgen@münchen.de", first_name="Jürgen")


async def test_resize_to_40x10_and_back_on_the_main_screen_and_in_modals(portal_app):
    _add_hostile_contacts()
    app = portal_app()
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ContactTable)
        assert table.total == 3
        for size in ((40, 10), (120, 36), (40, 10), (20, 5), (120, 36)):
            await pilot.resize_terminal(*size)
            await _quiet(pilot)
            if size[0] < MIN_WIDTH:  # too small to use: one screen says so, over everything
                assert isinstance(app.screen, TooSmallScreen)
                message = str(app.screen.query_one("#too-small", Static).render())
                assert f"{size[0]}×{size[1]}" in message and f"{MIN_WIDTH}×{MIN_HEIGHT}" in message
                await pilot.press("m", "i", "escape", "space")  # keys do nothing underneath meanwhile
                assert isinstance(app.screen, TooSmallScreen) and not table.selected
            else:
                assert isinstance(app.screen, MainScreen)
        assert app.size == (120, 36)
        assert table.total == 3 and table.shown_count == 3

        for key in MODAL_KEYS:
            await pilot.press(key)
            await pilot.pause()  # resized while the modal's first worker may still be running
            modal = app.screen
            assert not isinstance(modal, MainScreen), key
            for size in ((40, 10), (120, 36)):
                await pilot.resize_terminal(*size)
                await pilot.pause()
                await pilot.pause()
                assert app.size == size
                assert app.screen is modal if size[0] >= MIN_WIDTH else isinstance(app.screen, TooSmallScreen)
            assert app.screen is modal  # the modal, its text and its worker, as they were
            await _back_to_main(pilot)
        assert table.total == 3


async def test_started_in_a_tiny_terminal_it_says_so_and_opens_when_it_grows(portal_app):
    _add_hostile_contacts()
    app = portal_app()
    async with app.run_test(size=(30, 8)) as pilot:
        await _quiet(pilot)
        assert isinstance(app.screen, TooSmallScreen)
        await pilot.resize_terminal(MIN_WIDTH, MIN_HEIGHT)
        await _quiet(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.screen.query_one(ContactTable).total == 3


async def test_a_pasted_megabyte_in_the_search_box_stays_bounded(portal_app):
    _add_hostile_contacts()
    app = portal_app()
    pasted = ("q" * 999 + " ") * 1_000 + HOSTILE_NAME  # 1 MB: 1,000 words and an escape sequence
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        search = app.screen.query_one("#search", Input)
        assert app.focused is search
        search.post_message(events.Paste(pasted))
        await settle(pilot)
        assert len(search.value) == len(pasted)
        table = app.screen.query_one(ContactTable)
        assert table.loaded and table.total == 0
        status = str(app.screen.query_one("#table-status").render())
        assert "No contact matches" in status and "\x1b" not in status
        # Still responsive: escape clears the search and every contact is back.
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.query_one(SearchBar).search == ""
        assert table.total == 3
        # And a megabyte typed through the widget's own API (a terminal without bracketed paste).
        search.focus()
        search.insert_text_at_cursor("jürgen " + "y" * 1_000_000)
        await settle(pilot)
        assert table.total == 0
        search.value = "jürgen"
        await settle(pilot)
        assert table.total == 1
        assert not [n for n in app._notifications if n.severity == "error"]


@pytest.mark.parametrize("key,box", [("i", "#email"), ("a", "#email"), ("d", "#new-domain")])
async def test_a_pasted_megabyte_in_an_address_box_is_refused(portal_app, key, box):
    # Before the boxes had a maximum length, each paste was validated and the whole megabyte echoed in the
    # check line: seconds of frozen screen per key.
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press(key)
        await settle(pilot)
        field = app.screen.query_one(box, Input)
        field.focus()
        field.post_message(events.Paste("a" * 1_000_000 + "@example.com"))
        await settle(pilot)
        assert len(field.value) <= 254
        field.post_message(events.Paste("ada@example.com" if key != "d" else "clients.example.com"))
        await settle(pilot)
        assert field.value.endswith("example.com") and len(field.value) < 40
        for widget in app.screen.query("Static"):
            assert len(str(widget.render())) < 5_000, widget


@pytest.fixture
def bare_app(db_path: Path, frozen_clock, headless_clipboard):
    """The dashboard on an empty database with no domain at all (a first run)."""
    from tui.app import ClientPortalApp

    return ClientPortalApp(db_path)


async def test_every_bound_key_on_an_empty_database_without_a_domain(bare_app):
    from tui.app import ClientPortalApp

    app = bare_app
    main_keys = [k for k in _keys(MainScreen.BINDINGS) if k != "q"] + _keys(ContactTable.BINDINGS)  # q quits
    main_keys += [k for k in _keys(ClientPortalApp.BINDINGS) if k != "ctrl+q"]
    main_keys += ["up", "down", "pageup", "pagedown", "tab", "shift+tab", "enter", "space"]
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        # Toasts expire while the test runs: keep every message the user was shown.
        shown: list[str] = []
        notify = app.notify

        def recording_notify(message, *args, **kwargs):
            shown.append(str(message))
            return notify(message, *args, **kwargs)

        app.notify = recording_notify
        await settle(pilot)
        modals: dict[str, type] = {}
        for key in main_keys:
            await pilot.press(key)
            await _quiet(pilot)
            if not isinstance(app.screen, MainScreen):
                modal = app.screen
                modals[key] = type(modal)
                # Every key the modal binds, then enter on whatever it holds (nothing: no domain, no contact).
                for modal_key in _keys(type(modal).BINDINGS) + ["enter"]:
                    if app.screen is not modal:
                        break
                    await pilot.press(modal_key)
                    await _quiet(pilot)
                await _back_to_main(pilot)
            elif isinstance(app.focused, Input):
                await pilot.press("escape")  # out of the search box, or the next keys are typed into it
                await _quiet(pilot)

        assert isinstance(app.screen, MainScreen)
        assert {"i", "a", "c", "d", "o", "h", "question_mark"} <= set(modals), modals
        messages = shown
        # `u` cannot show a URL without a domain: it says so, and how to set one, instead of failing.
        assert any("domain" in m and "press d" in m for m in messages), messages
        assert not any("Traceback" in m or "Error:" in m for m in messages), messages
        assert contacts.count_contacts() == 0
