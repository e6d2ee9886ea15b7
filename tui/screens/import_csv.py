"""Import contacts from a CSV file (Google, Outlook, spreadsheet exports): path, enter, then the report."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input, LoadingIndicator, Static

from models import csv_io, search_fill
from models.csv_io import ImportReport
from models.db import database
from models.errors import PortalError
from tui.messages import DataChanged
from tui.screens.dialog import FormDialog
from tui.text import plural, visible

MAX_LINES_SHOWN = 8


class PathSuggester(Suggester):
    """Completes a file or folder name from what is on disk."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        path = Path(value).expanduser()
        folder, stem = (path, "") if value.endswith("/") else (path.parent, path.name)
        try:
            names = sorted(entry.name for entry in folder.iterdir() if entry.name.startswith(stem))
        except OSError:
            return None
        for name in names:
            if not name.startswith(".") or stem.startswith("."):
                suffix = name[len(stem):]
                return value + suffix + ("/" if (folder / name).is_dir() else "") if suffix else None
        return None


def report_text(report: ImportReport) -> Text:
    """What an import did, for people: added, skipped (with line numbers and reasons), warnings."""
    text = Text(end="")
    text.append(f"Imported {plural(report.added, 'contact')}", style="bold")
    text.append(f", skipped {report.skipped_count:,} row{'s' if report.skipped_count != 1 else ''}.")
    for warning in report.warnings:
        text.append("\n⚠ " + visible(warning))
    for line, reason in report.skipped[:MAX_LINES_SHOWN]:
        text.append(f"\n  line {line}: ")
        text.append(visible(reason))
    if report.skipped_count > MAX_LINES_SHOWN:
        text.append(f"\n  … and {report.skipped_count - MAX_LINES_SHOWN:,} more")
    if report.search_pending:
        text.append("\nSearch is being indexed in the background; searches work meanwhile, more slowly.")
    return text


class ImportCsvScreen(FormDialog[int]):
    """Type a path (→ completes it), enter imports; dismisses with the number added."""

    TITLE_TEXT = "Import contacts from CSV"
    BINDINGS = [
        Binding("enter", "confirm", "Import", priority=True),
        Binding("enter", "finish", "Close", priority=True),
    ]

    class Imported(Message):
        def __init__(self, report: ImportReport | None, error: str = "") -> None:
            super().__init__()
            self.report = report
            self.error = error

    def __init__(self) -> None:
        super().__init__()
        self.stage = "form"
        """`form`, `importing` or `done`."""
        self.report: ImportReport | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(
            "A CSV export with an email column (Google Contacts, Outlook, Mailchimp, a spreadsheet). "
            "Bad rows are reported and skipped; good rows are kept.",
            classes="hint",
        )
        yield Input(placeholder="~/Downloads/contacts.csv", id="path", suggester=PathSuggester(), compact=True)
        yield Static("", id="check", classes="hint")
        yield LoadingIndicator(id="importing")
        yield Static("", id="report")

    def on_mount(self) -> None:
        self.query_one("#importing").display = False
        self.query_one("#path", Input).focus()

    def _path(self) -> Path | None:
        value = self.query_one("#path", Input).value.strip()
        return Path(value).expanduser() if value else None

    @on(Input.Changed, "#path")
    def _path_changed(self) -> None:
        if self.stage == "form":
            self.say("report", "")  # a refusal was about the path before this change, not the one typed now
        path = self._path()
        if path is None:
            self.say("check", "", "hint")
        elif path.is_file():
            self.say("check", f"✓ {plural(path.stat().st_size, 'byte')}", "good")
        elif path.is_dir():
            self.say("check", "that is a folder; type the file name", "hint")
        else:
            self.say("check", "no such file yet", "hint")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            if self.stage == "form":
                path = self._path()
                return True if path is not None and path.is_file() else None
            return False  # hidden: enter closes now
        if action == "finish":
            return self.stage == "done"
        return True

    def action_finish(self) -> None:
        """Close after the report."""
        self.dismiss(self.report.added if self.report else 0)

    def confirm(self) -> None:
        """Import the file (first enter); close after the report."""
        if self.stage == "done":
            self.dismiss(self.report.added if self.report else 0)
            return
        path = self._path()
        if self.stage != "form" or path is None:
            return
        self.stage = "importing"
        self.query_one("#path", Input).disabled = True
        self.query_one("#importing").display = True
        self._import(path)
        self.refresh_bindings()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _import(self, path: Path) -> None:
        try:
            with database.connection_context():
                report = csv_io.import_file(path, fill_later=True)
        except PortalError as exc:
            self.post_message(self.Imported(None, str(exc)))
            return
        self.post_message(self.Imported(report))
        if report.search_pending:  # the report is shown now; the search index is filled on a thread of its own
            search_fill.fill_in_thread()

    @on(Imported)
    def _imported(self, message: Imported) -> None:
        self.query_one("#importing").display = False
        if message.report is None:
            self.stage = "form"
            self.query_one("#path", Input).disabled = False
            self.query_one("#path", Input).focus()
            self.say("report", "Not imported: " + message.error, "problem")
        else:
            self.stage = "done"
            self.report = message.report
            self.say("report", report_text(message.report))
            self.say("check", "Enter or escape closes.", "hint")
            self.app.post_message(DataChanged("import"))
            self.notify_plain(f"Imported {plural(message.report.added, 'contact')}", title="Import")
        self.refresh_bindings()

    def action_close(self) -> None:
        if self.stage == "importing":
            return
        self.dismiss(self.report.added if self.report else None)
