"""What every action modal shares: a centred box that fits 80x24, escape to close, a footer with its keys.

A modal is a `ModalScreen[Result]`: escape dismisses it with `None`, enter confirms (each subclass says what
that means), and the caller gets the result by callback. Text from the database is put in the box only as
`rich.text.Text` made with `tui.text`, never as markup.

`Dialog.run_operation` is the one recipe for "run a domain operation in a worker, report a `PortalError`": the
operation runs in a thread with its own database connection, and its result (or the error's one-line message)
comes back to the dialog on the UI thread, where only message handlers touch widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from textual import on
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static
from textual.worker import Worker

from models.db import database
from models.errors import PortalError
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

    class OperationDone(Message):
        """Internal: an operation started by `run_operation` finished (posted from its thread)."""

        def __init__(self, done: Callable[[Any], None], failed: Callable[[PortalError], None] | None,
                     result: Any, error: PortalError | None) -> None:
            super().__init__()
            self.done = done
            self.failed = failed
            self.result = result
            self.error = error

    def run_operation(self, operation: Callable[..., Any], *args: Any, done: Callable[[Any], None],
                      failed: Callable[[PortalError], None] | None = None, hold_keys: bool = False,
                      group: str = "operation") -> Worker:
        """Run `operation(*args)` (a domain operation of `models/` or `mail/`) in a thread worker holding its own
        database connection, then call `done(result)` on the UI thread, or `failed(error)` if it raised.

        Args:
            operation: what to run; it may block (SQLite's busy wait, files, SMTP).
            done: called with the operation's result.
            failed: called with the `PortalError` it raised (`str(error)` is its one-line message; any other
                exception comes as a `PortalError` naming it as unexpected, rather than leaving the dialog
                waiting); by default the message is shown in the box's `#outcome` line, or as a toast.
            hold_keys: keys typed meanwhile wait until the result is handled (`hold_keys_until_done`).
            group: a newer operation of the same group cancels the older one's report.

        Returns:
            The worker.
        """

        def work() -> None:
            try:
                with database.connection_context():
                    result = operation(*args)
            except PortalError as exc:
                self.post_message(self.OperationDone(done, failed, None, exc))
            except Exception as exc:  # a bug or a broken file: say so rather than wait for ever
                self.post_message(self.OperationDone(done, failed, None, PortalError(f"unexpected error: {exc!r}")))
            else:
                self.post_message(self.OperationDone(done, failed, result, None))

        worker = self.run_worker(work, thread=True, exclusive=True, group=group, exit_on_error=False)
        if hold_keys:
            self.hold_keys_until_done(worker)
        return worker

    @on(OperationDone)
    def _operation_done(self, message: OperationDone) -> None:
        message.stop()
        if message.error is None:
            message.done(message.result)
        elif message.failed is not None:
            message.failed(message.error)
        else:
            self.report_problem(str(message.error))

    def report_problem(self, message: str) -> None:
        """Show a failed operation's message: in the `#outcome` line if the box has one, else as a toast."""
        if any(self.query("#outcome").results(Static)):
            self.say("outcome", "✗ " + message, "problem")
        else:
            self.notify_plain(message, severity="error")

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
