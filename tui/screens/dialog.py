"""What every action modal shares: a centred box that fits 80x24, escape to close, a footer with its keys.

A modal is a `ModalScreen[Result]`: escape dismisses it with `None`, enter confirms (each subclass says what
that means), and the caller gets the result by callback. Text from the database is put in the box only as
`rich.text.Text` made with `tui.text`, never as markup.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from textual import on
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from tui.text import visible

ResultType = TypeVar("ResultType")


class Dialog(ModalScreen[ResultType], Generic[ResultType]):
    """A titled box over the dashboard; subclasses yield the body from `compose_body`."""

    DEFAULT_CSS = """
    Dialog {
        align: center middle;
    }
    Dialog > #dialog {
        width: 84;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    Dialog #dialog-body {
        height: auto;
        max-height: 1fr;
    }
    Dialog .hint {
        color: $text-muted;
    }
    Dialog .problem {
        color: $text-error;
    }
    Dialog .good {
        color: $text-success;
    }
    Dialog .value {
        text-style: bold;
    }
    Dialog .box {
        background: $boost;
        color: $text-accent;
        height: auto;
        margin: 1 0;
    }
    Dialog .field-label {
        margin-top: 1;
    }
    Dialog Input {
        margin: 0;
        background: $boost;
    }
    Dialog Input:focus {
        background: $primary 20%;
    }
    Dialog LoadingIndicator {
        height: 1;
    }
    Dialog .preview {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        padding: 0 1;
        height: auto;
        max-height: 12;
    }
    Dialog > Footer {
        dock: bottom;
    }
    """

    BINDINGS = [Binding("escape", "close", "Close")]

    TITLE_TEXT = ""
    """The box's title (a constant; never data)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as box:
            box.border_title = self.TITLE_TEXT
            with VerticalScroll(id="dialog-body"):
                yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        """The widgets inside the box."""
        yield from ()

    def after_typing(self, callback) -> None:
        """Run `callback` once every key typed before this one has reached the focused input and its checks.

        Enter is a priority binding (so it shows in the footer while an input has focus), so it runs as soon as it
        arrives, while keys typed or pasted just before it may still wait in the input's queue, and the
        `Input.Changed` checks they cause after that in this screen's queue: confirming at once would act on
        the text as it was (measured in tmux: a domain typed and entered in one go was refused as empty). Each
        hop below queues behind what is already waiting there.
        """
        focused = self.focused
        if not isinstance(focused, Input):
            callback()
            return
        focused.call_later(lambda: focused.call_later(lambda: self.call_later(callback)))

    def action_close(self) -> None:
        """Close without doing anything (more)."""
        self.dismiss(None)

    def say(self, widget_id: str, message: str | Text, classes: str = "") -> None:
        """Show a message (plain text, control characters made visible) in one of the box's `Static`s."""
        static = self.query_one(f"#{widget_id}", Static)
        static.update(message if isinstance(message, Text) else Text(visible(message), end=""))
        static.set_classes(classes)

    def notify_plain(self, message: str, *, title: str = "", severity: str = "information") -> None:
        """A toast whose text is shown literally (it may hold names and addresses from the database)."""
        self.app.notify(visible(message), title=title, severity=severity, markup=False)


class FormDialog(Dialog[ResultType], Generic[ResultType]):
    """A dialog with input boxes whose enter (from a box or the footer) confirms: subclasses write `confirm`."""

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()

    def action_confirm(self) -> None:
        """Confirm, once the keys typed before enter have landed."""
        self.after_typing(self.confirm)

    def confirm(self) -> None:
        """What enter does."""
