"""The status filter draws itself until it is used, then is a real `Select`: the same cells on screen, the same
choices by key, click or list, and no `Select` composed for the dashboard's first frame."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Select

from models import contacts, demo
from models.contacts import FILTER_EXPIRED, ContactQuery
from tests.fixtures_tui import settle
from tui.widgets.search_bar import ALL_STATUSES, STATUS_OPTIONS, SearchBar, StatusFilter


class Side(App):
    """The filter beside the compact `Select` it stands in for, each 20 cells wide, at the same height."""

    AUTO_FOCUS = None
    CSS = "Screen { layout: horizontal; } StatusFilter, Select { width: 20; margin-left: 1; }"

    def __init__(self, value: str) -> None:
        super().__init__()
        self.value = value

    def compose(self):
        status_filter = StatusFilter()
        status_filter._value = self.value  # as `value` would set it, before it is mounted
        yield status_filter
        yield Select(STATUS_OPTIONS, value=self.value, allow_blank=False, compact=True)


def _cells(app: App, start: int) -> list[tuple[str, object]]:
    """The 20 cells of the first line from column `start`: each character with its style (its colours and
    attributes; not the mouse offsets Textual keeps in it)."""
    strip = app.screen._compositor.render_strips()[0].crop(start, start + 20)
    return [(char, segment.style.clear_meta_and_links()) for segment in strip for char in segment.text]


async def test_it_draws_the_same_cells_as_the_select_in_every_theme():
    for theme in ("textual-dark", "textual-light", "solarized-light"):
        for value in (ALL_STATUSES, FILTER_EXPIRED):  # the shortest and the longest label
            app = Side(value)
            async with app.run_test(size=(50, 3)) as pilot:
                app.theme = theme
                await pilot.pause()
                ours, select = _cells(app, 1), _cells(app, 22)
                assert "".join(char for char, _ in ours).rstrip().endswith("▼"), ours
                assert ours == select, (theme, value)


async def test_no_select_is_composed_until_the_filter_is_used_then_it_is_one(portal_app):
    demo.seed(60)
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        status_filter = app.screen.query_one(StatusFilter)
        assert not app.screen.query(Select)
        await pilot.press("f", "f")  # all -> not invited -> invited, by key, before it is a Select
        await settle(pilot)
        assert status_filter.value == "invited" and not app.screen.query(Select)
        assert app.screen.query_one(SearchBar).status == "invited"
        assert app.screen.query_one("#contacts").total == contacts.contact_page(
            ContactQuery(status="invited"), 0, 1).total

        await pilot.click(StatusFilter)  # a click opens the list on the value shown
        await settle(pilot)
        select = app.screen.query_one(StatusFilter).query_one(Select)
        assert select.value == "invited" and select.expanded
        await pilot.press("down", "enter")  # the next status in the list: joined
        await settle(pilot)
        assert status_filter.value == "joined" and not select.expanded
        assert app.screen.query_one("#contacts").total == contacts.contact_page(
            ContactQuery(status="joined"), 0, 1).total

        await pilot.press("escape")  # from the table (the list gives the focus back to the Select): clear
        app.screen.query_one("#contacts").focus()
        await pilot.press("escape")
        await settle(pilot)
        assert status_filter.value == ALL_STATUSES and select.value == ALL_STATUSES
        assert app.screen.query_one("#contacts").total == 60


async def test_tab_turns_it_into_a_focused_select_keeping_its_value(portal_app):
    demo.seed(20)
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        app.screen.query_one("#search").focus()
        await pilot.press("tab")
        await settle(pilot)
        select = app.screen.query_one(StatusFilter).query_one(Select)
        assert app.focused is select and select.value == "not_invited"
        await pilot.press("enter")  # its own keys from here on
        await settle(pilot)
        assert select.expanded
