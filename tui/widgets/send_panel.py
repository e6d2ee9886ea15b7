"""Sending a batch from the outbox, with a progress bar, a cancel, and a summary at the end.

The invite, login-email and outbox screens queue mail with `models` and hand the batch to this panel. The
panel runs `mail.outbox.OutboxSender.send` in a thread worker that holds its own database connection and
reports back only by messages, so a slow SMTP server never freezes the dashboard. Cancelling sets the event the
sender checks between messages; what was sent stays sent, the rest stays queued.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import ProgressBar, Static

from models import clock
from models import outbox as queue
from models.db import database
from tui.messages import DataChanged
from tui.text import plural, visible, when

MAX_FAILURES_SHOWN = 8


def summarise(summary) -> Text:
    """The end of a send in words: sent, failed (with reasons), retrying, skipped, cancelled."""
    text = Text(end="")
    text.append(f"Sent {summary.sent:,}", style="bold")
    failed = list(summary.failed or [])
    text.append(f" · Failed {len(failed):,}", style="bold" if failed else "")
    retrying = summary.retrying or 0
    skipped = list(summary.skipped or [])
    if retrying:
        text.append(f" · Retrying later {retrying:,}")
    if skipped:
        text.append(f" · Skipped {len(skipped):,}")
    if summary.cancelled:
        text.append(" · Cancelled: the rest stays queued")
    if summary.error:
        text.append("\nStopped early: " + visible(summary.error), style="bold")
    for mark, rows in (("✗", failed), ("–", skipped)):
        for email, reason in rows[:MAX_FAILURES_SHOWN]:
            text.append(f"\n  {mark} ")
            text.append(visible(email), style="bold")
            text.append(": " + visible(reason))
        if len(rows) > MAX_FAILURES_SHOWN:
            text.append(f"\n  … and {len(rows) - MAX_FAILURES_SHOWN:,} more (see the outbox, key o)")
    return text


@dataclass(frozen=True)
class Aftermath:
    """What the queue holds once a send ended, read by the sending worker (so the panel runs no query)."""

    still_queued: int
    """Rows of the batch (or of the whole outbox) still waiting in the queue, deferred ones included."""
    retry_at: datetime | None
    """When the earliest of them is due, if any wait."""
    route: str
    """Where the mail was going, for the words: `the SMTP server` or `the local Maildir`."""


def outcome_line(summary, error: str = "", aftermath: Aftermath | None = None,
                 see: str = " (see the outbox, key o)") -> tuple[str, bool]:
    """The last line of a send: what happened, never more than happened.

    Args:
        summary: The `mail.outbox.SendSummary`, or `None` when the send could not run.
        error: Why it could not run.
        aftermath: What the queue holds now.
        see: Where to look for what is left (empty in the outbox itself).

    Returns:
        The line, and whether everything of the batch was sent (only then may it read as a success and the
        bar be full).
    """
    if summary is None:
        return f"Not sent: {visible(error)}. The mail stays queued{see}.", False
    still = aftermath.still_queued if aftermath else 0
    route = aftermath.route if aftermath else "the mail server"
    failed = list(summary.failed or [])
    skipped = list(summary.skipped or [])
    retrying = summary.retrying or 0
    unreached = max(0, still - retrying)
    parts: list[str] = []
    if summary.sent:
        parts.append(f"Sent {summary.sent:,}")
    if failed:
        parts.append(f"1 failed: {visible(failed[0][1])}" if len(failed) == 1 else f"{len(failed):,} failed (below)")
    if retrying:
        at = aftermath.retry_at if aftermath else None
        later = f", retrying at {_clock_time(at)}" if at is not None else ", to be retried"
        parts.append(f"{retrying:,} deferred by the server{later}")
    if skipped:
        parts.append(f"1 skipped: {visible(skipped[0][1])}" if len(skipped) == 1 else f"{len(skipped):,} skipped")
    if summary.cancelled:
        parts.append(f"Cancelled: {plural(unreached, 'message')} still queued{see}")
    elif summary.error and unreached:
        waiting = "it" if unreached == 1 else f"the {unreached:,} left"
        parts.append(f"Queued: {route} could not be reached; {waiting} will be retried{see}")
    elif summary.error:
        parts.append(f"Stopped: {visible(summary.error)}")
    if not parts:
        return f"Nothing was sent: nothing of this batch was due{see}.", False
    complete = bool(summary.sent) and not (failed or retrying or skipped or summary.cancelled or summary.error
                                           or still)
    return " · ".join(parts) + ".", complete


def _clock_time(value: datetime) -> str:
    """`09:45 UTC` today, else the date too (the dashboard shows every time in UTC)."""
    if value.date() == clock.now().date():
        return value.strftime("%H:%M UTC")
    return when(value) + " UTC"


class SendPanel(Vertical):
    """Progress of one send: a bar, what was last sent, and the summary when it ends."""

    DEFAULT_CSS = """
    SendPanel {
        height: auto;
    }
    SendPanel > ProgressBar {
        width: 100%;
        margin: 1 0 0 0;
    }
    SendPanel > #send-status {
        height: auto;
        max-height: 12;
    }
    """

    class Progress(Message):
        """The sender finished one message (posted from the worker thread)."""

        def __init__(self, progress) -> None:
            super().__init__()
            self.progress = progress
            """A `mail.outbox.SendProgress`."""

    class Finished(Message):
        """The send ended: `summary` (a `mail.outbox.SendSummary`) or an `error` that stopped it."""

        def __init__(self, summary, error: str = "", aftermath: Aftermath | None = None) -> None:
            super().__init__()
            self.summary = summary
            self.error = error
            self.aftermath = aftermath
            """What the queue holds after the send (`None` when it could not be read)."""

        @property
        def outcome(self) -> tuple[str, bool]:
            """The last line and whether all was sent (`outcome_line`)."""
            return outcome_line(self.summary, self.error, self.aftermath)

        def outcome_here(self, see: str) -> tuple[str, bool]:
            """`outcome`, pointing to `see` for what is left."""
            return outcome_line(self.summary, self.error, self.aftermath, see)

    def __init__(self, data_dir: Path, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data_dir = data_dir
        """Where the local Maildir lives (beside the database)."""
        self.cancel_event = threading.Event()
        """Set to stop the sender after the message it is on."""
        self.running = False
        self.summary = None
        """The `SendSummary` once the send ended."""
        self.outcome = ""
        """The last line once the send ended (`outcome_line`)."""
        self.complete = False
        """Whether everything was sent."""

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=None, show_eta=False, id="send-bar")
        yield Static("", id="send-status", markup=False)

    def start(self, batch: str | None) -> None:
        """Send the queued mail of `batch` (every due message when `None`)."""
        self.running = True
        self.cancel_event.clear()
        self.query_one("#send-status", Static).update(Text("Connecting…"))
        self._send(batch)

    def cancel(self) -> None:
        """Ask the sender to stop after the current message."""
        if self.running:
            self.cancel_event.set()
            self.query_one("#send-status", Static).update(Text("Cancelling after the current message…"))

    @work(thread=True, exclusive=True, group="send", exit_on_error=False)
    def _send(self, batch: str | None) -> None:
        try:
            from mail.config import MailConfig
            from mail.outbox import OutboxSender

            with database.connection_context():
                config = MailConfig.from_env(self.data_dir)
                summary = OutboxSender(config).send(
                    batch, progress=lambda p: self.post_message(self.Progress(p)), cancel=self.cancel_event
                )
        except Exception as exc:  # SMTP down, bad settings, locked database: report, never crash
            self.post_message(self.Finished(None, str(exc) or type(exc).__name__))
            return
        try:
            with database.connection_context():
                still = queue.queued_count(batch)
                aftermath = Aftermath(still, queue.next_due_at(batch) if still else None,
                                      "the SMTP server" if config.host else "the local Maildir")
        except Exception:  # the send is over either way; its summary alone is still the truth
            aftermath = None
        self.post_message(self.Finished(summary, aftermath=aftermath))

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        p = message.progress
        self.query_one("#send-bar", ProgressBar).update(total=max(1, p.total), progress=p.done)
        line = Text(end="")
        line.append(f"{p.done:,} of {p.total:,}", style="bold")
        line.append(f" · sent {p.sent:,} · failed {p.failed:,}")
        if p.email:
            line.append("\nlast: ")
            line.append(visible(p.email))
            line.append(f" ({visible(p.outcome)}")
            if p.error:
                line.append(": " + visible(p.error))
            line.append(")")
        if self.cancel_event.is_set():
            line.append("\nCancelling after the current message…")
        self.query_one("#send-status", Static).update(line)

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        self.running = False
        self.summary = message.summary
        bar = self.query_one("#send-bar", ProgressBar)
        status = self.query_one("#send-status", Static)
        self.outcome, self.complete = message.outcome
        if message.summary is None:
            status.update(Text("Sending stopped: " + visible(message.error), style="bold"))
            bar.update(total=1, progress=0)
        else:
            # Full only when everything was sent: the bar counts what the server took, not what was tried.
            summary = message.summary
            still = message.aftermath.still_queued if message.aftermath else 0
            total = summary.sent + len(summary.failed or []) + len(summary.skipped or []) + still
            bar.update(total=max(1, total, int(bar.total or 0)), progress=summary.sent)
            if self.complete:
                bar.update(total=summary.sent, progress=summary.sent)
            status.update(summarise(summary))
        self.post_message(DataChanged("send"))


def describe_summary(summary, error: str = "") -> str:
    """A one-line notification for the end of a send (plain text; shown with `markup=False`)."""
    if summary is None:
        return "Sending stopped: " + visible(error)
    parts = [f"sent {summary.sent:,}"]
    if summary.failed:
        parts.append(f"failed {len(summary.failed):,}")
    if summary.retrying:
        parts.append(f"{summary.retrying:,} to retry later")
    if summary.cancelled:
        parts.append("cancelled")
    if summary.error:
        parts.append("stopped: " + visible(summary.error))
    return "Mail: " + ", ".join(parts) + " (" + plural(summary.sent + len(summary.failed), "message") + ")"
