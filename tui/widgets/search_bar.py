"""The search box and status filter above the contact table (`/` focuses the box; results follow every key)."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Input

from models.contacts import FILTER_EXPIRED, STATUS_FILTERS
from models.states import STATUS_LABELS

ALL_STATUSES = "all"
"""The filter value that shows every status."""

FILTER_LABELS = {**STATUS_LABELS, FILTER_EXPIRED: "invite expired"}
"""The filter's words for each value: the statuses, and invited contacts whose invitation link lapsed (the
number the header shows as "links expired")."""

STATUS_OPTIONS = [("All statuses", ALL_STATUSES)] + [(FILTER_LABELS[s].capitalize(), s) for s in STATUS_FILTERS]
STATUS_LABEL = {value: label for label, value in STATUS_OPTIONS}
"""What the filter shows for each value."""


class SearchInput(Input):
    """The search box: an `Input` whose typing repaints only itself.

    Textual's `Input` sets its virtual size to the text's width on every change, and `Widget.virtual_size` asks
    for a layout pass of the whole screen when it changes: each key re-arranged every widget of the dashboard
    before anything was painted. The virtual size only bounds the box's own sideways scrolling, and the box's
    size never follows its text (`width: 1fr`, one line: no `auto` dimension, which `Input` handles itself with a
    layout of its own), so here a new virtual size only repaints the box.
    """

    virtual_size = Reactive(Size(0, 0), layout=False)


class StatusFilter(Widget, can_focus=True):
    """The status filter: drawn as a compact `Select` shows it, and one from the moment it is first used.

    A `Select` composes seven widgets in three stages (its current value, its arrows, an option list), each stage
    a layout pass before the first frame, and brings four stylesheets Textual parses at start (Select,
    SelectCurrent, OptionList, Vertical), for a box most sessions never open. So this draws the current status
    itself, and puts a real `Select` inside itself (nothing around it moves) when it takes the focus or a click
    (`select`). Setting `value` works before and after.
    """

    DEFAULT_CSS = """
    StatusFilter {
        height: 1;
        background: $surface;
        color: $foreground;
        pointer: pointer;
    }
    StatusFilter > Select {
        width: 100%;
    }
    """

    class Changed(Message):
        """The chosen status changed (by the user in the list, or by `value`)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._value = ALL_STATUSES

    @property
    def value(self) -> str:
        """The chosen filter value (`ALL_STATUSES`, or a status key)."""
        return self._value

    @value.setter
    def value(self, value: str) -> None:
        if self.selector is not None:
            self.selector.value = value  # its Changed comes back through `on_select_changed`
            return
        if value != self._value:
            self._value = value
            self.refresh()
            self.post_message(self.Changed())

    @property
    def selector(self):
        """The real `Select`, once it has been put in (None before)."""
        return self.children[0] if self.children else None

    def render_line(self, y: int) -> Strip:
        if self.selector is not None:
            return super().render_line(y)
        _, _, background, color = self.colors
        base = RichStyle(bgcolor=background.rich_color)
        width = self.size.width - 3  # `Select`'s arrow is one cell, after one of padding, before one of padding
        label = STATUS_LABEL[self._value][:max(width, 0)]
        return Strip([
            Segment(label, RichStyle(color=color.rich_color, bgcolor=background.rich_color)),
            Segment(" " * (width - len(label) + 1), base),
            Segment("▼", RichStyle(color=(background + color.with_alpha(0.5)).rich_color,
                                   bgcolor=background.rich_color)),
            Segment(" ", base),
        ]).crop(0, self.size.width) if y == 0 else Strip.blank(self.size.width, base)

    async def select(self, *, expand: bool = False):
        """Put the real `Select` in (once), focus it, open its list if `expand`; returns it."""
        if self.selector is None:
            from textual.widgets import Select

            self.can_focus = False
            await self.mount(Select(STATUS_OPTIONS, value=self._value, allow_blank=False, compact=True))
        selector = self.selector
        selector.focus()
        if expand:
            selector.expanded = True
        return selector

    async def _on_focus(self, event: events.Focus) -> None:
        await self.select()

    async def _on_click(self, event: events.Click) -> None:
        event.stop()
        await self.select(expand=True)

    def on_select_changed(self, event) -> None:
        event.stop()
        if event.value != self._value:
            self._value = event.value
            self.post_message(self.Changed())


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
        yield StatusFilter(id="status-filter")

    @property
    def search(self) -> str:
        """The text in the search box."""
        return self.query_one("#search", Input).value

    @property
    def status(self) -> str | None:
        """The status filter, `None` for all."""
        value = self.query_one(StatusFilter).value
        return None if value == ALL_STATUSES else str(value)

    def focus_search(self) -> None:
        """Put the cursor in the search box."""
        self.query_one("#search", Input).focus()

    def clear(self) -> bool:
        """Empty the box and show every status; returns whether anything was set."""
        search = self.query_one("#search", Input)
        select = self.query_one(StatusFilter)
        changed = bool(search.value) or select.value != ALL_STATUSES
        search.value = ""
        select.value = ALL_STATUSES
        return changed

    def next_status(self) -> None:
        """Show the next status in the filter (all, not invited, invited, joined, revoked, invite expired, all...)."""
        select = self.query_one(StatusFilter)
        values = [value for _, value in STATUS_OPTIONS]
        index = values.index(select.value) if select.value in values else 0
        select.value = values[(index + 1) % len(values)]

    @on(Input.Changed, "#search")
    @on(StatusFilter.Changed)
    def _changed(self, event: Message) -> None:
        event.stop()
        self.post_message(self.Changed(self.search, self.status))
