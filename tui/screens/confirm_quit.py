"""Asked when `q` is pressed while mail is being sent: quitting stops the sender after the message it is on."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from tui.screens.dialog import Dialog


class ConfirmQuitScreen(Dialog[bool]):
    """Quit while sending? Enter or y quits, escape or n stays."""

    TITLE_TEXT = "Quit while sending?"
    BINDINGS = [
        Binding("enter,y", "quit", "Quit"),
        Binding("n", "close", "Stay", show=False),
    ]

    DEFAULT_CSS = """
    ConfirmQuitScreen > #dialog {
        width: 64;
    }
    """

    def compose_body(self) -> ComposeResult:
        yield Static("Mail is being sent. Quitting cancels the send after the message in flight; what was not sent "
                     "stays queued in the outbox (key o) for the next send.", classes="field-label",
                     markup=False)
        yield Static("Enter or y quits · escape or n stays.", classes="hint field-label", markup=False)

    def action_quit(self) -> None:
        self.dismiss(True)

    def action_close(self) -> None:
        self.dismiss(False)
