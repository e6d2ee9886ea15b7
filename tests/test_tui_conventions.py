"""The conventions of lazygit and k9s users (issue 13): q quits (asking first while mail is being sent), j/k/g/G
move, sort by a chosen column (by key and by the palette), and the chosen theme is remembered between runs.

Real components throughout: a SQLite file under tmp_path, the aiosmtpd server of `tests/fixtures_smtp.py`, and
the settings file in a config directory under tmp_path (`XDG_CONFIG_HOME`).
"""

from __future__ import annotations

import json
import stat

import pytest

from models import contacts, demo
from models.contacts import ContactQuery, contact_page
from tests.fixtures_tui import HOSTILE_NAME, settle, until
from tui.screens.confirm_quit import ConfirmQuitScreen
from tui.screens.login_email import LoginEmailScreen
from tui.screens.main import MainScreen
from tui.screens.sort_picker import SortPickerScreen


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch):
    """The dashboard's settings go to a directory of this test's own, never the user's."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def smtp_env(smtp_server, monkeypatch):
    for key, value in smtp_server.env().items():
        monkeypatch.setenv(key, value)
    return smtp_server


def order(query: ContactQuery, count: int) -> list[int]:
    """The ids the database puts first for `query` (what the table must show)."""
    return [row.id for row in contact_page(query, 0, count, count=False).rows]


# --- q ------------------------------------------------------------------------------------------------------


async def test_q_quits_from_the_main_screen(portal_app):
    contacts.add_contact("ann@example.com", "Ann", "Lee")
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert not app._exit
        await pilot.press("q")
        await until(pilot, lambda: app._exit)  # App.exit was called: no question asked with nothing being sent
        assert isinstance(app.screen, MainScreen)


async def test_q_is_a_letter_in_the_search_box_and_does_nothing_in_a_dialog(portal_app):
    contacts.add_contact("quinn@example.com", "Quinn", "Lee")
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash", "q")
        await settle(pilot)
        assert app.is_running
        assert app.screen.table.query_spec.search == "q"
        await pilot.press("enter", "greater_than_sign")
        await settle(pilot)
        assert isinstance(app.screen, SortPickerScreen)
        await pilot.press("q")
        await settle(pilot)
        assert not app._exit and isinstance(app.screen, SortPickerScreen)


async def test_q_asks_first_while_mail_is_being_sent(portal_app, smtp_env):
    for n in range(3):
        contacts.add_contact(f"person{n}@example.com")
    smtp_env.handler.hold(1)  # the server sits on the first message until released
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+a", "l")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, LoginEmailScreen)
        await pilot.press("enter")
        assert smtp_env.handler.holding.wait(10)
        await until(pilot, lambda: app.sending)
        # In the dialog q is not quit; the dashboard's q (the same action) asks while the send runs.
        await pilot.press("q")
        await pilot.pause()
        assert app.screen is dialog and not app._exit
        main = next(screen for screen in app.screen_stack if isinstance(screen, MainScreen))
        await app.run_action("app.quit_asking", main)
        await until(pilot, lambda: isinstance(app.screen, ConfirmQuitScreen))
        await pilot.press("escape")  # stay
        await until(pilot, lambda: app.screen is dialog)
        assert not app._exit
        await app.run_action("app.quit_asking", main)
        await until(pilot, lambda: isinstance(app.screen, ConfirmQuitScreen))
        await pilot.press("enter")  # quit: the sender is told to stop after the message in flight
        await until(pilot, lambda: app._exit)
        assert dialog.query_one("SendPanel").cancel_event.is_set()
        smtp_env.handler.release()


async def test_q_quits_without_asking_once_the_send_is_over(portal_app, smtp_env):
    contacts.add_contact("ann@example.com", "Ann", "Lee")
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("l", "enter")
        await settle(pilot)
        assert smtp_env.handler.wait_for(1)
        await pilot.press("enter")  # close the finished dialog
        await settle(pilot)
        assert isinstance(app.screen, MainScreen) and not app.sending
        await pilot.press("q")
        await until(pilot, lambda: app._exit)
        assert not any(isinstance(screen, ConfirmQuitScreen) for screen in app.screen_stack)


# --- j k g G ------------------------------------------------------------------------------------------------


async def test_j_k_g_G_move_in_a_table_of_300(portal_app):
    demo.seed(300)
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.table
        assert table.total == 300 and table.cursor_index == 0
        await pilot.press("j", "j", "j")
        await settle(pilot)
        assert table.cursor_index == 3
        await pilot.press("k")
        await settle(pilot)
        assert table.cursor_index == 2
        await pilot.press("G")
        await settle(pilot)
        assert table.cursor_index == 299
        assert table.highlighted.id == order(table.query_spec, 300)[299]
        await pilot.press("k")
        await settle(pilot)
        assert table.cursor_index == 298
        await pilot.press("g")
        await settle(pilot)
        assert table.cursor_index == 0
        assert table.highlighted.id == order(table.query_spec, 1)[0]
        await pilot.press("k")  # already at the top: stays
        await settle(pilot)
        assert table.cursor_index == 0


async def test_help_lists_j_k_g_G_q_and_the_sort_picker(portal_app):
    contacts.add_contact("ann@example.com", "Ann", "Lee")
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        rows = {key: title for _, section in app.screen.key_sections() for key, title, *_ in section}
        assert rows["↓ j"] == "Next contact" and rows["↑ k"] == "Previous contact"
        assert any(key.split()[-1] == "g" and what == "First contact" for key, what in rows.items())
        assert any(key.split()[-1] == "G" and what == "Last contact" for key, what in rows.items())
        assert rows["q"].startswith("Quit")
        assert rows[">"] == "Sort by column…"


# --- sort by a chosen column --------------------------------------------------------------------------------


async def test_sort_picker_by_key(portal_app):
    demo.seed(60)
    contacts.add_contact("mallory@example.com", HOSTILE_NAME, "[/]")
    app = portal_app()
    async with app.run_test(size=(110, 32)) as pilot:
        await settle(pilot)
        table = app.screen.table
        await pilot.press("greater_than_sign")
        await settle(pilot)
        assert isinstance(app.screen, SortPickerScreen)
        await pilot.press("j", "down", "enter")  # name -> email -> status
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert table.query_spec == ContactQuery(sort="status", descending=False)
        assert [row.id for row in table.shown_rows] == order(table.query_spec, len(table.shown_rows))
        assert table.heading("status") == "Status ▲"
        # Escape cancels: the order stays.
        await pilot.press("greater_than_sign", "down", "escape")
        await settle(pilot)
        assert table.query_spec.sort == "status"
        # Picking the sorted column keeps its direction (S reversed it).
        await pilot.press("S", "greater_than_sign", "enter")
        await settle(pilot)
        assert table.query_spec == ContactQuery(sort="status", descending=True)


@pytest.mark.parametrize(("title", "key"), [("Sort by email", "email"), ("Sort by last login", "last_login"),
                                            ("Sort by invited", "invited_at")])
async def test_sort_by_a_column_from_the_palette(portal_app, title, key):
    demo.seed(60)
    app = portal_app()
    async with app.run_test(size=(110, 32)) as pilot:
        await settle(pilot)
        table = app.screen.table
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*title)
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert table.query_spec == ContactQuery(sort=key, descending=False)
        assert [row.id for row in table.shown_rows] == order(table.query_spec, len(table.shown_rows))


async def test_the_sort_picker_is_in_the_palette(portal_app):
    demo.seed(20)
    app = portal_app()
    async with app.run_test(size=(110, 32)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p", *"Sort by column", "enter")
        await settle(pilot)
        assert isinstance(app.screen, SortPickerScreen)


# --- the theme, remembered ----------------------------------------------------------------------------------


async def test_the_theme_is_saved_and_restored_across_runs(portal_app, config_home):
    contacts.add_contact("ann@example.com", "Ann", "Lee")
    settings = config_home / "client-portal" / "tui.json"
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert not settings.exists()  # nothing written until a theme is chosen
        app.theme = "textual-light"
        await settle(pilot)
    assert json.loads(settings.read_text()) == {"theme": "textual-light"}
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    assert [p.name for p in settings.parent.iterdir()] == ["tui.json"]  # no temporary file left behind

    again = portal_app()
    async with again.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert again.theme == "textual-light"
        assert again.current_theme.dark is False


async def test_the_theme_chosen_from_the_palette_is_saved(portal_app, config_home):
    contacts.add_contact("ann@example.com", "Ann", "Lee")
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p", *"theme", "enter")
        await settle(pilot)
        await pilot.press(*"nord", "enter")
        await settle(pilot)
        assert app.theme == "nord"
    settings = config_home / "client-portal" / "tui.json"
    assert json.loads(settings.read_text())["theme"] == "nord"


@pytest.mark.parametrize(("content", "says"), [("{not json", "is not valid JSON"),
                                               ('["a list"]', "does not hold a JSON object"),
                                               ('{"theme": "no-such-theme"}', "is not one this version has")])
async def test_a_bad_settings_file_starts_with_the_default_theme_and_says_why(portal_app, config_home,
                                                                               content, says):
    settings = config_home / "client-portal" / "tui.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(content)
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        assert app.theme == "textual-dark"
        messages = [str(n.message) for n in app._notifications]
        assert any(says in message for message in messages), messages
        assert all("\n" not in message for message in messages)
    assert settings.read_text() == content  # nothing lost until a theme is chosen


# --- every theme readable -----------------------------------------------------------------------------------


def contrast(one, other) -> float:
    """The WCAG contrast ratio of two Rich colours."""

    def luminance(color) -> float:
        channels = []
        for value in color.get_truecolor():
            value /= 255
            channels.append(value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4)
        r, g, b = channels
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


async def test_every_theme_keeps_the_labels_readable(portal_app):
    from textual.widgets import Static

    from tui.widgets.key_hints import KeyHints
    from tui.widgets.stats_header import StatsHeader

    contacts.add_contact("ann@example.com", "Ann", "Lee")  # not invited: drawn in the muted colour
    app = portal_app()
    low: list[str] = []
    async with app.run_test(size=(110, 32)) as pilot:
        await settle(pilot)
        themes = [name for name in app.available_themes if not name.startswith(("ansi", "textual-ansi"))]
        assert "textual-light" in themes and "solarized-light" in themes
        for theme in themes:
            app.theme = theme
            await settle(pilot, rounds=2)
            header = app.screen.query_one(StatsHeader)
            table = app.screen.table
            table._styles = None
            hints = app.screen.query_one(KeyHints)
            status = app.screen.query_one("#table-status", Static)
            pairs = {
                "header label": (header._style("label").color, header.rich_style.bgcolor),
                "not invited": (table._palette()["not_invited"].color, table.rich_style.bgcolor),
                "key bar": (hints.rich_style.color, hints.rich_style.bgcolor),
                "status line": (status.rich_style.color, status.rich_style.bgcolor),
            }
            for what, (fg, bg) in pairs.items():
                ratio = contrast(fg, bg)
                if ratio < 3:
                    low.append(f"{theme} {what}: {fg.get_truecolor().hex} on {bg.get_truecolor().hex} = {ratio:.1f}")
    assert not low, low
