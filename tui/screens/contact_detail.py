"""A contact's own view (`enter` on a row): their fields, status with who and when, the links issued to them, the
mail sent and its results, their audit history, and every action that applies to them.

The view reads `models.history.contact_history` on the dashboard's reading thread (`tui.reader`) and reads it
again when the database changes: after each of its own actions, and when the app's change waiter says another
connection committed (another admin, the outbox sender; `tui.change_waiter`). The actions reuse the dashboard's modals (invite, login email, magic link, revoke)
with this one contact; editing has its own small modal here. Every action is a binding with a description,
shown in the footer and offered in the command palette by the same name (`DetailCommands`).
Everything from the database is shown through `tui.text` (made visible, never markup); a link's token is never
shown, as none is stored.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hits, Provider
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from models import clock, contacts, history
from models.contacts import MAX_FIELD, ContactRow
from models.db import database
from models.states import (
    DELIVERY_LABELS,
    STATUS_INVITED,
    STATUS_JOINED,
    STATUS_LABELS,
    STATUS_NOT_INVITED,
    STATUS_REVOKED,
)
from models.errors import NotFound, PortalError
from tui import reader
from tui.change_waiter import ChangeWaiter, unwatch_changes, watch_changes
from tui.key_actions import KeyAction
from tui.palette import action_hits
from tui.messages import DataChanged
from tui.screens.dialog import FormDialog
from tui.screens.revoke import RevokeScreen
from tui.text import join, literal, plural, visible, when

EDITABLE = (("first_name", "First name"), ("last_name", "Last name"), ("phone", "Phone"), ("company", "Company"))
"""The fields the edit form changes (`contacts.update_contact` accepts exactly these), with their labels."""


def _grid() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    return table


def _table(*columns: tuple[str, dict]) -> Table:
    table = Table(box=None, padding=(0, 1), pad_edge=False, expand=True, show_edge=False, header_style="bold")
    for heading, options in columns:
        table.add_column(heading, **options)
    return table


def _who(name: str | None, host: str | None = None) -> Text:
    return join((name or "—", ""), *((" from ", (host, "")) if host else ()))


def fields_view(row: ContactRow) -> Table:
    """Name, email, phone, company."""
    table = _grid()
    table.add_row("Name", literal(row.full_name or "—", overflow="fold"))
    table.add_row("Email", literal(row.email, overflow="fold"))
    table.add_row("Phone", literal(row.phone or "—", overflow="fold"))
    table.add_row("Company", literal(row.company or "—", overflow="fold"))
    return table


def status_view(details: history.ContactHistory) -> Table:
    """The portal status and every date that goes with it."""
    row = details.contact
    table = _grid()
    style = {STATUS_JOINED: "green", STATUS_REVOKED: "red", STATUS_INVITED: "yellow"}.get(row.status, "")
    table.add_row("Status", Text(STATUS_LABELS.get(row.status, visible(row.status)), style=f"bold {style}".strip()))
    # One fact a row, labels of at most 14 characters: both halves of the view fit side by side at 80 columns.
    if row.invited_at is not None:
        table.add_row("Invited", when(row.invited_at) + (f" ({row.invite_count}×)" if row.invite_count > 1 else ""))
        table.add_row("Invited by", _who(details.invited_by))
    else:
        table.add_row("Invited", "never")
    state = row.delivery_state
    if state is not None:
        table.add_row("Invite email", DELIVERY_LABELS.get(state, visible(state)))
    if row.status == STATUS_INVITED and details.invite_expires_at is not None:
        lapsed = details.invite_expires_at <= clock.now()
        table.add_row("Invite " + ("expired" if lapsed else "expires"), when(details.invite_expires_at))
    table.add_row("Joined", when(row.joined_at))
    table.add_row("Last login", when(row.last_login_at))
    if row.revoked_at is not None:
        table.add_row("Revoked", when(row.revoked_at))
        table.add_row("Revoked by", _who(details.revoked_by))
    table.add_row("Added", when(details.created_at))
    return table


LINK_OUTCOMES = {
    history.LINK_OPEN: "open",
    history.LINK_USED: "used",
    history.LINK_EXPIRED: "expired",
    history.LINK_SUPERSEDED: "superseded",
    history.LINK_REVOKED: "revoked",
}


def links_view(details: history.ContactHistory) -> Table | Text:
    """The links issued: purpose, channel, created, expires, and what became of each (never the token)."""
    if not details.links:
        return Text("No link was issued to this contact yet.", style="italic")
    table = _table(("Purpose", {"no_wrap": True}), ("Channel", {"no_wrap": True}), ("Created", {"no_wrap": True}),
                   ("Expires", {"no_wrap": True}), ("Outcome", {"ratio": 1, "overflow": "fold"}))
    for link in details.links:
        outcome = LINK_OUTCOMES.get(link.state, link.state)
        if link.ended_at is not None and link.state != history.LINK_EXPIRED:
            outcome += " " + when(link.ended_at)
        style = {history.LINK_OPEN: "green", history.LINK_USED: ""}.get(link.state, "dim")
        table.add_row(literal(link.purpose), literal(link.channel), when(link.created_at), when(link.expires_at),
                      Text(outcome, style=style))
    return table


def messages_view(details: history.ContactHistory) -> Table | Text:
    """The mail queued for the contact: kind, status, attempts, sent at, last error."""
    if not details.messages:
        return Text("No email was sent to this contact yet.", style="italic")
    table = _table(("Kind", {"no_wrap": True}), ("Status", {"no_wrap": True}), ("Tries", {"justify": "right"}),
                   ("Sent", {"no_wrap": True}), ("Last error", {"ratio": 1, "overflow": "fold"}))
    for message in details.messages:
        style = {"sent": "green", "failed": "red", "skipped": "dim"}.get(message.status, "")
        table.add_row(literal(message.kind), literal(message.status, style), str(message.attempts),
                      when(message.sent_at), literal(message.last_error or "", overflow="fold"))
    return table


def audit_view(details: history.ContactHistory) -> Table | Text:
    """This contact's audit entries: when, who (and from where), what."""
    if not details.audit:
        return Text("Nothing recorded.", style="italic")
    table = _table(("When", {"no_wrap": True}), ("Who", {"overflow": "fold"}), ("Action", {"no_wrap": True}),
                   ("Detail", {"ratio": 1, "overflow": "fold"}))
    for entry in details.audit:
        table.add_row(when(entry.at), _who(entry.actor, entry.host), literal(entry.action),
                      literal(entry.detail, overflow="fold"))
    return table


def _heading(title: str, shown: int, total: int) -> Text:
    text = Text(title, style="bold underline", end="")
    if total > shown:
        text.append(f"  (newest {shown} of {total:,})", style="dim")
    return text


class DetailCommands(Provider):
    """The command palette's entries for the contact view: every action that applies now, by its name."""

    def _commands(self) -> list[tuple[str, str, object]]:
        screen = self.screen
        if not isinstance(screen, ContactDetailScreen):
            return []
        return [(title, help_text, getattr(screen, f"action_{action}")) for title, help_text, action
                in screen.palette_commands()]

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        for hit in action_hits(self.matcher(query), query, self._commands()):
            yield hit


class ContactDetailScreen(Screen):
    """One contact: fields, status, links, mail, audit; the actions that apply to them."""

    DEFAULT_CSS = """
    ContactDetailScreen {
        layout: vertical;
    }
    ContactDetailScreen #detail-title {
        height: 1;
        padding: 0 1;
        background: $panel;
        text-style: bold;
    }
    ContactDetailScreen #detail-body {
        height: 1fr;
        padding: 0 1;
    }
    ContactDetailScreen #top {
        height: auto;
    }
    ContactDetailScreen #top > Vertical {
        width: 1fr;
        height: auto;
    }
    ContactDetailScreen .heading {
        margin-top: 1;
    }
    ContactDetailScreen #problem {
        color: $text-error;
    }
    ContactDetailScreen #detail-status {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    """

    BINDINGS = [
        KeyAction("escape", "back", "Back", tooltip="Back to the contact list", title="Back to contacts"),
        KeyAction("i", "invite", "Invite", tooltip="Invite this contact to the portal and send the invitation",
                  title="Invite this contact"),
        KeyAction("i", "resend", "Resend", tooltip="Send this contact a new invitation (it replaces the old link)",
                  title="Resend invitation"),
        KeyAction("l", "login_email", "Login email", tooltip="Email this contact a login link",
                  title="Send login email to this contact"),
        KeyAction("m", "magic_link", "Magic link", tooltip="Make a login link for this contact, show and copy it",
                  title="Copy magic link for this contact"),
        KeyAction("e", "edit", "Edit", tooltip="Change this contact's names, phone or company", title="Edit contact"),
        KeyAction("r", "revoke", "Revoke", tooltip="End this contact's access: links stop working, mail is skipped",
                  title="Revoke access"),
        Binding("question_mark", "help", "Help", show=False, tooltip="Every key of this view"),
    ]
    """Each action's palette name is its `KeyAction.title` (the key bar's labels are short; the palette says whom
    it acts on). The help key is not in the palette: the palette is itself the list of actions."""

    COMMANDS = {DetailCommands}

    class Loaded(Message):
        """The reading thread returned the contact's history (or why it could not)."""

        def __init__(self, details: history.ContactHistory | None, error: str = "", gone: bool = False) -> None:
            super().__init__()
            self.details = details
            self.error = error
            self.gone = gone

    def __init__(self, contact: ContactRow) -> None:
        super().__init__(id="contact-detail")
        self.contact = contact
        """The contact as last read (the table's row at first)."""
        self.details: history.ContactHistory | None = None
        """Everything the view shows, once read."""
        self.gone = False
        """Whether the contact was deleted while shown."""

    def compose(self) -> ComposeResult:
        yield Static("", id="detail-title")
        with VerticalScroll(id="detail-body"):
            yield Static("", id="problem")
            with Horizontal(id="top"):
                with Vertical():
                    yield Static(Text("Contact", style="bold underline"), classes="heading")
                    yield Static("", id="fields")
                with Vertical():
                    yield Static(Text("Portal access", style="bold underline"), classes="heading")
                    yield Static("", id="status")
            yield Static("", id="links-heading", classes="heading")
            yield Static("", id="links")
            yield Static("", id="messages-heading", classes="heading")
            yield Static("", id="messages")
            yield Static("", id="audit-heading", classes="heading")
            yield Static("", id="audit")
        yield Static("", id="detail-status")
        yield Footer()

    def on_mount(self) -> None:
        self._show_title()
        self.query_one("#problem").display = False
        self.query_one("#fields", Static).update(fields_view(self.contact))
        self.query_one("#detail-status", Static).update(Text("Reading…", end=""))
        watch_changes(self)
        self.query_one("#detail-body").focus()
        self.reload()

    # --- reading --------------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the contact's history again (in the background)."""
        self._load(self.contact.id)

    @work(exclusive=True, group="contact-detail", exit_on_error=False)
    async def _load(self, contact_id: int) -> None:
        try:
            details = await reader.read(history.contact_history, contact_id)
        except NotFound:
            self.post_message(self.Loaded(None, "This contact no longer exists (deleted elsewhere).", gone=True))
            return
        except Exception as exc:  # a locked or vanished file: say so and keep what is shown
            self.post_message(self.Loaded(None, f"Could not read this contact: {exc}"))
            return
        self.post_message(self.Loaded(details))

    def on_unmount(self) -> None:
        unwatch_changes(self)

    @on(ChangeWaiter.Changed)
    def _changed_elsewhere(self) -> None:
        self.reload()

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        problem = self.query_one("#problem", Static)
        problem.display = bool(message.error)
        problem.update(Text(visible(message.error), end=""))
        if message.gone:
            self.gone = True
        if message.details is not None:
            details = self.details = message.details
            self.contact = details.contact
            self.query_one("#fields", Static).update(fields_view(details.contact))
            self.query_one("#status", Static).update(status_view(details))
            for key, title, shown, total, view in (
                ("links", "Links issued", len(details.links), details.link_count, links_view),
                ("messages", "Emails", len(details.messages), details.message_count, messages_view),
                ("audit", "History", len(details.audit), details.audit_count, audit_view),
            ):
                self.query_one(f"#{key}-heading", Static).update(_heading(title, shown, total))
                self.query_one(f"#{key}", Static).update(view(details))
            self._show_title()
        status = Text(end="", no_wrap=True, overflow="ellipsis")
        if self.details is not None:
            status.append(f"{plural(self.details.open_links, 'open link')} · "
                          f"{plural(self.details.queued_messages, 'email')} queued")
        status.append(" · times are UTC · escape goes back")
        self.query_one("#detail-status", Static).update(status)
        self.refresh_bindings()

    def _show_title(self) -> None:
        row = self.contact
        title = join((row.full_name or row.email, "bold"))
        if row.full_name:
            title.append_text(join(" <", (row.email, ""), ">"))
        title.append(f" · {row.status_label}")
        if self.gone:
            title.append(" · deleted")
        self.query_one("#detail-title", Static).update(title)

    # --- which actions apply ----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("back", "help"):
            return True
        if self.gone:
            return None
        status = self.contact.status
        if action == "invite":
            if status == STATUS_INVITED:
                return False  # hidden: `i` resends instead
            return True if status in (STATUS_NOT_INVITED, STATUS_REVOKED) else None
        if action == "resend":
            return True if status == STATUS_INVITED else False
        if action in ("login_email", "magic_link", "revoke"):
            # A revoked contact gets no link and no mail until invited again (the models refuse it too).
            return True if status != STATUS_REVOKED else None
        return True

    def palette_commands(self) -> list[tuple[str, str, str]]:
        """(name, help, action) for every action that applies now, from the bindings' tooltips."""
        out = []
        for binding in self.BINDINGS:
            name = getattr(binding, "title", "")
            if name and self.check_action(binding.action, ()) is True:
                out.append((name, binding.tooltip, binding.action))
        return out

    def key_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """Every key of this view, for the help screen (read from the bindings)."""
        rows = []
        for binding in self.BINDINGS:
            if self.check_action(binding.action, ()) is not False:
                rows.append((self.app.get_key_display(binding), binding.tooltip or binding.description))
        rows.append(("↑ ↓ pgup pgdn", "Scroll"))
        rows.append(("ctrl+p", "Command palette: every action by name"))
        return [("Contact", rows)]

    # --- actions ----------------------------------------------------------------------------------------------

    def action_back(self) -> None:
        """Back to the contact list."""
        self.app.pop_screen()

    def action_help(self) -> None:
        """Every key of this view."""
        from tui.screens.help import HelpScreen
        self.app.push_screen(HelpScreen(self.key_sections()))

    def _after(self, result: object = None) -> None:
        self.reload()

    def action_invite(self) -> None:
        """Invite this contact (the invite box opens with their address)."""
        from tui.screens.invite import InviteScreen
        self.app.push_screen(InviteScreen(self.app.data_dir, self.contact), self._after)

    def action_resend(self) -> None:
        """Send a new invitation."""
        self.action_invite()

    def action_login_email(self) -> None:
        """Email this contact a login link."""
        from tui.screens.login_email import LoginEmailScreen
        self.app.push_screen(LoginEmailScreen(self.app.data_dir, [self.contact.id]), self._after)

    def action_magic_link(self) -> None:
        """Make, show and copy a login link for this contact."""
        from tui.screens.magic_link import MagicLinkScreen
        self.app.push_screen(MagicLinkScreen(self.contact), self._after)

    def action_edit(self) -> None:
        """Change the contact's names, phone or company."""
        self.app.push_screen(EditContactScreen(self.contact), self._edited)

    def _edited(self, row: ContactRow | None) -> None:
        if row is not None:
            self.contact = row
            self.query_one("#fields", Static).update(fields_view(row))
            self._show_title()
        self.reload()

    def action_revoke(self) -> None:
        """Ask, then end this contact's access (`tui.screens.revoke`, shared with the dashboard's `x`)."""
        self.app.push_screen(RevokeScreen([self.contact.id], self.contact), self._after_revoke)

    def _after_revoke(self, revoked: int | None) -> None:
        self.refresh_bindings()
        self.reload()


class EditContactScreen(FormDialog[ContactRow]):
    """Change a contact's first and last name, phone and company (the address is their identity: read-only)."""

    TITLE_TEXT = "Edit contact"
    DEFAULT_CSS = """
    EditContactScreen #edit-fields {
        height: auto;
        margin: 1 0;
    }
    EditContactScreen .edit-row {
        height: 1;
        margin-bottom: 1;
    }
    EditContactScreen .edit-label {
        width: 12;
        color: $text-muted;
    }
    EditContactScreen .edit-row Input {
        width: 1fr;
    }
    """
    BINDINGS = [Binding("enter", "confirm", "Save", priority=True)]

    class Saved(Message):
        """The save worker finished."""

        def __init__(self, row: ContactRow | None, error: str = "") -> None:
            super().__init__()
            self.row = row
            self.error = error

    def __init__(self, contact: ContactRow) -> None:
        super().__init__()
        self.contact = contact
        self.saving = False
        self.initial = {key: visible(getattr(contact, key)) for key, _label in EDITABLE}
        """What each box showed at first (control characters made visible): only boxes changed from it are saved,
        so a stored name with a control character is not rewritten with its picture by saving another field."""

    def compose_body(self) -> ComposeResult:
        yield Static(join("Email ", (self.contact.email, "bold")), classes="field-label")
        yield Static("The address cannot be changed here: links, mail and the audit are keyed to it. "
                     "Add the new address as a contact instead.", classes="hint")
        with Vertical(id="edit-fields"):
            for key, label in EDITABLE:
                with Horizontal(classes="edit-row"):
                    yield Static(label, classes="edit-label")
                    yield Input(value=self.initial[key], id=key.replace("_", "-"), compact=True,
                                max_length=MAX_FIELD)
        yield Static("", id="outcome")

    def on_mount(self) -> None:
        self.query_one("#first-name", Input).focus()

    def changes(self) -> dict[str, str]:
        """The fields whose box was changed (and now differs from the stored value)."""
        out = {}
        for key, _label in EDITABLE:
            value = self.query_one(f"#{key.replace('_', '-')}", Input).value
            if value != self.initial[key] and value.strip() != getattr(self.contact, key):
                out[key] = value
        return out

    def confirm(self) -> None:
        if self.saving:
            return
        changed = self.changes()
        if not changed:
            self.notify_plain("Nothing changed")
            self.dismiss(None)
            return
        self.saving = True
        self.say("outcome", "Saving…", "hint")
        self._save(self.contact.id, changed)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _save(self, contact_id: int, changed: dict[str, str]) -> None:
        try:
            with database.connection_context():
                row = contacts.update_contact(contact_id, **changed)
        except PortalError as exc:
            self.post_message(self.Saved(None, str(exc)))
            return
        self.post_message(self.Saved(row))

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        self.saving = False
        if message.row is None:
            self.say("outcome", "✗ Not saved: " + message.error, "problem")  # the boxes keep what was typed
            return
        self.notify_plain(f"Saved {message.row.email}")
        self.app.post_message(DataChanged("edit"))
        self.dismiss(message.row)
