"""Export contacts to a CSV file: the selection, or else every contact the search and the filter show.

The file is the same CSV as `client-portal contacts export` (`models.csv_io.export_file`: a BOM for spreadsheets,
formula-looking cells guarded, readable only by its owner). The path box starts with a name in the current
folder; a file that exists is replaced only after a second enter that says so. The export runs in a worker
(`Dialog.run_operation`); the box then names how many contacts went to which file.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from models import clock, contacts, csv_io
from models.contacts import ContactQuery
from models.errors import PortalError
from tui.screens.dialog import FormDialog
from tui.screens.import_csv import PathSuggester
from tui.text import join, plural


def export_contacts(path: Path, contact_ids: list[int] | None, query: ContactQuery | None, replace: bool) -> int:
    """Write the chosen contacts (the ids; else those `query` finds; else all) to `path` (in a worker)."""
    if contact_ids is None and query is not None:
        contact_ids = contacts.contact_ids(query)
    return csv_io.export_file(path, contact_ids, replace=replace)


class ExportCsvScreen(FormDialog[Path]):
    """Type a path (→ completes it), enter exports; dismisses with the file written (None: nothing written)."""

    TITLE_TEXT = "Export contacts to CSV"
    BINDINGS = [Binding("enter", "confirm", "Export", priority=True)]

    def __init__(self, contact_ids: list[int] | None = None, query: ContactQuery | None = None,
                 shown: int | None = None) -> None:
        """
        Args:
            contact_ids: the selection, to export these contacts.
            query: else the search and filter, to export the contacts they find (None or an empty one: all).
            shown: how many contacts the search and filter show (for the question), when known.
        """
        super().__init__()
        self.contact_ids = sorted(set(contact_ids)) if contact_ids else None
        filtered = query is not None and bool(query.search.strip() or query.status)
        self.contact_query = query if self.contact_ids is None and filtered else None
        self.shown = shown
        self.replace_ok: Path | None = None
        """The file the user said may be replaced (a second enter on the same path)."""
        self.exporting = False

    def _what(self) -> str:
        if self.contact_ids is not None:
            return f"the {plural(len(self.contact_ids), 'selected contact')}"
        count = f"{self.shown:,} " if self.shown is not None else ""
        if self.contact_query is not None:
            return f"the {count}contacts the search and filter show"
        return f"every contact ({self.shown:,})" if self.shown is not None else "every contact"

    def compose_body(self) -> ComposeResult:
        yield Static(f"Export {self._what()} to this CSV file:", classes="field-label")
        default = f"contacts-{clock.now():%Y-%m-%d}.csv"
        yield Input(value=default, id="path", suggester=PathSuggester(), compact=True)
        yield Static("", id="check", classes="hint")
        yield Static("", id="outcome", classes="hint")
        yield Static("The same CSV as client-portal contacts export: it opens in a spreadsheet and imports back "
                     "(c).", classes="hint field-label")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()
        self._path_changed()

    def _path(self) -> Path | None:
        value = self.query_one("#path", Input).value.strip()
        return Path(value).expanduser().absolute() if value else None

    @on(Input.Changed, "#path")
    def _path_changed(self) -> None:
        path = self._path()
        if path is None:
            self.say("check", "Type the file to write.", "hint")
        elif path.is_dir():
            self.say("check", f"✗ {path} is a folder: add a file name", "problem")
        elif not path.parent.is_dir():
            self.say("check", f"✗ no folder {path.parent}", "problem")
        elif path.exists():
            self.say("check", f"⚠ {path} exists: enter asks before replacing it", "problem")
        else:
            self.say("check", join("→ writes ", (str(path), "bold")), "hint")
        if path != self.replace_ok:
            self.replace_ok = None
            self.say("outcome", "", "hint")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            path = self._path()
            return True if path is not None and not path.is_dir() and not self.exporting else False
        return True

    def confirm(self) -> None:
        """Export (a file that exists: only after a second enter)."""
        path = self._path()
        if self.exporting or path is None:
            return
        if path.is_dir():
            self.say("outcome", f"✗ {path} is a folder: add a file name", "problem")
            return
        replace = path == self.replace_ok
        if path.exists() and not replace:
            self._ask_replace(path)
            return
        self.exporting = True
        self.say("outcome", "Exporting…", "hint")
        self.refresh_bindings()
        self.run_operation(export_contacts, path, self.contact_ids, self.contact_query, replace,
                           done=lambda count: self._exported(path, count), failed=self._failed)

    def _ask_replace(self, path: Path) -> None:
        self.replace_ok = path
        self.say("check", f"⚠ {path} already exists: enter again replaces it, or change the name",
                 "problem")

    def _failed(self, error: PortalError) -> None:
        self.exporting = False
        path = self._path()
        if isinstance(error, csv_io.FileExists) and path is not None:
            self._ask_replace(path)  # it appeared after the first look
        else:
            self.say("outcome", "✗ Not exported: " + str(error), "problem")
        self.refresh_bindings()

    def _exported(self, path: Path, count: int) -> None:
        self.notify_plain(f"Exported {plural(count, 'contact')} to {path}", title="Export")
        self.dismiss(path)
