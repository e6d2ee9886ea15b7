"""Invite someone to the portal: an existing contact or a new address, checked as it is typed.

Confirming calls `models.portal.invite` (which creates the contact if new and queues the invitation), then
sends the batch from the outbox with a progress bar. Invitations go out from the default domain; the modal
says which, and shows the whole email as the recipient will read it (it scrolls) before anything is sent.
The stages after enter (queue, send, cancel, summary) are `tui.screens.planned_send`'s: this dialog is that
one with a form for its plan.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from models import contacts, domains, portal
from models.contacts import ContactRow
from models.states import STATUS_JOINED, STATUS_NOT_INVITED
from models.errors import NotFound, PortalError
from tui.screens.planned_send import PlannedSendScreen
from tui.text import MAX_ADDRESS_LENGTH, join
from tui.widgets.contact_suggester import ContactSuggester
from tui.widgets.email_preview import EmailPreview
from tui.widgets.send_panel import SendPanel


class InviteScreen(PlannedSendScreen):
    """Type or pick an address, see what will be sent, enter to invite and send."""

    TITLE_TEXT = "Invite to the portal"
    KIND = "invite"
    NOUN = "invitation"
    CHANGED = "invite"
    NOTIFY_TITLE = "Invite"
    PLANS_ON_OPEN = False

    inherit_bindings = False
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("enter", "confirm", "Invite and send", priority=True),
        Binding("enter", "finish", "Close", priority=True),
    ]
    """The base's keys, with enter named for what it does here."""

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

    def __init__(self, data_dir: Path, contact: ContactRow | None = None) -> None:
        super().__init__(data_dir)
        self.initial = contact
        """The contact the modal opens with (the highlighted one)."""
        self.address: str | None = None
        """The typed address, normalised, once it is valid."""
        self.existing: ContactRow | None = None
        """The contact with that address, if there is one."""
        self._invitee: tuple[str, str, str] = ("", "", "")
        """(address, first name, last name) as they were when enter was pressed."""

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
        yield Static("", id="recipients", classes="value")
        yield Static("", id="skipped")
        yield Static("", id="outcome")
        yield SendPanel(self.data_dir, id="send")

    def on_mount(self) -> None:
        # (`PlannedSendScreen.on_mount` runs after this one: Textual calls each class's handler.)
        for part in ("#recipients", "#skipped"):
            self.query_one(part).display = False
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

    @on(Input.Changed)
    def _typed(self) -> None:
        # What a refused attempt said is about the text before this change: not about what is typed now.
        if self.stage == "ready":
            self.say("outcome", "")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()

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

    # --- confirming and sending: `PlannedSendScreen`'s stages ------------------------------------------------

    def can_send(self) -> bool:
        return self.address is not None

    def before_queue(self) -> None:
        self._invitee = (
            self.address or "",
            self.query_one("#first-name", Input).value,
            self.query_one("#last-name", Input).value,
        )
        for widget in self.query(Input):
            widget.disabled = True

    def make_queue(self) -> portal.InviteResult:
        address, first_name, last_name = self._invitee
        return portal.invite([address], first_name, last_name)

    def _back_to_the_form(self, problem: str) -> None:
        self.stage = "ready"
        for widget in self.query(Input):
            widget.disabled = False
        self._check(self.query_one("#email", Input).value)
        self.say("outcome", "Not invited: " + problem, "problem")
        self.query_one("#email", Input).focus()

    def queue_refused(self, error: str) -> None:
        self._back_to_the_form(error)

    def nothing_queued(self, result: portal.InviteResult) -> None:
        self._back_to_the_form("; ".join(f"{address}: {reason}" for address, reason in result.skipped)
                               or "nobody was invited")

    def show_sending(self, result: portal.InviteResult) -> None:
        for part in ("#names", "#preview", "#sender"):
            self.query_one(part).display = False  # room for the progress at 80x24
        self.say("outcome", "Invitation queued; sending…", "good")

    def after_send(self) -> None:
        # The check line was written before the invitation ("not invited", "is new"): say what it is now.
        address = self._invitee[0]
        try:
            row = contacts.find_contact(address)
        except PortalError:
            return
        self.existing = row
        self.say("check", join("✓ ", (row.full_name or row.email, "bold"), f" — {row.status_label}"), "good")
