"""Add one contact: the address is checked as it is typed; enter adds, escape closes."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Static

from models import contacts
from models.contacts import ContactRow
from models.db import database
from models.errors import NotFound, PortalError
from tui.messages import DataChanged
from tui.screens.dialog import FormDialog
from tui.text import MAX_ADDRESS_LENGTH, join


class AddContactScreen(FormDialog[ContactRow]):
    """Email (required), names, company and phone; dismisses with the new `ContactRow`."""

    TITLE_TEXT = "Add a contact"
    BINDINGS = [Binding("enter", "confirm", "Add", priority=True)]

    DEFAULT_CSS = """
    AddContactScreen .pair {
        height: auto;
    }
    AddContactScreen .pair > Vertical {
        width: 1fr;
        height: auto;
    }
    AddContactScreen .pair > Vertical:first-of-type {
        margin-right: 2;
    }
    """

    FIELDS = (("first-name", "First name"), ("last-name", "Last name"), ("company", "Company"), ("phone", "Phone"))

    class Added(Message):
        def __init__(self, row: ContactRow | None, error: str = "") -> None:
            super().__init__()
            self.row = row
            self.error = error

    def __init__(self) -> None:
        super().__init__()
        self.address: str | None = None
        """The address once it is valid and new."""
        self.busy = False

    def compose_body(self) -> ComposeResult:
        yield Static("Email address", classes="hint")
        yield Input(placeholder="name@example.com", id="email", compact=True, max_length=MAX_ADDRESS_LENGTH)
        yield Static("Type an email address.", id="check", classes="hint")
        for start in (0, 2):
            with Horizontal(classes="pair"):
                for field_id, label in self.FIELDS[start : start + 2]:
                    with Vertical():
                        yield Static(label, classes="hint")
                        yield Input(id=field_id, compact=True)
        yield Static("", id="outcome")

    def on_mount(self) -> None:
        self.query_one("#email", Input).focus()

    @on(Input.Changed, "#email")
    def _email_changed(self, event: Input.Changed) -> None:
        self.address = None
        if not event.value.strip():
            self.say("check", "Type an email address.", "hint")
        else:
            try:
                address = contacts.normalize_email(event.value)
            except PortalError as exc:
                self.say("check", "✗ " + str(exc), "problem")
            else:
                try:
                    existing = contacts.find_contact(address)
                except NotFound:
                    self.address = address
                    self.say("check", join("✓ ", (address, "bold")), "good")
                else:
                    self.say("check", join("✗ ", (existing.email, "bold"), " is already a contact"), "problem")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            return True if self.address is not None and not self.busy else None
        return True

    def confirm(self) -> None:
        """Add the contact."""
        if self.address is None or self.busy:
            return
        self.busy = True
        values = {field_id: self.query_one(f"#{field_id}", Input).value for field_id, _ in self.FIELDS}
        self.hold_keys_until_done(self._add(self.address, values))

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _add(self, address: str, values: dict[str, str]) -> None:
        try:
            with database.connection_context():
                row = contacts.add_contact(
                    address, values["first-name"], values["last-name"], values["company"], values["phone"]
                )
        except PortalError as exc:
            self.post_message(self.Added(None, str(exc)))
            return
        self.post_message(self.Added(row))

    @on(Added)
    def _added(self, message: Added) -> None:
        self.busy = False
        if message.row is None:
            self.say("outcome", message.error, "problem")
            self.refresh_bindings()
            return
        self.app.post_message(DataChanged("add-contact"))
        self.notify_plain(f"Added {message.row.email}")
        self.dismiss(message.row)
