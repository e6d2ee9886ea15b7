"""Invite again every contact whose invitation link lapsed: plan, preview, confirm, progress, summary.

Opening the modal asks `models.portal.plan_resend_expired` who would get a new invitation and who would be
skipped and why (nothing is queued yet: the real operation, rolled back) and renders the invitation for the first
of them. Enter runs `models.portal.resend_expired` (one transaction) and sends the batch with a progress bar;
escape cancels the send, and the summary lists what failed and why.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import LoadingIndicator, Static

from models import portal
from models.db import database
from models.errors import PortalError
from models.portal import InviteResult
from tui.messages import DataChanged
from tui.screens.dialog import Dialog
from tui.screens.login_email import skipped_text
from tui.text import plural, visible
from tui.widgets.email_preview import EmailPreview
from tui.widgets.send_panel import SendPanel, describe_summary


class ResendExpiredScreen(Dialog[str]):
    """Confirm and send a new invitation to every contact whose invitation link lapsed."""

    TITLE_TEXT = "Resend expired invitations"

    DEFAULT_CSS = """
    ResendExpiredScreen EmailPreview {
        max-height: 12;
    }
    """
    BINDINGS = [
        Binding("enter", "confirm", "Send", priority=True),
        Binding("enter", "finish", "Close", priority=True),
    ]

    class Planned(Message):
        def __init__(self, plan: InviteResult | None, error: str = "", queued: bool = False) -> None:
            super().__init__()
            self.plan = plan
            self.error = error
            self.queued = queued
            """`True` when this is the real queueing (after confirm), not the plan."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.plan: InviteResult | None = None
        self.stage = "planning"
        """`planning`, `ready`, `queueing`, `sending` or `done`."""

    def compose_body(self) -> ComposeResult:
        yield Static("Finding the invitations whose link lapsed…", id="recipients", classes="value")
        yield LoadingIndicator(id="planning")
        yield Static("", id="skipped")
        yield EmailPreview(id="preview")
        yield Static("", id="outcome", classes="hint")
        yield SendPanel(self.data_dir, id="send")

    def on_mount(self) -> None:
        self.query_one(SendPanel).display = False
        self.query_one(EmailPreview).display = False
        self.hold_keys_until_done(self._plan())

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _plan(self) -> None:
        try:
            with database.connection_context():
                plan = portal.plan_resend_expired()
        except PortalError as exc:
            self.post_message(self.Planned(None, str(exc)))
            return
        self.post_message(self.Planned(plan))

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _queue(self) -> None:
        try:
            with database.connection_context():
                result = portal.resend_expired()
        except PortalError as exc:
            self.post_message(self.Planned(None, str(exc), queued=True))
            return
        self.post_message(self.Planned(result, queued=True))

    @on(Planned)
    def _planned(self, message: Planned) -> None:
        self.query_one("#planning").display = False
        if message.plan is None:
            self.say("outcome", "Cannot send: " + message.error, "problem")
            self.stage = "ready" if message.queued else "planning"
            self.refresh_bindings()
            return
        if message.queued:
            self._start_sending(message.plan)
            return
        self.plan = plan = message.plan
        self.stage = "ready"
        head = Text(end="")
        if plan.invited or plan.skipped:
            head.append(f"{plural(len(plan.invited), 'new invitation')}", style="bold")
            head.append(" for contacts whose invitation link lapsed")
            if plan.skipped:
                head.append(f", {len(plan.skipped):,} skipped:")
        else:
            head.append("No invitation link has lapsed.", style="bold")
        self.say("recipients", head)
        self.say("skipped", skipped_text(plan.skipped) if plan.skipped else Text(""))
        if plan.invited:
            preview = self.query_one(EmailPreview)
            preview.display = True
            preview.border_title = Content("Preview for " + visible(plan.invited[0].email))
            preview.show_for("invite", plan.invited[0])
            self.say("outcome", "Enter sends, escape closes without sending.", "hint")
        else:
            self.say("outcome", "Nobody to send to. Escape closes.", "problem")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            if self.stage != "ready":
                return False  # hidden: enter closes once the send is over
            return True if self.plan and self.plan.invited else None
        if action == "finish":
            return self.stage == "done"
        return True

    def action_finish(self) -> None:
        """Close after the send."""
        self.dismiss(describe_summary(self.query_one(SendPanel).summary))

    def action_confirm(self) -> None:
        """Queue and send (first enter); close once the send is over."""
        if self.stage == "done":
            self.dismiss(describe_summary(self.query_one(SendPanel).summary))
            return
        if self.stage != "ready" or not (self.plan and self.plan.invited):
            return
        self.stage = "queueing"
        self.say("outcome", "Queueing…", "hint")
        self.hold_keys_until_done(self._queue())
        self.refresh_bindings()

    def _start_sending(self, result: InviteResult) -> None:
        self.app.post_message(DataChanged("invite"))
        if not result.invited:
            self.stage = "done"
            self.say("outcome", "Nothing was queued (everyone was skipped, or no link has lapsed now).", "problem")
            self.refresh_bindings()
            return
        self.stage = "sending"
        self.query_one(EmailPreview).display = False
        self.say("recipients", Text(f"Sending {plural(len(result.invited), 'invitation')}", style="bold"))
        if result.skipped:
            self.say("skipped", Text(f"{len(result.skipped):,} skipped", end="") + skipped_text(result.skipped))
        self.say("outcome", "Escape cancels (what was sent stays sent; the rest stays queued).", "hint")
        panel = self.query_one(SendPanel)
        panel.display = True
        panel.start(result.batch)
        self.refresh_bindings()

    @on(SendPanel.Finished)
    def _sent(self, message: SendPanel.Finished) -> None:
        self.stage = "done"
        line, complete = message.outcome
        self.say("outcome", line + " Enter or escape closes.", "good" if complete else "problem")
        self.notify_plain(describe_summary(message.summary, message.error), title="Resend expired invitations",
                          severity="information" if complete else "warning")
        self.refresh_bindings()

    def action_close(self) -> None:
        if self.stage == "sending":
            self.query_one(SendPanel).cancel()
            return
        if self.stage == "queueing":
            return
        if self.stage == "done":
            self.dismiss(describe_summary(self.query_one(SendPanel).summary))
            return
        self.dismiss(None)
