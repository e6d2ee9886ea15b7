"""The dashboard's main screen: stats header, search and filter, the contact table, and every action's key.

Each action is a `Binding` here (with a footer label) and an entry in `PALETTE` (the command palette and the
help screen are built from it); `check_action` disables what cannot apply. The modals do the work and tell the
app when they changed the database; changes by other processes are found by polling the engine's change token
twice a second, and either way the header and table are read again without losing the cursor or selection.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static

from models import contacts, domains
from models.db import changes_token
from models.errors import PortalError
from tui import reader
from tui.screens.help import KeySection
from tui.text import plural, visible
from tui.widgets.contact_table import COLUMNS, ContactTable
from tui.widgets.key_hints import KeyHints
from tui.widgets.search_bar import SearchBar
from tui.widgets.stats_header import StatsHeader

POLL_SECONDS = 0.5
"""How often the change token (`models.db.changes_token`) is read to notice other admins' changes (cheap: no
table is touched)."""

PALETTE: dict[str, tuple[str, str]] = {
    "portal_url": ("Copy portal URL", "Show the portal URL and copy it"),
    "open_contact": ("Open contact", "The highlighted contact's details, links, mail and history, and its actions"),
    "magic_link": ("Copy magic link", "Make a login link for the highlighted contact, show and copy it"),
    "invite": ("Invite", "Invite an existing contact or a new address, and send the invitation"),
    "login_email": ("Send login email", "Email a login link to the selected contacts (or the highlighted one)"),
    "resend_expired": ("Resend expired invitations", "Invite again everyone whose invitation link lapsed"),
    "add_contact": ("Add contact", "Add one contact by email address"),
    "import_csv": ("Import CSV", "Import contacts from a CSV file"),
    "domains": ("Domains", "Add a custom domain, choose the one links use"),
    "outbox": ("Outbox", "Queued and failed mail, retry"),
    "audit": ("Audit log", "Who did what, newest first"),
    "focus_search": ("Search contacts", "Find contacts by name, email or company"),
    "next_status": ("Filter by status",
                    "Show the next status: all, not invited, invited, joined, revoked, invite expired"),
    "sort": ("Sort by next column", "Sort the table by the next column (s), S reverses"),
    "sort_picker": ("Sort by column…", "Choose the column to sort the table by (>)"),
    "select_all": ("Select all shown", "Select every contact the search and filter show"),
    "clear": ("Clear selection / search", "Unselect everyone, then clear the search and filter"),
    "help": ("Keys", "Every key of the dashboard"),
}
"""Action name -> (palette title, palette help). The order is the palette's."""

TABLE_HELP = {
    "toggle_select": "Select or unselect the highlighted contact (marked ●)",
    "cursor_down": "Next contact (↓)",
    "cursor_up": "Previous contact (↑)",
    "scroll_top": "First contact",
    "scroll_bottom": "Last contact",
    "cycle_sort": "Sort by the next column (or click a column's heading)",
    "reverse_sort": "Reverse the sort order",
}
"""What the contact table's own keys do, for the help screen."""


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
        Binding("slash", "focus_search", "Search"),
        Binding("i", "invite", "Invite"),
        Binding("l", "login_email", "Login email"),
        Binding("R", "resend_expired", "Resend expired", show=False),
        Binding("m", "magic_link", "Magic link"),
        Binding("u", "portal_url", "URL"),
        Binding("a", "add_contact", "Add", show=False),
        Binding("c", "import_csv", "Import CSV", show=False),
        Binding("d", "domains", "Domains", show=False),
        Binding("o", "outbox", "Outbox", show=False),
        Binding("h", "audit", "Audit log", show=False),
        Binding("f", "next_status", "Filter", show=False),
        Binding("ctrl+a", "select_all", "Select all", show=False, priority=True),
        Binding("escape", "clear", "Clear", show=False),
        Binding("enter", "open_contact", "Open", show=False),
        Binding("greater_than_sign", "sort_picker", "Sort by…", show=False),
        Binding("q", "app.quit_asking", "Quit (asks first while mail is being sent)", show=False),
    ]

    AUTO_FOCUS = "#contacts"
    """The table has the focus from the start."""

    SEARCH_HINTS = [
        Binding("enter", "results", "Results"),
        Binding("escape", "clear", "Clear search"),
        Binding("tab", "app.focus_next", "Status filter"),
    ]
    """The bottom line while the search box has the focus (letters then type)."""

    class Poll(Message):
        """Internal: time to look at the change token."""

    def __init__(self, db_path: Path, data_dir: Path) -> None:
        super().__init__(id="main")
        self.db_path = db_path
        self.data_dir = data_dir
        """Where the local Maildir lives."""
        self._changes: object = None
        self._results_pending = False
        """A new search or filter was asked for and the table has not shown its results yet."""
        self._binding_state: tuple = ()

    def compose(self) -> ComposeResult:
        yield StatsHeader(self.data_dir, id="stats")
        yield SearchBar(id="search-bar")
        yield ContactTable(id="contacts")
        yield EmptyState(id="empty")
        yield Static("", id="table-status", markup=False)
        yield KeyHints(id="key-hints")

    @property
    def table(self) -> ContactTable:
        return self.query_one(ContactTable)

    def on_mount(self) -> None:
        self.query_one(EmptyState).display = False
        # Keys for the table after a search (space, l, m...) act on its results, not the rows before them.
        make_keys_wait = getattr(self.app, "make_keys_wait", None)
        if make_keys_wait is not None:
            make_keys_wait(self.table, lambda: self._results_pending and self.table.busy)
        self._changes = changes_token()
        self.set_interval(POLL_SECONDS, self._poll)
        self._binding_state = self._actions_available()
        self._update_status()
        self._update_hints()

    # --- keeping current --------------------------------------------------------------------------------------

    def _poll(self) -> None:
        try:
            version = changes_token()
        except Exception:  # the file went away or is locked for a moment: try again next tick
            return
        if version != self._changes:
            self._changes = version
            self.refresh_data()

    def refresh_data(self) -> None:
        """Read the header and the table again (keeping the cursor and the selection)."""
        self.query_one(StatsHeader).reload()
        self.table.reload()

    # --- the table, the search bar and the status line ------------------------------------------------------

    @on(SearchBar.Changed)
    def _search_changed(self, event: SearchBar.Changed) -> None:
        query = dataclasses.replace(self.table.query_spec, search=event.search, status=event.status)
        self.table.set_query(query)
        self._results_pending = self.table.busy

    @on(SearchBar.Changed)
    def _keep_status(self) -> None:
        self._update_status()

    def on_input_submitted(self, event) -> None:
        # Enter in the search box goes to the results.
        event.stop()
        self.table.focus()

    @on(ContactTable.ViewChanged)
    def _view_changed(self) -> None:
        self._update_status()
        self._refresh_bindings_if_changed()
        if self._results_pending and not self.table.busy:
            self._results_pending = False
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
            self._update_hints()

    def _update_hints(self) -> None:
        """The bottom line: the keys that apply to what has the focus (dimmed when they cannot apply now)."""
        if isinstance(self.focused, Input):
            hints = [(binding, True, "screen") for binding in self.SEARCH_HINTS]
        else:
            hints = []
            for namespace, bindings in (("screen", self.BINDINGS), ("app", self.app.BINDINGS)):
                for binding in bindings:
                    if isinstance(binding, Binding) and binding.show:
                        allowed = self.check_action(binding.action, ()) if namespace == "screen" else True
                        if allowed is not False:
                            hints.append((binding, bool(allowed), namespace))
        palette = self.app.COMMAND_PALETTE_BINDING if self.app.ENABLE_COMMAND_PALETTE else None
        self.query_one(KeyHints).show(hints, palette and self.app.get_key_display(Binding(palette, "")))

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
        self.query_one("#table-status", Static).update(text)

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

    def palette_commands(self) -> list[tuple[str, str, str]]:
        """(title, help, action) for every action that applies now, for the command palette."""
        return [
            (title, help_text, action)
            for action, (title, help_text) in PALETTE.items()
            if self.check_action(action, ()) is True
        ]

    def key_sections(self) -> list[KeySection]:
        """Every key, for the help screen (read from the bindings, so it cannot drift)."""
        app = self.app

        def rows(bindings) -> list[tuple[str, str]]:
            out = []
            for binding in bindings:
                action = binding.action.split(".")[-1]
                description = PALETTE.get(action, (TABLE_HELP.get(action, binding.description), ""))[0]
                keys = " ".join(app.get_key_display(Binding(key, action)) for key in binding.key.split(","))
                out.append((keys, description))
            return out

        main = [b for b in self._bindings_list(self.BINDINGS)]
        table = [b for b in self._bindings_list(ContactTable.BINDINGS)]
        navigation = [
            ("↑ ↓", "Move in the table"),
            ("pgup pgdn", "A page up or down"),
            ("tab", "Next field (search box, status filter, table)"),
            ("enter", "In the search box: go to the results"),
        ]
        everywhere = [
            ("ctrl+p", "Command palette: every action by name"),
            ("?", "This help"),
            ("ctrl+q", "Quit at once"),
        ]
        dialogs = [
            ("enter", "Confirm (copy, invite, send, add, import…)"),
            ("escape", "Close; while sending, cancel the send"),
            ("→", "Accept a suggestion in an address or path box"),
        ]
        return [
            ("Dashboard", rows(main) + rows(table)),
            ("Moving around", navigation),
            ("Everywhere", everywhere),
            ("In a dialog", dialogs),
        ]

    @staticmethod
    def _bindings_list(bindings) -> list[Binding]:
        out: list[Binding] = []
        for binding in bindings:
            if isinstance(binding, Binding):
                out.append(binding)
        return out

    # --- actions ----------------------------------------------------------------------------------------------
    # Each modal's module is imported when it is first opened, which keeps the dashboard's start fast.

    def action_focus_search(self) -> None:
        """Put the cursor in the search box."""
        self.query_one(SearchBar).focus_search()

    def action_next_status(self) -> None:
        """Filter by the next status."""
        self.query_one(SearchBar).next_status()

    def action_sort(self) -> None:
        """Sort by the next column."""
        self.table.action_cycle_sort()

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
