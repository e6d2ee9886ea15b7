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
from tui.palette import HELP_SCORE, ActionCommands, help_matches
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
        provider = ActionCommands(app.screen)  # the app's provider: by name, or else by what an action does
        names = [title for title, _, _ in app.screen.palette_commands()]
        assert len(names) > 25
        for name in names:
            hits = [hit async for hit in provider.search(name)]
            best = max(hits, key=lambda hit: hit.score)
            assert best.text == name, (name, [(hit.text, hit.score) for hit in hits])
        # Typing "csv" found nothing when only names were matched: the help says what writes or reads one.
        found = [(str(hit.match_display), hit.help) async for hit in provider.search("csv")]
        assert {name.split()[0] for name, _ in found} == {"Import", "Export"}, found
        assert all("CSV" in help_text for _, help_text in found)
        by_name = [(hit.score, str(hit.match_display)) async for hit in provider.search("revoke")]
        assert max(by_name)[1] == "Revoke access" and max(by_name)[0] > HELP_SCORE  # the palette sorts by score
        assert [hit async for hit in provider.search("zebra crossing")] == []
    assert help_matches("qr", "show the QR code") and not help_matches("qr", "a square")


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


# --- the key bar follows the focus and the data ------------------------------------------------------------------


def bar(app) -> str:
    from tui.widgets.key_hints import KeyHints

    return app.screen.query_one(KeyHints).render().plain


async def click_hint(pilot, label: str) -> None:
    from tui.widgets.key_hints import KeyHints

    line = bar(pilot.app)
    await pilot.click(KeyHints, offset=(line.index(label), 0))
    await settle(pilot)


async def test_the_key_bar_on_an_empty_dashboard_says_how_to_get_contacts_in(portal_app):
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        line = bar(app)
        for label in ("i Invite", "a Add contact", "c Import CSV", "d Domains", "? Help", "^p palette"):
            assert label in line, (label, line)
        for label in ("Login email", "Magic link", "Search"):  # nothing to act on yet
            assert label not in line, (label, line)
        await click_hint(pilot, "a Add contact")
        from tui.screens.add_contact import AddContactScreen

        assert isinstance(app.screen, AddContactScreen)


async def test_the_key_bar_with_a_selection_puts_what_acts_on_it_first(portal_app):
    from tui.screens.login_email import LoginEmailScreen

    for email in ("ada@example.com", "bob@example.com", "cy@example.com"):
        contacts.add_contact(email)
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert bar(app).startswith(" / Search  i Invite  l Login email ")
        assert "Unselect" not in bar(app)
        table = app.screen.table
        await pilot.press("space", "j", "space")
        await settle(pilot)
        assert len(table.selected) == 2
        line = bar(app)
        assert line.startswith(" l Login email to 2  esc Unselect  "), line
        await click_hint(pilot, "l Login email to 2")
        assert isinstance(app.screen, LoginEmailScreen)
        assert sorted(app.screen.contact_ids) == sorted(table.selected)
        await pilot.press("escape")
        await settle(pilot)
        await click_hint(pilot, "esc Unselect")
        assert table.selected == set()
        assert bar(app).startswith(" / Search  i Invite  l Login email ")


async def test_the_key_bar_in_the_search_box_the_filter_and_a_filtered_table(portal_app):
    for email in ("ada@example.com", "bob@example.com"):
        contacts.add_contact(email)
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        assert bar(app).startswith(" ⏎ Results  esc Clear search  tab Status filter "), bar(app)
        await pilot.press(*"ada", "tab")
        await settle(pilot)
        assert bar(app).startswith(" ⏎ Choose status  esc Show all  tab Table "), bar(app)
        await pilot.press("tab")
        await settle(pilot)
        assert app.focused is app.screen.table
        line = bar(app)
        assert "esc Show all" in line and line.index("esc Show all") < line.index("/ Search"), line
        # at 80 columns what does not fit goes (from the end), never the help or the palette's key
        assert "? Help" in line and line.rstrip().endswith("^p palette") and "…" not in line, line
        await click_hint(pilot, "esc Show all")
        assert app.screen.table.query_spec.search == "" and app.screen.table.total == 2
        assert "Show all" not in bar(app)
