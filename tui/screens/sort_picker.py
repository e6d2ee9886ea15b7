"""Sort by a chosen column (`>`, as in htop): a short list of the table's columns; enter picks, escape cancels.

`s` steps to the next column and `S` reverses; a click on a heading sorts too. This is for the column you
want without stepping through the others.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.screens.dialog import Dialog


class SortPickerScreen(Dialog[str | None]):
    """The sortable columns, the current one marked; dismisses with the chosen column's key, or None."""

    TITLE_TEXT = "Sort by"
    BINDINGS = [
        Binding("enter", "pick", "Sort", show=True),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    DEFAULT_CSS = """
    SortPickerScreen > #dialog {
        width: 44;
    }
    SortPickerScreen OptionList, SortPickerScreen OptionList:focus {
        height: auto;
        margin-top: 1;
        border: none;
        padding: 0;
    }
    """

    def __init__(self, columns: list[tuple[str, str]], current: str, descending: bool) -> None:
        """
        Args:
            columns: (key, heading) of each sortable column, in table order.
            current: The key of the column the table is sorted by now.
            descending: Whether the current sort is descending (shown beside it).
        """
        super().__init__()
        self.columns = columns
        """What can be picked."""
        self.current = current
        self.descending = descending

    def compose_body(self) -> ComposeResult:
        options = []
        for key, heading in self.columns:
            label = Text(heading)
            if key == self.current:
                label.append(" ▼" if self.descending else " ▲", style="bold")
                label.append("  (now)", style="dim")
            options.append(Option(label, id=key))
        yield OptionList(*options, id="sort-columns")
        yield Static("Enter sorts by the column (A→Z, oldest first); S reverses; escape cancels.",
                     classes="hint field-label", markup=False)

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        keys = [key for key, _ in self.columns]
        option_list.highlighted = keys.index(self.current) if self.current in keys else 0
        option_list.focus()

    def action_cursor_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()

    def action_pick(self) -> None:
        """Sort by the highlighted column."""
        option_list = self.query_one(OptionList)
        if option_list.highlighted is not None:
            self.dismiss(option_list.get_option_at_index(option_list.highlighted).id)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)
