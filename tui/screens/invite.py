"""Invite someone to the portal: an existing contact or a new address, checked as it is typed.

Confirming calls `models.portal.invite` (which creates the contact if new and queues the invitation), then
sends the batch from the outbox with a progress bar. Invitations go out from the default domain; the modal
says which, and shows the email as the recipient will read it before anything is sent.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Static

from models import contacts, domains, portal
from models.contacts import ContactRow
from models.db import database
from models.states import STATUS_JOINED, STATUS_NOT_INVITED
from models.errors import NotFound, PortalError
from tui.messages import DataChanged
from tui.screens.dialog import FormDialog
from tui.text import MAX_ADDRESS_LENGTH, join
from tui.widgets.contact_suggester import ContactSuggester
from tui.widgets.email_preview import EmailPreview
from tui.widgets.send_panel import SendPanel, describe_summary


class InviteScreen(FormDialog[str]):
    """Type or pick an address, see what will be sent, enter to invite and send."""

    TITLE_TEXT = "Invite to the portal"
    BINDINGS = [
        Binding("enter", "confirm", "Invite and send", priority=True),
        Binding("enter", "finish", "Close", priority=True),
    ]

    DEFAULT_CSS = """
    InviteScreen #names {
        height: auto;
    }
    InviteScreen #names > Vertical {
        width: 1fr;
        height: auto;
    }
    InviteScreen #names > Vertical:first-of-type {
        margin-right: 2;
    }
    InviteScreen EmailPreview {
        max-height: 14;
    }
    """

    class Invited(Message):
        """The invite worker finished."""

        def __init__(self, result: portal.InviteResult | None, error: str = "") -> None:
            super().__init__()
            self.result = result
            self.error = error

    def __init__(self, data_dir: Path, contact: ContactRow | None = None) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.initial = contact
        """The contact the modal opens with (the highlighted one)."""
        self.address: str | None = None
        """The typed address, normalised, once it is valid."""
        self.existing: ContactRow | None = None
        """The contact with that address, if there is one."""
        self.stage = "form"
        """`form`, `inviting`, `sending` or `done`."""
        self.result: portal.InviteResult | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("Email address (an existing contact or a new one; → accepts a suggestion)", classes="hint")
        yield Input(
            value=self.initial.email if self.initial else "",
            placeholder="name@example.com",
            id="email",
            suggester=ContactSuggester(),
            compact=True,
            # No address is longer (RFC 5321); a pasted megabyte is refused here instead of being validated,
            # and echoed in the check line, on every key.
            max_length=MAX_ADDRESS_LENGTH,
        )
        yield Static("", id="check")
        with Horizontal(id="names"):
            with Vertical():
                yield Static("First name (new contacts)", classes="hint")
                yield Input(id="first-name", compact=True)
            with Vertical():
                yield Static("Last name (new contacts)", classes="hint")
                yield Input(id="last-name", compact=True)
        yield Static("", id="sender", classes="hint")
        yield EmailPreview(id="preview")
        yield Static("", id="outcome")
        yield SendPanel(self.data_dir, id="send")

    def on_mount(self) -> None:
        self.query_one(SendPanel).display = False
        try:
            sender = f"Sent from the default domain {domains.default_domain()}."
            self.say("sender", sender, "hint")
        except PortalError as exc:
            self.say("sender", f"{exc} (or close this and press d)", "problem")
        self._check(self.query_one("#email", Input).value)
        self.query_one("#email", Input).focus()

    # --- checking as you type -------------------------------------------------------------------------------

    @on(Input.Changed, "#email")
    def _email_changed(self, event: Input.Changed) -> None:
        self._check(event.value)

    @on(Input.Changed, "#first-name")
    @on(Input.Changed, "#last-name")
    def _name_changed(self) -> None:
        self._update_preview()

    def _check(self, value: str) -> None:
        self.address = None
        self.existing = None
        if not value.strip():
            self.say("check", "Type an email address.", "hint")
            self._update_preview()
            return
        try:
            address = contacts.normalize_email(value)
        except PortalError as exc:
            self.say("check", "✗ " + str(exc), "problem")
            self._update_preview()
            return
        self.address = address
        try:
            self.existing = contacts.find_contact(address)
        except NotFound:
            self.existing = None
        if self.existing is None:
            self.say("check", join("✓ ", (address, "bold"), " is new: a contact will be added"), "good")
        else:
            row = self.existing
            who = join("✓ ", (row.full_name or row.email, "bold"), f" — {row.status_label}")
            if row.status == STATUS_JOINED:
                who.append(": already joined, will be skipped")
                self.say("check", who, "problem")
            else:
                if row.status != STATUS_NOT_INVITED:
                    who.append(f" (invited {row.invite_count}×; a new invitation replaces the old link)")
                self.say("check", who, "good")
        self._update_preview()

    def _recipient(self) -> ContactRow | None:
        if self.address is None:
            return None
        if self.existing is not None:
            return self.existing
        return ContactRow(
            id=0,
            email=self.address,
            first_name=self.query_one("#first-name", Input).value.strip(),
            last_name=self.query_one("#last-name", Input).value.strip(),
            company="",
            phone="",
            status=STATUS_NOT_INVITED,
            invited_at=None,
            last_login_at=None,
        )

    def _update_preview(self) -> None:
        preview = self.query_one(EmailPreview)
        recipient = self._recipient()
        if recipient is None:
            preview.show_problem("type a valid address first")
        else:
            preview.show_for("invite", recipient)
        self.refresh_bindings()

    # --- confirming and sending -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            if self.stage != "form":
                return False  # hidden: enter closes once the send is over
            return True if self.address is not None else None
        if action == "finish":
            return self.stage == "done"
        return True

    def action_finish(self) -> None:
        """Close after the send."""
        self.dismiss(describe_summary(self.query_one(SendPanel).summary))

    def confirm(self) -> None:
        """Invite (first enter), or close once the send is over."""
        if self.stage == "done":
            self.dismiss(describe_summary(self.query_one(SendPanel).summary))
            return
        if self.stage != "form" or self.address is None:
            return
        self.stage = "inviting"
        for widget in self.query(Input):
            widget.disabled = True
        self.say("outcome", "Inviting…", "hint")
        self.hold_keys_until_done(
            self._invite(
                self.address,
                self.query_one("#first-name", Input).value,
                self.query_one("#last-name", Input).value,
            )
        )
        self.refresh_bindings()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _invite(self, address: str, first_name: str, last_name: str) -> None:
        try:
            with database.connection_context():
                result = portal.invite([address], first_name, last_name)
        except PortalError as exc:
            self.post_message(self.Invited(None, str(exc)))
            return
        self.post_message(self.Invited(result))

    @on(Invited)
    def _invited(self, message: Invited) -> None:
        self.result = message.result
        if message.result is None or not message.result.invited:
            skipped = message.result.skipped if message.result else []
            reasons = message.error or "; ".join(f"{address}: {reason}" for address, reason in skipped)
            self.say("outcome", "Not invited: " + reasons, "problem")
            self.stage = "form"
            for widget in self.query(Input):
                widget.disabled = False
            self._check(self.query_one("#email", Input).value)
            return
        self.app.post_message(DataChanged("invite"))
        for part in ("#names", "#preview", "#sender"):
            self.query_one(part).display = False  # room for the progress at 80x24
        self.say("outcome", Text("Invitation queued; sending…  (escape cancels)", end=""), "good")
        panel = self.query_one(SendPanel)
        panel.display = True
        self.stage = "sending"
        panel.start(message.result.batch)
        self.refresh_bindings()

    @on(SendPanel.Finished)
    def _sent(self, message: SendPanel.Finished) -> None:
        self.stage = "done"
        line, complete = message.outcome
        self.say("outcome", line + " Enter or escape closes.", "good" if complete else "problem")
        self.notify_plain(describe_summary(message.summary, message.error), title="Invite",
                          severity="information" if complete else "warning")
        self.refresh_bindings()

    def action_close(self) -> None:
        if self.stage == "sending":
            self.query_one(SendPanel).cancel()
            return
        if self.stage == "inviting":
            return
        if self.stage == "done":
            self.dismiss(describe_summary(self.query_one(SendPanel).summary))
            return
        self.dismiss(None)

