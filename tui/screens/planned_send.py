"""One shape for every dialog that sends a batch of mail: plan, preview, confirm, progress, summary.

Opening the dialog asks the model who would get a message and who would be skipped and why (nothing is queued
yet), and renders the email for the first recipient. Enter queues the batch and sends it with a progress bar;
escape cancels the send (what was sent stays sent, the rest stays queued), and the last line says what happened.
`tui.screens.login_email` and `tui.screens.resend_expired` are this dialog with their own model calls and words;
`tui.screens.invite` is the same dialog whose plan is a form (the address typed) instead of a model call.

The preview shows the whole email and scrolls: it has the focus once the plan is shown, so ↑ ↓ scroll it.
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

from models.db import database
from models.errors import PortalError
from models.outbox import QueueResult
from models.portal import InviteResult
from tui.messages import DataChanged
from tui.screens.dialog import Dialog
from tui.text import plural, visible
from tui.widgets.email_preview import EmailPreview
from tui.widgets.send_panel import SendPanel, describe_summary

MAX_SKIPPED_SHOWN = 6


def skipped_text(skipped: list[tuple[object, str]]) -> Text:
    """`skipped` (contact or address, reason) as lines, the first few in full."""
    text = Text(end="")
    for who, reason in skipped[:MAX_SKIPPED_SHOWN]:
        email = getattr(who, "email", who)
        text.append("\n  – ")
        text.append(visible(email), style="bold")
        text.append(": " + visible(reason))
    if len(skipped) > MAX_SKIPPED_SHOWN:
        text.append(f"\n  … and {len(skipped) - MAX_SKIPPED_SHOWN:,} more")
    return text


class PlannedSendScreen(Dialog[str]):
    """Plan, preview, confirm, queue and send one batch of mail; a subclass says what the batch is.

    Subclasses set the class attributes and implement `first_line`, `make_plan`, `make_queue` and `headline`;
    the stages (`planning`, `ready`, `queueing`, `sending`, `done`), the keys and the send are the same for all.
    A dialog with `PLANS_ON_OPEN = False` starts `ready` and says by `can_send` when enter may queue (a form);
    the hooks `before_queue`, `queue_refused`, `show_sending` and `after_send` let it keep its form in step.
    """

    KIND = "login"
    """The template the preview shows (`login` or `invite`)."""
    NOUN = "login email"
    """What one message is called in "Sending 3 login emails"."""
    CHANGED = "login-email"
    """The `DataChanged` source posted once the batch is queued."""
    NOTIFY_TITLE = "Login email"
    NOTHING_QUEUED = "Nothing was queued (everyone was skipped)."
    PLANS_ON_OPEN = True
    """Whether opening asks the model for the plan (`make_plan`); `False`: the dialog is a form, `ready` at once."""

    DEFAULT_CSS = """
    PlannedSendScreen EmailPreview {
        max-height: 14;
    }
    """
    BINDINGS = [
        Binding("enter", "confirm", "Send", priority=True),
        Binding("enter", "finish", "Close", priority=True),
    ]

    class Planned(Message):
        def __init__(self, plan: QueueResult | InviteResult | None, error: str = "", queued: bool = False) -> None:
            super().__init__()
            self.plan = plan
            self.error = error
            self.queued = queued
            """`True` when this is the real queueing (after confirm), not the plan."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.plan: QueueResult | InviteResult | None = None
        self.stage = "planning"
        """`planning`, `ready`, `queueing`, `sending` or `done`."""

    # --- what a subclass says ----------------------------------------------------------------------------------

    def first_line(self) -> str:
        """What the box says while the plan is read."""
        raise NotImplementedError

    def make_plan(self) -> QueueResult | InviteResult:
        """Who would get a message and who is skipped and why, without queueing anything (runs in a thread)."""
        raise NotImplementedError

    def make_queue(self) -> QueueResult | InviteResult:
        """Queue the batch for real (runs in a thread)."""
        raise NotImplementedError

    @staticmethod
    def recipients(result: QueueResult | InviteResult) -> list:
        """The contacts `result` queues (or would queue) a message for."""
        return list(getattr(result, "queued", None) or getattr(result, "invited", None) or [])

    def headline(self, plan: QueueResult | InviteResult) -> Text:
        """The plan in one bold line: how many get a message, how many are skipped."""
        head = Text(end="")
        head.append(f"{plural(len(self.recipients(plan)), 'recipient')}", style="bold")
        if plan.skipped:
            head.append(f", {len(plan.skipped):,} skipped:")
        return head

    # --- the stages ------------------------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        yield Static(self.first_line(), id="recipients", classes="value")
        yield LoadingIndicator(id="planning")
        yield Static("", id="skipped")
        yield EmailPreview(id="preview")
        yield Static("", id="outcome", classes="hint")
        yield SendPanel(self.data_dir, id="send")

    def on_mount(self) -> None:
        self.query_one(SendPanel).display = False
        if not self.PLANS_ON_OPEN:
            self.stage = "ready"
            self.refresh_bindings()
            return
        self.query_one(EmailPreview).display = False
        self.hold_keys_until_done(self._plan())

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _plan(self) -> None:
        try:
            with database.connection_context():
                plan = self.make_plan()
        except PortalError as exc:
            self.post_message(self.Planned(None, str(exc)))
            return
        self.post_message(self.Planned(plan))

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _queue(self) -> None:
        try:
            with database.connection_context():
                result = self.make_queue()
        except PortalError as exc:
            self.post_message(self.Planned(None, str(exc), queued=True))
            return
        self.post_message(self.Planned(result, queued=True))

    @on(Planned)
    def _planned(self, message: Planned) -> None:
        for indicator in self.query("#planning"):
            indicator.display = False
        if message.plan is None:
            self.stage = "ready" if message.queued else "planning"
            if message.queued:
                self.queue_refused(message.error)
            else:
                self.say("outcome", "Cannot send: " + message.error, "problem")
            self.refresh_bindings()
            return
        if message.queued:
            self._start_sending(message.plan)
            return
        self.plan = plan = message.plan
        self.stage = "ready"
        self.say("recipients", self.headline(plan))
        self.say("skipped", skipped_text(plan.skipped) if plan.skipped else Text(""))
        recipients = self.recipients(plan)
        if recipients:
            preview = self.query_one(EmailPreview)
            preview.display = True
            preview.border_title = Content("Preview for " + visible(recipients[0].email))
            preview.show_for(self.KIND, recipients[0])
            preview.focus()  # ↑ ↓ scroll a long email
            self.say("outcome", "Enter sends, escape closes without sending.", "hint")
        else:
            self.say("outcome", "Nobody to send to. Escape closes.", "problem")
        self.refresh_bindings()

    def can_send(self) -> bool:
        """Whether enter may queue now (in the `ready` stage): by default, when the plan has a recipient."""
        return bool(self.plan and self.recipients(self.plan))

    def before_queue(self) -> None:
        """Called as enter starts queueing (a form disables its boxes here)."""

    def queue_refused(self, error: str) -> None:
        """Queueing raised `error`; the dialog is `ready` again. By default: say so."""
        self.say("outcome", "Cannot send: " + error, "problem")

    def nothing_queued(self, result: QueueResult | InviteResult) -> None:
        """Queueing queued nothing (everyone was skipped). By default the dialog is over and says so."""
        self.stage = "done"
        self.say("outcome", self.NOTHING_QUEUED, "problem")

    def show_sending(self, result: QueueResult | InviteResult) -> None:
        """The box as the send starts: what is sent, who was skipped. A subclass may hide its form here."""
        self.query_one(EmailPreview).display = False
        self.say("recipients", Text(f"Sending {plural(len(self.recipients(result)), self.NOUN)}", style="bold"))
        if result.skipped:
            self.say("skipped", Text(f"{len(result.skipped):,} skipped", end="") + skipped_text(result.skipped))

    def after_send(self) -> None:
        """Called once the send is over and the last line says so (a form shows the recipient's new state)."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            if self.stage != "ready":
                return False  # hidden: enter closes once the send is over
            return True if self.can_send() else None
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
        if self.stage != "ready" or not self.can_send():
            return
        self.stage = "queueing"
        self.before_queue()
        self.say("outcome", "Queueing…", "hint")
        self.hold_keys_until_done(self._queue())
        self.refresh_bindings()

    def _start_sending(self, result: QueueResult | InviteResult) -> None:
        self.app.post_message(DataChanged(self.CHANGED))
        if not self.recipients(result):
            self.nothing_queued(result)
            self.refresh_bindings()
            return
        self.stage = "sending"
        self.show_sending(result)
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
        self.notify_plain(describe_summary(message.summary, message.error), title=self.NOTIFY_TITLE,
                          severity="information" if complete else "warning")
        self.after_send()
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
