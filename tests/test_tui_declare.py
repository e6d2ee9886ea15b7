"""One declaration per action: the command palette and the help screen are read from the bindings of the main
screen, the contact table and the app, so each action is in both, once, and the palette finds it by its name."""

from __future__ import annotations

from collections import Counter

from textual.command import CommandPalette
from textual.system_commands import SystemCommandsProvider

from models import contacts
from models.contacts import ContactQuery
from tests.fixtures_tui import settle
from tui.app import ClientPortalApp
from tui.key_actions import declared_actions, declared_bindings, title_of
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen
from tui.widgets.contact_table import ContactTable


def every_binding():
    """(class, binding) for every binding the dashboard declares with an action."""
    for cls in (MainScreen, ContactTable, ClientPortalApp):
        for binding in declared_bindings(cls):
            if binding.action:
                yield cls, binding


def test_every_declared_binding_has_a_name_and_says_what_it_does():
    bindings = list(every_binding())
    assert len(bindings) > 25
    for cls, binding in bindings:
        assert title_of(binding), (cls.__name__, binding.key)
    for cls in (MainScreen, ContactTable, ClientPortalApp):
        for declared in declared_actions(declared_bindings(cls)):
            assert declared.help, (cls.__name__, declared.action)


async def palette_titles(app) -> list[str]:
    """What the command palette offers before anything is typed (its discovery list), in order."""
    provider = SystemCommandsProvider(app.screen)
    return [hit.text async for hit in provider.discover()]


async def test_every_action_is_in_the_palette_and_the_help_once_each(portal_app):
    contacts.add_contact("ada@example.com")
    app = portal_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        main = app.screen
        titles = await palette_titles(app)
        counts = Counter(titles)
        assert [title for title, n in counts.items() if n > 1] == []
        assert counts["Keys"] == 0 and counts["Keys and help"] == 1  # Textual's "Keys" is not offered beside ours
        assert counts["Quit"] == 1 and counts["Quit at once"] == 1
        assert counts["Select contact"] == 1 and counts["Reverse sort"] == 1  # missing before

        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        help_titles = Counter(title for _, rows in app.screen.sections for _, title, *_ in rows)
        help_keys = {key for _, rows in app.screen.sections for keys, *_ in rows for key in keys.split()}

        name_of = {declared.action: declared.title for _, declared in main.declared_actions()}
        for cls, binding in every_binding():
            name = name_of[binding.action]  # an action bound to two keys (↓ and j) is one entry
            assert counts[name] == 1, (cls.__name__, binding.key, name)
            assert help_titles[name] == 1, (cls.__name__, binding.key, name)
            for key in binding.key.split(","):
                assert app.get_key_display(binding.with_key(key.strip())) in help_keys, key
        await pilot.press("escape")


async def test_the_palette_finds_each_action_first_by_its_name(portal_app):
    contacts.add_contact("ada@example.com")
    app = portal_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        provider = SystemCommandsProvider(app.screen)
        names = [title for title, _, _ in app.screen.palette_commands()]
        assert len(names) > 25
        for name in names:
            hits = [hit async for hit in provider.search(name)]
            best = max(hits, key=lambda hit: hit.score)
            assert best.text == name, (name, [(hit.text, hit.score) for hit in hits])


async def test_select_one_and_reverse_sort_run_from_the_palette(portal_app):
    for email in ("ada@example.com", "bob@example.com", "cy@example.com"):
        contacts.add_contact(email)
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.table
        highlighted = table.highlighted.id
        await pilot.press("ctrl+p", *"Select contact", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, CommandPalette)
        assert table.selected == {highlighted}

        before = table.query_spec
        await pilot.press("ctrl+p", *"Reverse sort", "enter")
        await settle(pilot)
        assert table.query_spec == ContactQuery(sort=before.sort, descending=not before.descending)

        await pilot.press("ctrl+p", *"Keys and help", "enter")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
