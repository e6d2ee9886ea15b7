"""The audit log: who (OS user, SSH client) did what to whom, newest first."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from models import audit
from tui.screens.dialog import Dialog
from tui.text import literal, when

ROWS_SHOWN = 200


class AuditScreen(Dialog[None]):
    """The newest audit entries in a table."""

    TITLE_TEXT = "Audit log"

    DEFAULT_CSS = """
    AuditScreen > #dialog {
        width: 120;
    }
    AuditScreen DataTable {
        height: auto;
        max-height: 18;
    }
    """

    def compose_body(self) -> ComposeResult:
        yield Static(f"The newest {ROWS_SHOWN} entries; times are UTC.", classes="hint")
        yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (("at", "When"), ("who", "Who"), ("action", "Action"), ("subject", "Subject"),
                           ("detail", "Detail")):
            table.add_column(label, key=key)
        for index, row in enumerate(audit.recent(ROWS_SHOWN)):
            who = row.actor + (f"@{row.host}" if row.host else "")
            table.add_row(
                literal(when(row.at)), literal(who), literal(row.action), literal(row.subject), literal(row.detail),
                key=str(index),
            )
        table.focus()
