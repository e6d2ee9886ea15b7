"""Copy the portal URL: shows it, copies it (terminal clipboard and, where there is one, the local one)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from tui.screens.dialog import Dialog
from tui.text import literal


class PortalUrlScreen(Dialog[str]):
    """The portal URL, copied as the modal opens; `c` copies it again, enter or escape closes."""

    TITLE_TEXT = "Portal URL"
    BINDINGS = [
        Binding("enter", "done", "Done", priority=True),
        Binding("c", "copy", "Copy again"),
    ]

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        """The URL shown and copied."""

    def compose_body(self) -> ComposeResult:
        yield Static("Clients sign in at:", classes="hint")
        yield Static(literal(self.url, overflow="fold"), id="url", classes="box value")
        yield Static("", id="copied", classes="hint")

    def on_mount(self) -> None:
        self.action_copy()

    def action_copy(self) -> None:
        """Copy the URL and say where it went."""
        where = self.app.copy_text(self.url)
        if where is None:
            self.say("copied", "Not copied: this browser page may not use the clipboard (only https and localhost "
                     "pages may). "
                     "Select the text above to copy it.", "problem")
            return
        self.say("copied", f"Copied {where}. You can also select the text above by hand.", "good")
        self.notify_plain("Copied the portal URL")

    def action_done(self) -> None:
        self.dismiss(self.url)
