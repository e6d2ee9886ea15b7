"""The contact table: a window on a query that may match a million contacts, drawn a line at a time.

A `DataTable` holding 100k rows takes about 20 s to render first and blocks the event loop, and even a screenful
of new rows costs it 40-50 ms a key (a Rich `Padding` rendered per cell). So this table holds only the rows on
screen and draws them itself with Textual's Line API (`render_line`). The rows come from a cache of `WINDOW` contacts that `models.contacts`
filters, sorts and pages in SQL; the cache is refilled by a worker (one query in flight at a time, the newest
wanted one next) when the view gets near its edge, the query running on `tui.reader`'s thread. Cursor keys,
paging and the mouse wheel move an *absolute* cursor over the whole result; the table draws the slice around it.

Rows are keyed by contact id. A refresh (another admin changed something) reloads the window, keeping the cursor
on the same contact and the selection, a set of ids that
survives searches, sorts and refreshes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable
from typing import NamedTuple

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events, on, work
from textual.geometry import Region
from textual.message import Message
from textual.signal import Signal
from textual.strip import Strip
from textual.widget import Widget

from models import contacts
from models.contacts import ContactPage, ContactQuery, ContactRow
from models.db import database
from models.states import DELIVERY_FAILED
from models.errors import PortalError
from tui import reader
from tui.key_actions import KeyAction
from tui.text import visible, when

WINDOW = reader.WINDOW
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

NARROW = 100
"""Below this many columns the table leaves out the "Invited" date (the status says whether and how anyway)."""


class _Request(NamedTuple):
    """One window to fetch: the query, where, and which load (generation) it belongs to. (A named tuple: a frozen
    dataclass's generated methods were compiled at every start, half a millisecond of it.)"""

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


class _Navigation(Widget):
    """The moving keys every table has (the help lists them with the table's own, one row per action)."""

    BINDINGS = [
        KeyAction("up", "cursor_up", "Up", show=False, title="Previous contact", tooltip="Move the cursor up"),
        KeyAction("down", "cursor_down", "Down", show=False, title="Next contact", tooltip="Move the cursor down"),
        KeyAction("pageup", "page_up", "Page up", show=False, tooltip="A screenful up"),
        KeyAction("pagedown", "page_down", "Page down", show=False, tooltip="A screenful down"),
    ]


class ContactTable(_Navigation, can_focus=True):
    """Contacts matching a query, with a movable cursor and a selection, drawn a screenful at a time.

    It draws with Textual's Line API: `render_line` builds each visible line's `Strip` from the cached rows, one
    `Segment` per cell, where a `DataTable` renders a Rich `Padding` per cell (38-53 ms for a screenful of new rows
    against about a millisecond here). Line 0 is the headings; a click on one sorts by that column.
    """

    DEFAULT_CSS = """
    ContactTable {
        height: 1fr;
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .contact-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .contact-table--header {
                background-tint: $foreground 5%;
            }
        }
        & > .contact-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .contact-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .contact-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
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

    COMPONENT_CLASSES = {
        "contact-table--header",
        "contact-table--cursor",
        "contact-table--selected",
        "contact-table--joined",
        "contact-table--invited",
        "contact-table--revoked",
        "contact-table--not_invited",
        "contact-table--invite-failed",
    }

    BINDINGS = [
        KeyAction("space", "toggle_select", "Select", show=False, title="Select contact",
                  tooltip="Select or unselect the highlighted contact (marked ●)"),
        KeyAction("j", "cursor_down", "Down", show=False, title="Next contact"),
        KeyAction("k", "cursor_up", "Up", show=False, title="Previous contact"),
        KeyAction("home,ctrl+home,g", "scroll_top", "First", show=False, title="First contact",
                  tooltip="Go to the first contact"),
        KeyAction("end,ctrl+end,G", "scroll_bottom", "Last", show=False, title="Last contact",
                  tooltip="Go to the last contact"),
        KeyAction("s", "cycle_sort", "Sort", show=False, title="Sort by next column",
                  tooltip="Sort by the next column (or click a column's heading)"),
        KeyAction("S", "reverse_sort", "Reverse sort", show=False, tooltip="Reverse the sort order"),
    ]

    cell_padding = 1
    """Blank cells on each side of a column."""
    header_height = 1
    show_header = True

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

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view_changed_signal: Signal[ContactTable] = Signal(self, "view_changed")
        """What the table shows changed (rows, cursor, total, selection): the status line and the empty state
        follow it. A signal its listener may take at once (`immediate=True`): a `Message` reached the screen
        two hops after the table's own repaint, and the status line's count of the new rows was painted a
        frame (8 ms) after them."""
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
        self._wide = True
        self._col_widths: dict[str, int] = {}
        self._styles: dict[str, Style] | None = None
        self._strips: dict[tuple, Strip] = {}
        """Drawn lines by (row, selected, cursor, width, wide, focus): moving the cursor redraws two rows."""
        self._painted: list[tuple[ContactRow, bool, bool]] | None = None
        """What each line below the headings shows (contact, selected, under the cursor): `_render_view`
        repaints only the lines that changed."""
        self._repaint_all = True
        """The next `_render_view` repaints the whole table (new column widths or headings)."""

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
        # The counting thread's connection after the first frame: its thread and connection took a share of the
        # one core the frame needed. The first count is asked for after that frame too, and queues behind it.
        self.call_after_refresh(reader.warm_counter)
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
        # The query starts on the reading thread now, not when the worker first runs (after the frame that
        # echoes the key); the worker waits for it and hands the rows back.
        first = request == _Request(ContactQuery(), 0, WINDOW, 0)
        ahead = reader.first_window(database.database) if first else None  # read at launch (`tui.cli`)?
        self._fetch(request, ahead or reader.start(load_window, request.query, request.offset, request.limit))

    @work(group="contact-window", exit_on_error=False)
    async def _fetch(self, request: _Request, pending: Awaitable[ContactPage | None]) -> None:
        try:
            page = await pending
            if page is None:  # the first window was read ahead from another file
                page = await reader.read(load_window, request.query, request.offset, request.limit)
        except Exception as exc:  # a locked or broken database must not take the dashboard down
            message = str(exc) if isinstance(exc, PortalError) else f"cannot read contacts: {exc}"
            self.post_message(self.WindowLoaded(request, None, message))
            return
        self.post_message(self.WindowLoaded(request, page))

    @on(WindowLoaded)
    def _window_loaded(self, message: WindowLoaded) -> None:
        message.stop()
        reader.trace("window loaded")
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
                # Once these rows are painted: started now, the count took the cores the frame needed (at a
                # million contacts a common word's count ran 18 ms before the rows were painted).
                self.call_after_refresh(self._count_if_current, request.query, request.generation)
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

    def _count_if_current(self, query: ContactQuery, generation: int) -> None:
        """Count `query`'s matches, unless a newer query came while its rows were being painted."""
        if generation == self._generation:
            self._count(query, generation)

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
        reader.trace("counted")
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

    @property
    def row_count(self) -> int:
        """How many rows are drawn (the rows on screen)."""
        return len(self._shown)

    @property
    def shown_rows(self) -> list[ContactRow]:
        """The contacts on screen, top to bottom."""
        return list(self._shown)

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
        # "invited · no mail" and "invited · expired", the longest statuses (an invited contact's says where the invitation is).
        fixed = {"mark": 1, "status": 17, "invited_at": date_width, "last_login": date_width}
        if available < NARROW:
            fixed["invited_at"] = 0  # hidden: below this, names and addresses need the room more than a date
        padding = 2 * self.cell_padding * sum(1 for key, _ in COLUMNS if fixed.get(key, 1))
        rest = max(16, available - sum(fixed.values()) - padding)
        name = max(8, rest * 7 // 20)
        return {**fixed, "name": name, "email": max(8, rest - name)}

    def heading(self, key: str) -> str:
        """A column's heading as shown: the sorted column carries ▲ or ▼."""
        label = dict(COLUMNS)[key]
        if key == self.query_spec.sort:
            return label + (" ▼" if self.query_spec.descending else " ▲")
        return label

    def _build_columns(self) -> None:
        self._col_widths = self._widths()
        self._strips.clear()
        self._repaint_all = True  # the headings and every line follow the new widths
        self._render_view()

    def cell_texts(self, row: ContactRow) -> list[str]:
        """The text of each cell of `row`, in column order, as drawn (before fitting to the column)."""
        return [
            SELECTED_MARK if row.id in self.selected else " ",
            visible(row.full_name or "—"),
            visible(row.email),
            visible(row.status_label),
            when(row.invited_at, with_time=self._wide),
            when(row.last_login_at, with_time=self._wide),
        ]

    def cell_text(self, row_id: int, column: str) -> str:
        """What the cell of a shown contact says (for tests and the screen reader of the future)."""
        keys = [key for key, _ in COLUMNS]
        for row in self._shown:
            if row.id == row_id:
                return self.cell_texts(row)[keys.index(column)]
        raise KeyError(row_id)

    @staticmethod
    def _fit(text: str, width: int) -> str:
        """`text` cut or padded to exactly `width` cells, with an ellipsis where it was cut (wide characters
        counted as two cells)."""
        if width <= 0:
            return ""
        if cell_len(text) <= width:
            return set_cell_size(text, width)
        return set_cell_size(text, width - 1) + "…" if width > 1 else "…"

    def _line(self, texts: list[str], styles: list[Style], base: Style, width: int) -> Strip:
        """One line: each cell fitted to its column, with its padding. Neighbouring cells of the same style are
        one segment: every segment is written to the terminal with its own colour codes, so a line of
        eighteen segments cost about 1.7 kB a line (50 kB for a screenful of new rows on each search key)
        where a handful of runs cost a few hundred bytes."""
        pad = " " * self.cell_padding
        runs: list[tuple[list[str], Style]] = []
        for (key, _), text, style in zip(COLUMNS, texts, styles):
            if not self._col_widths.get(key, 8):
                continue  # a column hidden at this width
            cell = base + style
            for part, part_style in ((pad, base), (self._fit(text, self._col_widths.get(key, 8)), cell),
                                     (pad, base)):
                if runs and runs[-1][1] == part_style:
                    runs[-1][0].append(part)
                else:
                    runs.append(([part], part_style))
        segments = [Segment("".join(parts), style) for parts, style in runs]
        return Strip(segments).adjust_cell_length(width, base)

    def _palette(self) -> dict[str, Style]:
        """The styles lines are drawn with, resolved from the CSS once (per theme, focus or style change) rather
        than once a line: resolving a widget's style walks its ancestors."""
        if self._styles is None:
            base = self.rich_style
            component = self.get_component_rich_style
            palette = {"base": base, "header": base + component("contact-table--header"),
                       "cursor": component("contact-table--cursor"),
                       "selected": component("contact-table--selected", partial=True)}
            palette["cursor_line"] = base + palette["cursor"]
            for status in ("not_invited", "invited", "joined", "revoked", "invite-failed"):
                palette[status] = component(f"contact-table--{status}", partial=True)
            self._styles = palette
        return self._styles

    def notify_style_update(self) -> None:
        self._styles = None
        self._strips.clear()
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        """Line 0: the headings; then one contact per line from `_top`; blank below the last."""
        width = self.size.width
        palette = self._palette()
        if not self._col_widths:
            self._col_widths = self._widths()
        if y == 0 and self.show_header:
            texts = [self.heading(key) if key != "mark" else "" for key, _ in COLUMNS]
            return self._line(texts, [Style()] * len(COLUMNS), palette["header"], width)
        index = y - self.header_height
        if not 0 <= index < len(self._shown):
            return Strip.blank(width, palette["base"])
        row = self._shown[index]
        selected = self._shown_selected[index]
        on_cursor = self._top + index == self._cursor
        key = (row, selected, on_cursor, width, self._wide, self.has_focus)
        strip = self._strips.get(key)
        if strip is None:
            mark = palette["selected"] if selected else Style()
            # A failed invitation needs the admin (retry, or fix the address), and so does a lapsed one (invite
            # again): they stand out like a revoked contact.
            status = "invite-failed" if row.delivery_state == DELIVERY_FAILED or row.invite_lapsed else row.status
            styles = [mark, mark, Style(), palette.get(status, Style()), Style(), Style()]
            if on_cursor:  # the cursor's colours win over the cells' own, so the row stays readable
                styles = [style + palette["cursor"] for style in styles]
            line = palette["cursor_line"] if on_cursor else palette["base"]
            strip = self._line(self.cell_texts(row), styles, line, width)
            if len(self._strips) > 4 * WINDOW:
                self._strips.clear()
            self._strips[key] = strip
        return strip

    def _render_view(self) -> None:
        """Take the rows from `_top` out of the cache and repaint."""
        height = self._view_height()
        start = self._top - self._cache_offset
        if start < 0 or (start >= len(self._cache) and self.total):
            return  # not loaded yet: keep what is shown until the window arrives
        rows = self._cache[start : start + height]
        selected = [row.id in self.selected for row in rows]
        lines = [(row, mark, self._top + index == self._cursor)
                 for index, (row, mark) in enumerate(zip(rows, selected))]
        previous, self._painted = self._painted, lines
        self._shown = rows
        self._shown_selected = selected
        if previous is None or self._repaint_all:
            self._repaint_all = False
            self.refresh()
        else:
            # Only the lines whose contact, mark or cursor changed: a key that narrows a search without changing
            # the first rows, or a cursor step, writes a line or two to the terminal instead of a screenful.
            width, top = self.size.width, self.header_height
            changed = [Region(0, top + index, width, 1) for index in range(max(len(lines), len(previous)))
                       if index >= len(lines) or index >= len(previous) or lines[index] != previous[index]]
            if changed:
                self.refresh(*changed)
        self.view_changed_signal.publish(self)

    def on_resize(self, event: events.Resize) -> None:
        self._clamp()
        self._build_columns()
        self._ensure_window()

    def on_focus(self) -> None:
        self._styles = None
        self.refresh()

    def on_blur(self) -> None:
        self._styles = None
        self.refresh()

    # --- moving -----------------------------------------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        """A click on a heading sorts by that column; on a row, moves the cursor there."""
        if event.y < self.header_height and self.show_header:
            x = 0
            for key, _ in COLUMNS:
                if not self._col_widths.get(key, 8):
                    continue
                x += self._col_widths.get(key, 8) + 2 * self.cell_padding
                if event.x < x:
                    if key in SORTABLE:
                        self.sort_by(key)
                    return
            return
        index = event.y - self.header_height
        if 0 <= index < len(self._shown):
            self._move_to(self._top + index)
            self.view_changed_signal.publish(self)

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
