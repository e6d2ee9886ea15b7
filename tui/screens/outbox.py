"""The outbox: queued, sent and failed mail, why it failed, and a retry.

`r` puts the failed messages back in the queue (`mail.outbox.retry_failed`) and sends them; `s` sends what is
queued now (the same sender a cron job runs); `f` shows only failed mail.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Static

from models import outbox
from models.db import database
from models.states import OUTBOX_FAILED, OUTBOX_QUEUED
from models.outbox import OutboxRow
from tui.screens.dialog import Dialog
from tui.text import literal, when
from tui.widgets.send_panel import SendPanel, describe_summary

ROWS_SHOWN = 200


class OutboxScreen(Dialog[str]):
    """A table of the newest outbox rows, with retry and send."""

    TITLE_TEXT = "Outbox"
    BINDINGS = [
        Binding("f", "toggle_failed", "Failed only"),
        Binding("r", "retry", "Retry failed"),
        Binding("s", "send", "Send queued"),
    ]

    DEFAULT_CSS = """
    OutboxScreen > #dialog {
        width: 110;
    }
    OutboxScreen DataTable {
        height: auto;
        max-height: 12;
    }
    """

    class Retried(Message):
        def __init__(self, count: int, error: str = "") -> None:
            super().__init__()
            self.count = count
            self.error = error

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.failed_only = False
        self.counts: dict[str, int] = {}
        self.sending = False

    def compose_body(self) -> ComposeResult:
        yield Static("", id="counts")
        yield DataTable(id="outbox-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="outcome", classes="hint")
        yield SendPanel(self.data_dir, id="send")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (("email", "Email"), ("kind", "Kind"), ("status", "Status"), ("attempts", "Tries"),
                           ("error", "Last error"), ("when", "Queued")):
            table.add_column(label, key=key)
        self.query_one(SendPanel).display = False
        self.reload()
        table.focus()

    def reload(self) -> None:
        """Read the outbox again."""
        self.counts = outbox.outbox_counts()
        rows = outbox.list_outbox(status=OUTBOX_FAILED if self.failed_only else None, limit=ROWS_SHOWN)
        counts = Text(end="")
        for index, status in enumerate(("queued", "sending", "sent", "failed", "skipped")):
            if index:
                counts.append(" · ")
            count = self.counts.get(status, 0)
            counts.append(f"{count:,}", style="bold" if count else "")
            counts.append(" " + status)
        if self.failed_only:
            counts.append("   (showing failed only)", style="italic")
        self.say("counts", counts)
        self._fill(rows)
        self.refresh_bindings()

    def _fill(self, rows: list[OutboxRow]) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for row in rows:
            table.add_row(
                literal(row.email),
                literal(row.kind),
                literal(row.status, style="bold" if row.status == OUTBOX_FAILED else ""),
                literal(row.attempts),
                literal(row.last_error or "—"),
                literal(when(row.created_at)),
                key=str(row.id),
            )
        if not rows:
            self.say("outcome", "No failed mail." if self.failed_only else "The outbox is empty.", "hint")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":
            return True if self.counts.get(OUTBOX_FAILED, 0) > 0 and not self.sending else None
        if action == "send":
            return True if self.counts.get(OUTBOX_QUEUED, 0) > 0 and not self.sending else None
        return True

    def action_toggle_failed(self) -> None:
        """Show only failed mail, or everything."""
        self.failed_only = not self.failed_only
        self.reload()

    def action_retry(self) -> None:
        """Queue the failed mail again and send it."""
        if not self.sending:
            self.sending = True
            self.refresh_bindings()
            self._retry()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _retry(self) -> None:
        try:
            from mail.outbox import retry_failed

            with database.connection_context():
                count = retry_failed()
        except Exception as exc:
            self.post_message(self.Retried(0, str(exc) or type(exc).__name__))
            return
        self.post_message(self.Retried(count))

    @on(Retried)
    def _retried(self, message: Retried) -> None:
        if message.error:
            self.sending = False
            self.say("outcome", "Cannot retry: " + message.error, "problem")
            self.refresh_bindings()
            return
        self.say("outcome", f"{message.count:,} message(s) queued again; sending…", "hint")
        self._start_send()

    def action_send(self) -> None:
        """Send every queued message that is due now."""
        if not self.sending:
            self.sending = True
            self.say("outcome", "Sending queued mail…", "hint")
            self._start_send()

    def _start_send(self) -> None:
        panel = self.query_one(SendPanel)
        panel.display = True
        panel.start(None)
        self.refresh_bindings()

    @on(SendPanel.Progress)
    def _progress(self) -> None:
        pass  # the panel draws itself; the table is read again at the end

    @on(SendPanel.Finished)
    def _sent(self, message: SendPanel.Finished) -> None:
        self.sending = False
        line, complete = message.outcome_here(" (the list above)")
        self.notify_plain(describe_summary(message.summary, message.error), title="Outbox",
                          severity="information" if complete else "warning")
        self.say("outcome", line, "good" if complete else "problem")
        self.reload()

    def action_close(self) -> None:
        if self.sending:
            self.query_one(SendPanel).cancel()
            return
        self.dismiss(None)
