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
from textual.worker import Worker

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

    _footer_state: tuple | None = None
    """What the footer was last built for (`refresh_bindings`)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as box:
            box.border_title = self.TITLE_TEXT
            with VerticalScroll(id="dialog-body"):
                yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        """The widgets inside the box."""
        yield from ()

    def hold_keys_until_done(self, worker: Worker) -> None:
        """Keys typed from now on wait until `worker` (short work that enter started) has finished and its
        result is handled: they then reach this dialog as it is after, or the screen under it if it closed."""
        hold = getattr(self.app, "hold_keys_until_done", None)
        if hold is not None:
            hold(worker)

    def refresh_bindings(self) -> None:
        """Rebuild the footer only when what it shows changed: the focus, or an action becoming (un)available.

        The checks run on every key typed into a box (`Input.Changed`), and Textual rebuilds the whole footer
        on each call: with keys handled one after another (`tui.key_order`), that was most of a key's cost.
        """
        try:
            state = (self.focused, self.app.app_focus, tuple(
                self.check_action(binding.action, ())
                for bindings in self._bindings.key_to_bindings.values()
                for binding in bindings
            ))
        except Exception:  # not composed yet (a check that queries a widget): refresh as asked
            state = None
        if state is not None and state == self._footer_state:
            return
        self._footer_state = state
        super().refresh_bindings()

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
        """Confirm (the keys typed before enter have landed: `tui.key_order`)."""
        self.confirm()

    def confirm(self) -> None:
        """What enter does."""
