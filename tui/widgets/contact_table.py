"""The contact table: a `DataTable` that shows a window of a query that may match 100k contacts.

A `DataTable` holding 100k rows takes about 20 s to render first and blocks the event loop, so this one never
holds more than the rows on screen. The rows come from a cache of `WINDOW` contacts that `models.contacts`
filters, sorts and pages in SQL; the cache is refilled by a worker (one query in flight at a time, the newest
wanted one next) when the view gets near its edge, the query running on `tui.reader`'s thread. Cursor keys,
paging and the mouse wheel move an *absolute* cursor over the whole result; the table draws the slice around it.

Rows are keyed by contact id. A refresh (another admin changed something) reloads the window and updates the
cells that changed in place, keeping the cursor on the same contact and the selection, a set of ids that
survives searches, sorts and refreshes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rich.text import Text
from textual import events, on, work
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable

from models import contacts
from models.contacts import ContactPage, ContactQuery, ContactRow
from models.entities import DELIVERY_FAILED
from models.errors import PortalError
from tui import reader
from tui.text import literal, visible, when

WINDOW = 200
"""How many contacts the cache holds around the view."""

COLUMNS = (
    ("mark", ""),
    ("name", "Name"),
    ("email", "Email"),
    ("status", "Status"),
    ("invited_at", "Invited"),
    ("last_login", "Last login"),
)
"""Column keys (the sort keys of `models.contacts.SORT_KEYS`, plus the selection mark) and their headings."""

SORTABLE = tuple(key for key, _ in COLUMNS if key != "mark")

SELECTED_MARK = "●"


@dataclass(frozen=True)
class _Request:
    """One window to fetch: the query, where, and which load (generation) it belongs to."""

    query: ContactQuery
    offset: int
    limit: int
    generation: int
    keep_id: int | None = None
    """Put the cursor back on this contact when the window arrives (a refresh)."""


def load_window(query: ContactQuery, offset: int, limit: int = WINDOW) -> ContactPage:
    """One window of contacts (run in a worker). Its total may be a lower bound (`ContactPage.exact`): a
    one-letter search is shown before every contact has been read to count the matches."""
    return contacts.contact_page(query, max(0, offset), limit, count=False)


def count_matches(query: ContactQuery) -> int:
    """How many contacts match (run on the counting thread after a window whose total was a lower bound)."""
    return contacts.count_contacts(query)


class ContactTable(DataTable):
    """Contacts matching a query, with a movable cursor and a selection, drawn a screenful at a time."""

    DEFAULT_CSS = """
    ContactTable {
        overflow: hidden hidden;
        height: 1fr;
    }
    ContactTable > .contact-table--selected {
        color: $text-accent;
        text-style: bold;
    }
    ContactTable > .contact-table--joined {
        color: $text-success;
    }
    ContactTable > .contact-table--invited {
        color: $text-warning;
    }
    ContactTable > .contact-table--revoked {
        color: $text-error;
    }
    ContactTable > .contact-table--not_invited {
        color: $text-muted;
    }
    ContactTable > .contact-table--invite-failed {
        color: $text-error;
    }
    """

    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {
        "contact-table--selected",
        "contact-table--joined",
        "contact-table--invited",
        "contact-table--revoked",
        "contact-table--not_invited",
        "contact-table--invite-failed",
    }

    BINDINGS = [
        Binding("space", "toggle_select", "Select", show=False),
        Binding("home,ctrl+home", "scroll_top", "First", show=False),
        Binding("end,ctrl+end", "scroll_bottom", "Last", show=False),
        Binding("s", "cycle_sort", "Sort", show=False),
        Binding("S", "reverse_sort", "Reverse sort", show=False),
    ]

    class WindowLoaded(Message):
        """A worker fetched a window (or failed to)."""

        def __init__(self, request: _Request, page: ContactPage | None, error: str | None = None) -> None:
            super().__init__()
            self.request = request
            self.page = page
            self.error = error

    class Counted(Message):
        """The count of a query's matches arrived (or failed: `total` None)."""

        def __init__(self, query: ContactQuery, generation: int, total: int | None) -> None:
            super().__init__()
            self.query = query
            self.generation = generation
            self.total = total

    class ViewChanged(Message):
        """What the table shows changed: the status line and the empty state follow it."""

        def __init__(self, table: ContactTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> ContactTable:
            return self.table

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.query_spec = ContactQuery()
        """The search, status filter and sort being shown."""
        self.total = 0
        """How many contacts match `query_spec` (at least this many while `counted` is false)."""
        self.counted = True
        """Whether `total` is the count, not a lower bound while the count is read."""
        self._counted_total: tuple[int, int] | None = None
        """(generation, count) once the count of the current query arrived."""
        self.selected: set[int] = set()
        """Ids of the selected contacts (kept across searches and refreshes)."""
        self.loaded = False
        """Whether a window has arrived at least once (the empty state waits for it)."""
        self._generation = 0
        self._cache_offset = 0
        self._cache: list[ContactRow] = []
        self._top = 0
        self._cursor = 0
        self._shown: list[ContactRow] = []
        self._shown_selected: list[bool] = []
        self._wanted: _Request | None = None
        self._inflight: _Request | None = None
        self._rendering = False
        self._wide = True
        self._columns_built: tuple | None = None

    # --- what the rest of the dashboard reads ---------------------------------------------------------------

    @property
    def highlighted(self) -> ContactRow | None:
        """The contact under the cursor, if it is loaded."""
        index = self._cursor - self._cache_offset
        if 0 <= index < len(self._cache) and self._cursor < self.total:
            return self._cache[index]
        return None

    @property
    def cursor_index(self) -> int:
        """The cursor's position in the whole result (0-based)."""
        return self._cursor

    @property
    def top_index(self) -> int:
        """The position of the first row on screen in the whole result."""
        return self._top

    @property
    def shown_count(self) -> int:
        """How many rows are on screen."""
        return len(self._shown)

    @property
    def busy(self) -> bool:
        """Whether a window is being fetched."""
        return self._inflight is not None

    # --- loading --------------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        reader.warm_counter()
        self._build_columns()
        # The first window is read while Textual is still laying out and painting the screen.
        self._request(_Request(self.query_spec, 0, WINDOW, self._generation))

    def set_query(self, query: ContactQuery) -> None:
        """Show another search, filter or sort; the cursor goes back to the top."""
        if query == self.query_spec:
            return
        resorted = (query.sort, query.descending) != (self.query_spec.sort, self.query_spec.descending)
        self.query_spec = query
        self._generation += 1
        reader.interrupt_count()  # the old query's count, if one runs: no one needs it now
        self._cursor = self._top = 0
        if resorted:
            self._build_columns()  # the sorted column's heading shows ▲ or ▼
        self._request(_Request(query, 0, WINDOW, self._generation))

    def reload(self) -> None:
        """Read the current window again (the data changed), keeping the cursor and the selection."""
        self._counted_total = None  # a count from before the change is stale
        highlighted = self.highlighted
        offset = max(0, min(self._cache_offset, self._top)) if self._cache else max(0, self._top - WINDOW // 4)
        self._request(
            _Request(self.query_spec, offset, WINDOW, self._generation, highlighted.id if highlighted else None)
        )

    def _request(self, request: _Request) -> None:
        self._wanted = request
        if self._inflight is None:
            self._start(request)

    def _start(self, request: _Request) -> None:
        self._inflight = request
        self._fetch(request)

    @work(group="contact-window", exit_on_error=False)
    async def _fetch(self, request: _Request) -> None:
        try:
            page = await reader.read(load_window, request.query, request.offset, request.limit)
        except Exception as exc:  # a locked or broken database must not take the dashboard down
            message = str(exc) if isinstance(exc, PortalError) else f"cannot read contacts: {exc}"
            self.post_message(self.WindowLoaded(request, None, message))
            return
        self.post_message(self.WindowLoaded(request, page))

    @on(WindowLoaded)
    def _window_loaded(self, message: WindowLoaded) -> None:
        message.stop()
        request = message.request
        if self._inflight == request:
            self._inflight = None
        wanted = self._wanted
        if wanted == request:
            self._wanted = None
        if message.error is not None:
            self.notify(visible(message.error), title="Contacts", severity="error", markup=False)
        elif request.generation == self._generation:
            self._apply(request, message.page)
        if self._wanted is not None and self._inflight is None:
            self._start(self._wanted)

    def _apply(self, request: _Request, page: ContactPage) -> None:
        self.loaded = True
        known = self._counted_total
        if page.exact:
            self.total, self.counted = page.total, True
        elif known is not None and known[0] == request.generation and known[1] >= 0:
            self.total, self.counted = max(known[1], page.total), True
        else:
            self.total, self.counted = page.total, False
            if known is None or known[0] != request.generation:
                self._counted_total = (request.generation, -1)  # asked for: one count per query
                self._count(request.query, request.generation)
        self._cache_offset = page.offset
        self._cache = list(page.rows)
        if request.keep_id is not None:
            for index, row in enumerate(self._cache):
                if row.id == request.keep_id:
                    self._cursor = self._cache_offset + index
                    break
        self._clamp()
        self._render_view()
        self._ensure_window()

    @work(group="contact-count", exit_on_error=False)
    async def _count(self, query: ContactQuery, generation: int) -> None:
        for _ in range(2):  # once more if an interrupt meant for the previous query's count caught this one
            try:
                total = await reader.count(count_matches, query, wanted=lambda: generation == self._generation)
            except Exception:  # interrupted, or the database went away: the total stays a lower bound
                if generation != self._generation:
                    return
                continue
            self.post_message(self.Counted(query, generation, total))
            return
        self.post_message(self.Counted(query, generation, None))

    @on(Counted)
    def _counted(self, message: Counted) -> None:
        message.stop()
        if message.generation != self._generation or message.total is None:
            return
        self._counted_total = (message.generation, message.total)
        self.total, self.counted = message.total, True
        self._clamp()
        self._render_view()
        self._ensure_window()

    def _covered(self, start: int, stop: int) -> bool:
        stop = min(stop, self.total)
        return self._cache_offset <= start and stop <= self._cache_offset + len(self._cache)

    def _ensure_window(self) -> None:
        """Fetch a new window when the view leaves the cache or gets near its edge."""
        height = self._view_height()
        start, stop = self._top, min(self._top + height, self.total)
        cache_stop = self._cache_offset + len(self._cache)
        near_start = self._cache_offset > 0 and start - self._cache_offset < height
        near_stop = cache_stop < self.total and cache_stop - stop < height
        if self._covered(start, stop) and not near_start and not near_stop:
            return
        offset = max(0, min(self._top + height // 2 - WINDOW // 2, self.total - WINDOW))
        if self._inflight is not None and self._inflight.generation == self._generation:
            if self._inflight.offset == offset:
                return
        if offset == self._cache_offset and self._covered(start, stop):
            return
        self._request(_Request(self.query_spec, offset, WINDOW, self._generation))

    # --- drawing --------------------------------------------------------------------------------------------

    def _view_height(self) -> int:
        height = self.scrollable_content_region.height - (self.header_height if self.show_header else 0)
        return height if height > 0 else 20

    def _clamp(self) -> None:
        height = self._view_height()
        if self.total == 0:
            self._cursor = self._top = 0
            return
        self._cursor = max(0, min(self._cursor, self.total - 1))
        if self._cursor < self._top:
            self._top = self._cursor
        elif self._cursor >= self._top + height:
            self._top = self._cursor - height + 1
        self._top = max(0, min(self._top, max(0, self.total - height)))

    def _widths(self) -> dict[str, int]:
        """Column widths that fit the table's width (no sideways scrolling, even at 80 columns)."""
        available = self.scrollable_content_region.width or self.app.size.width
        self._wide = available >= 110
        date_width = 16 if self._wide else 10
        # "invited · no mail", the longest status (an invited contact's says where the invitation is).
        fixed = {"mark": 1, "status": 17, "invited_at": date_width, "last_login": date_width}
        padding = 2 * self.cell_padding * len(COLUMNS)
        rest = max(16, available - sum(fixed.values()) - padding)
        name = max(8, rest * 7 // 20)
        return {**fixed, "name": name, "email": max(8, rest - name)}

    def _heading(self, key: str, label: str) -> Text:
        if key == self.query_spec.sort:
            return Text(label + (" ▼" if self.query_spec.descending else " ▲"), style="bold")
        return Text(label)

    def _build_columns(self) -> None:
        widths = self._widths()
        headings = [(key, str(self._heading(key, label))) for key, label in COLUMNS]
        if (widths, headings) == self._columns_built:
            self._render_view()  # same columns (a resize that only changed the height): no redraw of every cell
            return
        self._columns_built = (widths, headings)
        self._rendering = True
        try:
            self.clear(columns=True)
            for key, label in COLUMNS:
                self.add_column(self._heading(key, label), width=widths[key], key=key)
        finally:
            self._rendering = False
        self._shown = []
        self._shown_selected = []
        if self._cache:
            self._render_view()

    def _cells(self, row: ContactRow) -> list[Text]:
        selected = row.id in self.selected
        mark_style = self.get_component_rich_style("contact-table--selected", partial=True) if selected else ""
        # A failed invitation needs the admin (retry, or fix the address): it stands out like a revoked contact.
        style_name = "invite-failed" if row.delivery_state == DELIVERY_FAILED else row.status
        status_style = self.get_component_rich_style(f"contact-table--{style_name}", partial=True)
        name = row.full_name or "—"
        return [
            Text(SELECTED_MARK if selected else " ", style=mark_style, end=""),
            literal(name, style=mark_style),
            literal(row.email),
            literal(row.status_label, style=status_style),
            literal(when(row.invited_at, with_time=self._wide)),
            literal(when(row.last_login_at, with_time=self._wide)),
        ]

    def _render_view(self) -> None:
        """Draw the rows from `_top`, in place where the same contacts are already shown."""
        height = self._view_height()
        start = self._top - self._cache_offset
        if start < 0 or (start >= len(self._cache) and self.total):
            return  # not loaded yet: keep what is shown until the window arrives
        rows = self._cache[start : start + height]
        selected = [row.id in self.selected for row in rows]
        self._rendering = True
        try:
            if [r.id for r in rows] == [r.id for r in self._shown]:
                for old, new, was, now in zip(self._shown, rows, self._shown_selected, selected):
                    if old != new or was != now:
                        self._update_row(new)
            else:
                self.clear()
                for row in rows:
                    self.add_row(*self._cells(row), key=str(row.id))
            self._shown = rows
            self._shown_selected = selected
            if rows:
                self.move_cursor(row=self._cursor - self._top, scroll=False)
        finally:
            self._rendering = False
        self.post_message(self.ViewChanged(self))

    def _update_row(self, row: ContactRow) -> None:
        for (key, _), cell in zip(COLUMNS, self._cells(row)):
            self.update_cell(str(row.id), key, cell)

    def on_resize(self, event: events.Resize) -> None:
        self._clamp()
        self._build_columns()
        self._ensure_window()

    # --- moving -----------------------------------------------------------------------------------------------

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        if not self._rendering and self._shown:
            # Moved by the mouse (a click): follow it.
            self._cursor = self._top + new.row
            self.post_message(self.ViewChanged(self))

    def _move_to(self, cursor: int, top: int | None = None) -> None:
        if self.total == 0:
            return
        self._cursor = cursor
        if top is not None:
            self._top = top
        self._clamp()
        self._render_view()
        self._ensure_window()

    def action_cursor_down(self) -> None:
        self._move_to(self._cursor + 1)

    def action_cursor_up(self) -> None:
        self._move_to(self._cursor - 1)

    def action_page_down(self) -> None:
        height = self._view_height()
        self._move_to(self._cursor + height, self._top + height)

    def action_page_up(self) -> None:
        height = self._view_height()
        self._move_to(self._cursor - height, max(0, self._top - height))

    def action_scroll_top(self) -> None:
        self._move_to(0, 0)

    def action_scroll_bottom(self) -> None:
        self._move_to(self.total - 1, max(0, self.total - self._view_height()))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self._scroll_by(3)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self._scroll_by(-3)

    def _scroll_by(self, lines: int) -> None:
        height = self._view_height()
        top = max(0, min(self._top + lines, max(0, self.total - height)))
        cursor = min(max(self._cursor, top), top + height - 1)
        self._move_to(cursor, top)

    # --- sorting ------------------------------------------------------------------------------------------------

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = event.column_key.value
        if key in SORTABLE:
            self.sort_by(key)

    def sort_by(self, key: str) -> None:
        """Sort by a column; the same column again reverses the order."""
        query = self.query_spec
        descending = not query.descending if query.sort == key else False
        self.set_query(dataclasses.replace(query, sort=key, descending=descending))

    def action_cycle_sort(self) -> None:
        """Sort by the next column."""
        index = SORTABLE.index(self.query_spec.sort) if self.query_spec.sort in SORTABLE else -1
        key = SORTABLE[(index + 1) % len(SORTABLE)]
        self.set_query(dataclasses.replace(self.query_spec, sort=key, descending=False))

    def action_reverse_sort(self) -> None:
        """Reverse the sort order."""
        self.set_query(dataclasses.replace(self.query_spec, descending=not self.query_spec.descending))

    # --- selecting ------------------------------------------------------------------------------------------------

    def action_toggle_select(self) -> None:
        """Select the highlighted contact, or unselect it."""
        row = self.highlighted
        if row is None:
            return
        if row.id in self.selected:
            self.selected.discard(row.id)
        else:
            self.selected.add(row.id)
        self._redraw_selection()

    def select_ids(self, ids: list[int]) -> int:
        """Add contacts to the selection; returns how many were added."""
        before = len(self.selected)
        self.selected.update(ids)
        self._redraw_selection()
        return len(self.selected) - before

    def clear_selection(self) -> int:
        """Unselect everyone; returns how many were selected."""
        count = len(self.selected)
        self.selected.clear()
        self._redraw_selection()
        return count

    def _redraw_selection(self) -> None:
        self._render_view()
