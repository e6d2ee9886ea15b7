"""Help (`?`): every key of the dashboard, grouped by where it works.

The rows come from the screen that opened it, read from its bindings (`tui/key_actions.py`), so the help, the
command palette and the key bar cannot list different actions."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from tui.screens.dialog import Dialog

KeyRow = tuple[str, str] | tuple[str, str, str]
"""The keys (shown as typed, space-separated), the action's name, and optionally what it does."""

KeySection = tuple[str, list[KeyRow]]
"""A heading and its rows."""


class HelpScreen(Dialog[None]):
    """A table of keys; escape, enter or `?` closes."""

    TITLE_TEXT = "Keys"
    BINDINGS = [Binding("enter,question_mark", "close", "Close", show=False)]

    DEFAULT_CSS = """
    HelpScreen > #dialog {
        width: 110;
    }
    """

    def __init__(self, sections: list[KeySection]) -> None:
        super().__init__()
        self.sections = sections
        """What to list: built by the screen that opened help, from its own bindings."""

    def compose_body(self) -> ComposeResult:
        rows = [row for _, section in self.sections for row in section]
        key_width = max((cell_len(key) for key, *_ in rows), default=1)
        title_width = max((cell_len(title) for _, title, *_ in rows), default=1)
        parts: list[Text | Table] = []
        for index, (heading, section) in enumerate(self.sections):
            # One grid per section, every grid with the same widths: the keys, the names and what they do line
            # up down the whole help, and a heading does not widen the keys' column.
            table = Table.grid(padding=(0, 2))
            table.add_column(style="bold", no_wrap=True, width=key_width)
            table.add_column(no_wrap=True, width=title_width)
            table.add_column(style="dim", ratio=1)
            for key, title, *help_text in section:
                table.add_row(Text(key), Text(title), Text(help_text[0] if help_text else ""))
            parts.append(Text(("\n" if index else "") + heading, style="underline"))
            parts.append(table)
        yield Static(Group(*parts), id="keys")
        yield Static(
            "Every action is also in the command palette (ctrl+p). The dashboard works without a mouse, "
            "over SSH, at 80x24 and in 16 colours.",
            classes="hint field-label",
        )

    def on_mount(self) -> None:
        self.query_one("#dialog-body").focus()  # so ↑ ↓ pgup pgdn scroll a long list at 80x24
