"""The dashboard's main screen: stats header, search and filter, the contact table, and every action's key.

Each action is declared once, as a `KeyAction` in `BINDINGS` (its key, its key-bar label, its palette name and
what it does); the command palette, the help screen and the key bar are read from those declarations (see
`tui/key_actions.py`), and `check_action` disables what cannot apply. The modals do the work and tell the
app when they changed the database; changes by other processes come from the app's change waiter
(`tui.change_waiter`: told at once on PostgreSQL), and either way the header and table are read again without
losing the cursor or selection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.dom import DOMNode
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static

from models import contacts
from models.errors import PortalError
from tui import reader
from tui.change_waiter import ChangeWaiter, unwatch_changes, watch_changes
from tui.key_actions import DeclaredAction, KeyAction, check, context_label, declared_actions, declared_bindings
from tui.collection import release_collection
from tui.text import plural, visible
from tui.widgets.contact_table import COLUMNS, ContactTable
from tui.widgets.key_hints import Hint, KeyHints
from tui.widgets.search_bar import SearchBar
from tui.widgets.stats_header import StatsHeader

if TYPE_CHECKING:  # the help screen's module (and its dialog base) only when help is opened
    from tui.screens.help import KeyRow, KeySection


HEADER_FALLBACK_SECONDS = 1.0
"""When the header is read if the table's first window has not come by then."""

PAINT_HOLD_SECONDS = 0.016
"""How long a search key's echo waits to be painted with the key's results (one frame at 60 Hz).

Painted alone, the echo set the grid of frame ticks (`TEXTUAL_FPS`): rows that came a few ms later waited up to a
tick for the next frame, and the echo's frame held the event loop and the reading thread's GIL while the query ran.
Painted together, the rows of a query that takes less than this are on screen one frame after the key."""


class EmptyState(Static, can_focus=True):
    """What a first run shows instead of an empty table (it takes the focus, so its keys are not typed into
    the search box)."""

    DEFAULT_CSS = """
    EmptyState {
        height: 1fr;
        content-align: center middle;
        padding: 1 2;
        color: $text;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(self._text(), id=id, markup=False)

    @staticmethod
    def _text() -> Text:
        text = Text(justify="left", end="")
        text.append("No contacts yet.\n\n", style="bold")
        rows = (
            ("a", "add a contact"),
            ("c", "import a CSV file (Google Contacts, Outlook, a spreadsheet export)"),
            ("d", "set up the portal's domain (needed to invite anyone)"),
            ("?", "every key"),
        )
        for key, what in rows:
            text.append(f"  {key:<3}", style="bold")
            text.append(what + "\n")
        text.append("\nTo look around first, quit (ctrl+q) and run ")
        text.append("client-portal --demo", style="bold")
        text.append(":\na sample database with a few hundred contacts in every status.")
        return text


class MainScreen(Screen):
    """Header, search bar, contact table, status line and footer."""

    BINDINGS = [
        KeyAction("slash", "focus_search", "Search", title="Search contacts",
                  tooltip="Find contacts by name, email or company"),
        KeyAction("i", "invite", "Invite", empty_label="Invite",
                  tooltip="Invite an existing contact or a new address, and send the invitation"),
        KeyAction("l", "login_email", "Login email", title="Send login email", selection_label="Login email to {n}",
                  tooltip="Email a login link to the selected contacts (or the highlighted one)"),
        KeyAction("R", "resend_expired", "Resend expired", show=False, title="Resend expired invitations",
                  tooltip="Invite again everyone whose invitation link lapsed (a preview first)"),
        KeyAction("m", "magic_link", "Magic link", title="Copy magic link",
                  tooltip="Make a login link for the highlighted contact, show and copy it"),
        KeyAction("u", "portal_url", "URL", title="Copy portal URL", tooltip="Show the portal URL and copy it"),
        KeyAction("a", "add_contact", "Add", show=False, title="Add contact", empty_label="Add contact",
                  tooltip="Add one contact by email address"),
        KeyAction("c", "import_csv", "Import CSV", show=False, empty_label="Import CSV",
                  tooltip="Import contacts from a CSV file"),
        KeyAction("d", "domains", "Domains", show=False, empty_label="Domains",
                  tooltip="Add a custom domain, choose the one links use"),
        KeyAction("o", "outbox", "Outbox", show=False, tooltip="Queued and failed mail, retry"),
        KeyAction("t", "templates", "Templates", show=False, title="Email templates",
                  tooltip="Edit the invite and login emails: subject, text, HTML; preview, save, reset"),
        KeyAction("h", "audit", "Audit log", show=False, tooltip="Who did what, newest first"),
        KeyAction("f", "next_status", "Filter", show=False, title="Filter by status",
                  tooltip="Show the next status: all, not invited, invited, joined, revoked, invite expired"),
        KeyAction("ctrl+a", "select_all", "Select all", show=False, priority=True, title="Select all shown",
                  filter_label="Select all shown", tooltip="Select every contact the search and filter show"),
        KeyAction("escape", "clear", "Clear", show=False, title="Clear selection / search",
                  selection_label="Unselect", filter_label="Show all",
                  tooltip="Unselect everyone, then clear the search and filter"),
        KeyAction("enter", "open_contact", "Open", show=False, title="Open contact",
                  tooltip="The highlighted contact's details, links, mail and history, and its actions"),
        KeyAction("greater_than_sign", "sort_picker", "Sort by…", show=False, title="Sort by column…",
                  tooltip="Choose the column to sort the table by"),
        KeyAction("x", "revoke", "Revoke", show=False, title="Revoke access", selection_label="Revoke {n}",
                  tooltip="End the portal access of the selected contacts (or the highlighted one); asks first"),
        KeyAction("e", "export_csv", "Export CSV", show=False, selection_label="Export {n}",
                  tooltip="Write the selected contacts (or all the search and filter show) to a CSV file"),
        KeyAction("comma", "settings", "Settings", show=False,
                  tooltip="Agency name, link lifetimes, send rate, retries, callback URL"),
        KeyAction("q", "app.quit_asking", "Quit", show=False,
                  tooltip="Quit (asks first while mail is being sent)"),
    ]
    """Every action of the main screen, declared once: the key bar, the palette and the help read it."""

    AUTO_FOCUS = "#contacts"
    """The table has the focus from the start."""

    SEARCH_HINTS = [
        Binding("enter", "results", "Results", tooltip="Go to the results"),
        Binding("escape", "clear", "Clear search", tooltip="Empty the search box and go back to the table"),
        Binding("tab", "app.focus_next", "Status filter", tooltip="On to the status filter, then the table"),
    ]
    """The bottom line while the search box has the focus (letters then type), and its rows in the help."""

    FILTER_HINTS = [
        Binding("enter", "focused.show_overlay", "Choose status", tooltip="Open the list of statuses (↑ ↓ too)"),
        Binding("escape", "clear", "Show all", tooltip="Clear the search and the filter, back to the table"),
        Binding("tab", "app.focus_next", "Table", tooltip="On to the contact table"),
    ]
    """The bottom line while the status filter has the focus, and its rows in the help."""

    class Poll(Message):
        """Internal: time to look at the change token."""

    def __init__(self, db_path: Path, data_dir: Path) -> None:
        super().__init__(id="main")
        self.db_path = db_path
        self.data_dir = data_dir
        """Where the local Maildir lives."""
        self._results_pending = False
        """A new search or filter was asked for and the table has not shown its results yet."""
        self._status_text: Text | None = None
        """What the status line shows now (it is drawn again only when this changes)."""
        self._binding_state: tuple = ()
        self._header_read = False
        """Whether the header's first read was asked for (it waits for the table's first window)."""
        self._paint_hold = 0
        """Non-zero while a search key's frame waits for its results (which hold: a newer key's is another)."""
        self._paint_held_until = 0.0
        """Until when (`time.monotonic`) the screen waits for a search's results before painting its key."""
        self._resumed = False
        """Whether the screen was shown once (`_on_screen_resume`)."""

    def compose(self) -> ComposeResult:
        yield StatsHeader(self.data_dir, id="stats", read_on_mount=False)  # after the first contacts: `_view_changed`
        yield SearchBar(id="search-bar")
        yield ContactTable(id="contacts")
        empty = EmptyState(id="empty")
        empty.display = False  # before it is mounted: no second layout for hiding it
        yield empty
        yield Static("", id="table-status", markup=False)
        yield KeyHints(id="key-hints")

    @property
    def table(self) -> ContactTable:
        return self.query_one(ContactTable)

    def on_mount(self) -> None:
        # Keys for the table after a search (space, l, m...) act on its results, not the rows before them.
        make_keys_wait = getattr(self.app, "make_keys_wait", None)
        if make_keys_wait is not None:
            make_keys_wait(self.table, lambda: self._results_pending and self.table.busy)
        self.watch(self.query_one("#search", Input), "value", self._search_typed, init=False)
        # At once, in the handler that changed the table: its rows and the status line's count of them are
        # painted in the same frame.
        self.table.view_changed_signal.subscribe(self, self._view_changed, immediate=True)
        watch_changes(self)
        # The header is read after the first window of contacts (they share the reading thread, and the rows are
        # what a user waits for); if that window never comes (a locked or broken database), soon anyway.
        self.set_timer(HEADER_FALLBACK_SECONDS, self._read_header)
        self._binding_state = self._actions_available()
        self._update_status()
        self._update_hints()
        if reader.tracing():  # the timeline notes each frame this screen writes
            paint = self._compositor_refresh

            def traced_paint() -> None:
                reader.trace("paint")
                paint()
                reader.trace("painted")

            self._compositor_refresh = traced_paint

    # --- painting -------------------------------------------------------------------------------------------------

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        """The first time the screen is shown, its widgets were all styled a moment ago, each as it was mounted
        with every stylesheet it matches already read: Textual's own handler (it runs after this one) styles them
        all again before the first frame, a tenth of the time from `App.run` to that frame. Later (a dialog
        closed, a theme chosen meanwhile), it restyles as usual."""
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    async def _on_idle(self, event: events.Idle) -> None:
        """Paint the widgets one change touched in one frame.

        A widget's repaint reaches the screen a loop turn after the handler that asked for it, one widget at a time
        (its own queue runs first). The screen paints as soon as it goes idle with something to paint, so the
        widget whose request arrived a turn later waited for the next frame tick: the table's new rows were painted,
        then the status line's count of them 8 ms later, and a search key's echo before its "loading…". One turn
        of the loop here lets the requests of the same change arrive before the screen decides to paint.
        """
        event.prevent_default()  # Textual's own handler runs below, once (else it runs after this one anyway)
        await asyncio.sleep(0)
        if self._paint_hold and time.monotonic() < self._paint_held_until:
            return  # the key's echo waits for its results, up to PAINT_HOLD_SECONDS (`_hold_paint`)
        await super()._on_idle(event)

    def _hold_paint(self) -> None:
        """Paint a search key's echo with its results, in one frame, if they come within `PAINT_HOLD_SECONDS`."""
        self._paint_hold += 1
        reader.trace("hold")
        self._paint_held_until = time.monotonic() + PAINT_HOLD_SECONDS
        self.set_timer(PAINT_HOLD_SECONDS, partial(self._release_paint, self._paint_hold))  # the echo alone, then

    def _release_paint_soon(self, turns: int = 3) -> None:
        """Let the held frame be painted once the repaints asked for now have reached the screen: the table's
        comes at the end of this loop turn, the status line's a turn or two later (each widget's request goes
        through its own queue, then the screen's)."""
        loop, hold = asyncio.get_running_loop(), self._paint_hold
        if turns:
            loop.call_soon(self._release_paint_soon, turns - 1)
        else:
            self._release_paint(hold)

    def _release_paint(self, hold: int) -> None:
        if hold == self._paint_hold:  # not a later key's hold
            reader.trace("release")
            self._paint_hold = 0
            self.check_idle()

    # --- keeping current --------------------------------------------------------------------------------------

    def on_unmount(self) -> None:
        unwatch_changes(self)

    @on(ChangeWaiter.Changed)
    def _changed_elsewhere(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        """Read the header and the table again (keeping the cursor and the selection). A change that comes
        before the screen is composed (a dialog's write racing the first paint) has nothing to refresh yet: the
        screen's own first reads come after it, and see it."""
        headers = self.query(StatsHeader)
        if not headers:
            return
        self._header_read = True
        headers.first().reload()
        self.table.reload()

    def _read_header(self) -> None:
        """The header's first read (once), after the frame with the first rows (or `HEADER_FALLBACK_SECONDS`).
        The garbage collector the launch held off (`tui.start.hold_collection`) runs again from then on."""
        release_collection()
        if not self._header_read:
            self._header_read = True
            self.query_one(StatsHeader).reload()

    # --- the table, the search bar and the status line ------------------------------------------------------

    @on(SearchBar.Changed)
    def _search_changed(self, event: SearchBar.Changed) -> None:
        self._show_search(event.search, event.status)

    def _search_typed(self, text: str) -> None:
        """The search box's text changed: the query starts now, in the key's own handler, not after the two
        messages that carry `SearchBar.Changed` here (the key's echo was painted before its query had started)."""
        reader.trace(f"typed {text!r}")
        self._show_search(text, self.query_one(SearchBar).status)

    def _show_search(self, search: str, status: str | None) -> None:
        query = dataclasses.replace(self.table.query_spec, search=search, status=status)
        if query == self.table.query_spec:
            return
        self.table.set_query(query)
        self._results_pending = self.table.busy
        if self._results_pending:
            self._hold_paint()

    @on(SearchBar.Changed)
    def _keep_status(self) -> None:
        self._update_status()
        self._update_hints()

    def on_input_submitted(self, event) -> None:
        # Enter in the search box goes to the results.
        event.stop()
        self.table.focus()

    def _view_changed(self, table: ContactTable | None = None) -> None:
        if self.table.loaded:
            self.call_after_refresh(self._read_header)  # after the frame with the first rows: not competing with it
        self._update_status()
        self._refresh_bindings_if_changed()
        self._update_hints()  # redrawn only when a key or a label changed (the selection's count, say)
        if self._results_pending and not self.table.busy:
            self._results_pending = False
            if self._paint_hold:
                self._release_paint_soon()
            if (keys_may_continue := getattr(self.app, "keys_may_continue", None)) is not None:
                keys_may_continue()

    def _actions_available(self) -> tuple:
        return tuple(self.check_action(action, ()) for action in ("magic_link", "login_email", "select_all"))

    def _refresh_bindings_if_changed(self) -> None:
        # Only when an action became (un)available: the bottom line and the palette follow.
        state = self._actions_available()
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    def _update_hints(self) -> None:
        """The bottom line: the keys that apply to what has the focus (dimmed when they cannot apply now)."""
        app = self.app
        palette = app.COMMAND_PALETTE_BINDING if app.ENABLE_COMMAND_PALETTE else None
        self.query_one(KeyHints).show(self.key_hints(), palette and app.get_key_display(Binding(palette, "")))

    def key_hints(self) -> list[Hint]:
        """The keys for the bottom line, read from the bindings: the search box's and the filter's own while
        they have the focus; else those that fit what the table holds (a selection, a filter, no contacts yet:
        each binding's `*_label` for it, first), then the usual ones."""
        app = self.app
        focused = self.focused
        if focused is not None and self.query_one(SearchBar) in focused.ancestors:
            bindings = self.SEARCH_HINTS if isinstance(focused, Input) else self.FILTER_HINTS
            return [Hint(app.get_key_display(binding), binding.description, True, self._qualified(binding.action),
                         essential=True) for binding in bindings]
        table = self.table
        query = table.query_spec
        if self.query_one(EmptyState).display:
            context = "empty"
        elif table.selected:
            context = "selection"
        elif query.search.strip() or query.status:
            context = "filter"
        else:
            context = ""
        count = f"{len(table.selected):,}"
        first: list[Hint] = []
        usual: list[Hint] = []
        for node, bindings in ((self, self.BINDINGS), (app, app.BINDINGS)):
            for binding in bindings:
                label = context_label(binding, context) if context else ""
                if not label and not binding.show or (context == "empty" and not label and node is self):
                    continue
                allowed = check(node, binding.action)
                if allowed is None:
                    continue
                action = binding.action if node is self else f"app.{binding.action}"
                hint = Hint(app.get_key_display(binding), (label or binding.description).replace("{n}", count),
                            bool(allowed), self._qualified(action), essential=bool(label) or node is app)
                (first if label and context != "empty" else usual).append(hint)
        return first + usual

    @staticmethod
    def _qualified(action: str) -> str:
        """`action` with its namespace: the screen's own when it has none (the key bar runs it on a click)."""
        return action if "." in action else f"screen.{action}"

    def on_descendant_focus(self) -> None:
        self._update_hints()

    def on_descendant_blur(self) -> None:
        self._update_hints()

    def action_results(self) -> None:
        """From the search box to the results."""
        self.table.focus()

    def _update_status(self) -> None:
        table = self.table
        query = table.query_spec
        filtered = bool(query.search.strip() or query.status)
        empty = table.loaded and table.total == 0 and not filtered
        empty_state = self.query_one(EmptyState)
        if empty != empty_state.display:
            table.display = not empty
            empty_state.display = empty
            if empty and self.focused in (None, table):
                empty_state.focus()
            elif not empty and self.focused in (None, empty_state):
                table.focus()
        text = Text(end="", no_wrap=True, overflow="ellipsis")
        if table.total:
            first = table.top_index + 1
            last = table.top_index + table.shown_count
            if table.counted:
                text.append(f"{first:,}–{last:,} of {table.total:,}", style="bold")
            else:  # a one-letter search shows its first contacts before it has counted them all
                text.append(f"{first:,}–{last:,} of {table.total:,}+", style="bold")
                text.append(" (counting…)")
            text.append(f" · row {table.cursor_index + 1:,}")
        elif not filtered:
            text.append("No contacts" if table.loaded else "Reading contacts…", style="bold")
        elif table.loaded:
            text.append("No contact matches", style="bold")
            if query.search.strip():
                text.append(" “" + visible(query.search.strip()) + "”")
            text.append(" · escape clears the search")
        if table.selected:
            text.append(f" · {len(table.selected):,} selected", style="bold")
        label = dict(COLUMNS).get(query.sort, query.sort)
        text.append(f" · sort {label.lower()} {'▼' if query.descending else '▲'} (s)")
        if table.busy:
            text.append(" · loading…")
        if text != self._status_text:
            # One row, its width the screen's (app.tcss): a new text never changes its size, so no layout pass
            # (a relayout of the whole screen, three times a key, was most of what a search key cost to paint).
            self._status_text = text
            self.query_one("#table-status", Static).update(text, layout=False)

    # --- which actions apply ----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted or not self.table.loaded:
            # Until the first contacts arrive, keys that need one show as available (pressed, they do nothing):
            # the footer is then composed once, not again a moment later when the first contact is highlighted
            # (composing it costs a tenth of the start-up).
            return True
        table = self.table
        if action == "magic_link":
            # Always runs: with no contact highlighted, `m` says why (a key that does nothing says nothing).
            return True
        if action == "open_contact":
            return True if table.highlighted is not None else None
        if action == "login_email":
            return True  # with no one to send to, `l` says why (a key that does nothing says nothing)
        if action == "select_all":
            return True if table.total > 0 else None
        return True

    def declared_actions(self) -> list[tuple[DOMNode, DeclaredAction]]:
        """Every action of the dashboard, once each, with the node it runs on: this screen's, the contact
        table's, then the app's (the palette and the help are read from this)."""
        out: list[tuple[DOMNode, DeclaredAction]] = []
        seen: set[str] = set()
        for node in (self, self.table, self.app):
            for declared in declared_actions(declared_bindings(type(node))):
                if declared.title not in seen:
                    seen.add(declared.title)
                    out.append((node, declared))
        return out

    def palette_commands(self) -> list[tuple[str, str, Callable[[], Awaitable[object]]]]:
        """(name, help, callback) for every action that applies now, for the command palette."""
        return [
            (declared.title, declared.help, partial(self.app.run_action, declared.action, node))
            for node, declared in self.declared_actions()
            if check(node, declared.action) is True
        ]

    def key_sections(self) -> list[KeySection]:
        """Every key, for the help screen (read from the bindings, so it cannot drift)."""
        app = self.app

        def keys(declared: DeclaredAction) -> str:
            return " ".join(app.get_key_display(Binding(key, declared.action)) for key in declared.keys)

        sections: dict[DOMNode, list[KeyRow]] = {self: [], self.table: [], app: []}
        for node, declared in self.declared_actions():
            sections[node].append((keys(declared), declared.title, declared.help))
        search_box = [(keys(declared), declared.title, declared.help)
                      for declared in declared_actions(self.SEARCH_HINTS)]
        status_filter = [(keys(declared), declared.title, declared.help)
                         for declared in declared_actions(self.FILTER_HINTS)]
        palette = app.get_key_display(Binding(app.COMMAND_PALETTE_BINDING, "command_palette"))
        everywhere: list[KeyRow] = [
            (palette, "Command palette", "Every action by name"),
            ("tab shift+tab", "Next or previous field", "Search box, status filter, table"),
        ]
        dialogs: list[KeyRow] = [
            ("enter", "Confirm", "Copy, invite, send, add, import…"),
            ("escape", "Close", "While sending, cancel the send"),
            ("→", "Accept a suggestion", "In an address or path box"),
        ]
        return [
            ("Dashboard", sections[self]),
            ("The contact list", sections[self.table]),
            ("In the search box", search_box),
            ("In the status filter", status_filter),
            ("Everywhere", sections[app] + everywhere),
            ("In a dialog", dialogs),
        ]

    # --- actions ----------------------------------------------------------------------------------------------
    # Each modal's module is imported when it is first opened, which keeps the dashboard's start fast.

    def action_focus_search(self) -> None:
        """Put the cursor in the search box."""
        self.query_one(SearchBar).focus_search()

    def action_next_status(self) -> None:
        """Filter by the next status."""
        self.query_one(SearchBar).next_status()

    def action_sort_picker(self) -> None:
        """Choose the column to sort by."""
        from tui.screens.sort_picker import SortPickerScreen

        query = self.table.query_spec
        columns = [(key, heading) for key, heading in COLUMNS if key != "mark"]
        self.app.push_screen(SortPickerScreen(columns, query.sort, query.descending), self._sort_picked)

    def _sort_picked(self, key: str | None) -> None:
        if key is not None:
            self.sort_column(key)

    def sort_column(self, key: str) -> None:
        """Sort by `key` (A→Z, oldest first); the column it is already sorted by stays as it is."""
        query = self.table.query_spec
        if query.sort != key:
            self.table.set_query(dataclasses.replace(query, sort=key, descending=False))
        self._update_status()

    def action_select_all(self) -> None:
        """Select every contact the search and the filter show."""
        self._select_all(self.table.query_spec)

    @work(exclusive=True, group="select-all", exit_on_error=False)
    async def _select_all(self, query: contacts.ContactQuery) -> None:
        ids = await reader.read(contacts.contact_ids, query)
        self._selected_all(ids)

    def _selected_all(self, ids: list[int]) -> None:
        added = self.table.select_ids(ids)
        self.app.notify(
            f"Selected {plural(len(ids), 'contact')} ({added:,} new); {len(self.table.selected):,} in all",
            markup=False,
        )
        self._update_status()
        self._refresh_bindings_if_changed()

    def action_clear(self) -> None:
        """Escape: leave the search box, else unselect everyone, else clear the search and filter."""
        search_bar = self.query_one(SearchBar)
        if self.focused is not None and search_bar in self.focused.ancestors:
            search_bar.clear()
            self.table.focus()
            return
        if self.table.selected:
            count = self.table.clear_selection()
            self.app.notify(f"Unselected {plural(count, 'contact')}", markup=False)
        else:
            search_bar.clear()
        self._update_status()
        self._refresh_bindings_if_changed()

    def action_portal_url(self) -> None:
        """Show and copy the portal URL."""
        from models import domains  # only this action needs it: not imported at start

        try:
            url = domains.portal_url()
        except PortalError as exc:
            self.app.notify(visible(str(exc)) + " (press d)", severity="warning", markup=False)
            return
        from tui.screens.portal_url import PortalUrlScreen
        self.app.push_screen(PortalUrlScreen(url))

    def action_magic_link(self) -> None:
        """Make, show and copy a login link for the highlighted contact."""
        contact = self.table.highlighted
        if contact is None:
            self.app.notify(self._no_contact_reason(), title="No magic link", severity="warning", markup=False)
            return
        from tui.screens.magic_link import MagicLinkScreen
        self.app.push_screen(MagicLinkScreen(contact))

    def _no_contact_reason(self) -> str:
        """Why an action on the highlighted contact has nothing to act on, and what to do."""
        table = self.table
        if not table.loaded:
            return "The contacts are still being read: try again in a moment."
        if table.total == 0:
            query = table.query_spec
            if query.search.strip() or query.status:
                return "No contact matches the search or filter: escape clears it."
            return "No contacts yet: press a to add one, or c to import a CSV file."
        return "No contact is highlighted: move to one with the arrow keys."

    def action_open_contact(self) -> None:
        """Open the highlighted contact's own view."""
        if (contact := self.table.highlighted) is not None:
            from tui.screens.contact_detail import ContactDetailScreen
            self.app.push_screen(ContactDetailScreen(contact), self._after_modal)

    def action_invite(self) -> None:
        """Invite the highlighted contact or a new address."""
        from tui.screens.invite import InviteScreen
        self.app.push_screen(InviteScreen(self.data_dir, self.table.highlighted), self._after_modal)

    def action_login_email(self) -> None:
        """Send login emails to the selection, or to the highlighted contact."""
        table = self.table
        if table.selected:
            ids = sorted(table.selected)
        elif table.highlighted is not None:
            ids = [table.highlighted.id]
        else:
            self.app.notify(self._no_contact_reason(), title="No login email", severity="warning", markup=False)
            return
        from tui.screens.login_email import LoginEmailScreen
        self.app.push_screen(LoginEmailScreen(self.data_dir, ids), self._after_modal)

    def action_resend_expired(self) -> None:
        """Invite again every contact whose invitation link lapsed (a preview first)."""
        from tui.screens.resend_expired import ResendExpiredScreen
        self.app.push_screen(ResendExpiredScreen(self.data_dir), self._after_modal)

    def action_add_contact(self) -> None:
        """Add one contact."""
        from tui.screens.add_contact import AddContactScreen
        self.app.push_screen(AddContactScreen(), self._after_modal)

    def action_import_csv(self) -> None:
        """Import contacts from a CSV file."""
        from tui.screens.import_csv import ImportCsvScreen
        self.app.push_screen(ImportCsvScreen(), self._after_modal)

    def action_domains(self) -> None:
        """Add or select domains."""
        from tui.screens.domains import DomainsScreen
        self.app.push_screen(DomainsScreen(), self._after_modal)

    def action_outbox(self) -> None:
        """Show the outbox."""
        from tui.screens.outbox import OutboxScreen
        self.app.push_screen(OutboxScreen(self.data_dir), self._after_modal)

    def action_templates(self) -> None:
        """Edit the email templates (the preview is for the highlighted contact)."""
        from tui.screens.templates import TemplateEditorScreen
        self.app.push_screen(TemplateEditorScreen(self.table.highlighted), self._after_modal)

    def action_audit(self) -> None:
        """Show the audit log."""
        from tui.screens.audit import AuditScreen
        self.app.push_screen(AuditScreen())

    def action_help(self) -> None:
        """Show every key."""
        from tui.screens.help import HelpScreen
        self.app.push_screen(HelpScreen(self.key_sections()))

    def _after_modal(self, result: object) -> None:
        self.refresh_data()

    def action_revoke(self) -> None:
        """Ask, then end the portal access of the selection, or of the highlighted contact."""
        table = self.table
        if table.selected:
            ids, contact = sorted(table.selected), None
        elif table.highlighted is not None:
            ids, contact = [table.highlighted.id], table.highlighted
        else:
            self.app.notify(self._no_contact_reason(), title="Nobody to revoke", severity="warning", markup=False)
            return
        from tui.screens.revoke import RevokeScreen
        self.app.push_screen(RevokeScreen(ids, contact), self._after_modal)

    def action_export_csv(self) -> None:
        """Export the selection, or every contact the search and filter show, to a CSV file."""
        table = self.table
        if not table.selected and table.loaded and table.total == 0:
            self.app.notify(self._no_contact_reason(), title="Nothing to export", severity="warning", markup=False)
            return
        from tui.screens.export_csv import ExportCsvScreen
        shown = table.total if table.loaded and table.counted else None
        self.app.push_screen(ExportCsvScreen(sorted(table.selected) or None, table.query_spec, shown))

    def action_settings(self) -> None:
        """Edit the shared settings."""
        from tui.screens.settings import SettingsScreen
        self.app.push_screen(SettingsScreen(), self._after_modal)
