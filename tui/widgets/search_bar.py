"""The search box and status filter above the contact table (`/` focuses the box; results follow every key)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.widgets import Input, Select

from models.contacts import FILTER_EXPIRED, STATUS_FILTERS
from models.states import STATUS_LABELS

ALL_STATUSES = "all"
"""The filter value that shows every status."""

FILTER_LABELS = {**STATUS_LABELS, FILTER_EXPIRED: "invite expired"}
"""The filter's words for each value: the statuses, and invited contacts whose invitation link lapsed (the
number the header shows as "links expired")."""

STATUS_OPTIONS = [("All statuses", ALL_STATUSES)] + [(FILTER_LABELS[s].capitalize(), s) for s in STATUS_FILTERS]


class SearchInput(Input):
    """The search box: an `Input` whose typing repaints only itself.

    Textual's `Input` sets its virtual size to the text's width on every change, and `Widget.virtual_size` asks
    for a layout pass of the whole screen when it changes: each key re-arranged every widget of the dashboard
    before anything was painted. The virtual size only bounds the box's own sideways scrolling, and the box's
    size never follows its text (`width: 1fr`, one line: no `auto` dimension, which `Input` handles itself with a
    layout of its own), so here a new virtual size only repaints the box.
    """

    virtual_size = Reactive(Size(0, 0), layout=False)


class SearchBar(Horizontal):
    """A one-line search box and a status filter; posts `SearchBar.Changed` whenever either changes."""

    DEFAULT_CSS = """
    SearchBar {
        height: 1;
        width: 1fr;
        margin: 0 0 1 0;
    }
    SearchBar > #search {
        width: 1fr;
    }
    SearchBar > #status-filter {
        width: 20;
        margin-left: 1;
    }
    """

    class Changed(Message):
        """The search text or the status filter changed."""

        def __init__(self, search: str, status: str | None) -> None:
            super().__init__()
            self.search = search
            self.status = status
            """A status key, or `None` for every status."""

    def compose(self) -> ComposeResult:
        yield SearchInput(placeholder="/ search name, email, company", id="search", compact=True)
        yield Select(STATUS_OPTIONS, value=ALL_STATUSES, allow_blank=False, id="status-filter", compact=True)

    @property
    def search(self) -> str:
        """The text in the search box."""
        return self.query_one("#search", Input).value

    @property
    def status(self) -> str | None:
        """The status filter, `None` for all."""
        value = self.query_one("#status-filter", Select).value
        return None if value in (ALL_STATUSES, Select.BLANK) else str(value)

    def focus_search(self) -> None:
        """Put the cursor in the search box."""
        self.query_one("#search", Input).focus()

    def clear(self) -> bool:
        """Empty the box and show every status; returns whether anything was set."""
        search = self.query_one("#search", Input)
        select = self.query_one("#status-filter", Select)
        changed = bool(search.value) or select.value != ALL_STATUSES
        search.value = ""
        select.value = ALL_STATUSES
        return changed

    def next_status(self) -> None:
        """Show the next status in the filter (all, not invited, invited, joined, revoked, invite expired, all...)."""
        select = self.query_one("#status-filter", Select)
        values = [value for _, value in STATUS_OPTIONS]
        index = values.index(select.value) if select.value in values else 0
        select.value = values[(index + 1) % len(values)]

    @on(Input.Changed, "#search")
    @on(Select.Changed, "#status-filter")
    def _changed(self, event: Message) -> None:
        event.stop()
        self.post_message(self.Changed(self.search, self.status))
