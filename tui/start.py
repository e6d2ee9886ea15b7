"""Opening the dashboard on a database: shared by its two ways in, `tui.launch` (no click) and `tui.cli`.

Imports nothing heavy at the top: `tui.launch` decides from the arguments alone whether to come here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DATABASE_VARIABLE = "CLIENT_PORTAL_DB"
"""The environment variable `--db` falls back to (as `tui.cli.main` declares it)."""

THREAD_SWITCH_SECONDS = 0.001
"""How long the dashboard's event loop may hold the GIL while another thread waits (`sys.setswitchinterval`)."""


from tui.collection import _collection_held, hold_collection, release_collection  # noqa: F401 (re-exported)


def open_given(given: str | None) -> Path | str:
    """Open the database named by --db / CLIENT_PORTAL_DB (`given`, None when neither is set): the default path
    (in the user data dir) has its folder created; a path given whose folder does not exist is a typo, and an
    error rather than a new empty database somewhere unexpected. Returns the path (or the server's URL)."""
    from models.db import default_database_path, is_server_url, open_database

    target = given or default_database_path()
    path = str(target).strip() if is_server_url(target) else Path(target).expanduser()
    open_database(path, create_folders=not given and not os.environ.get(DATABASE_VARIABLE))
    return path


def in_terminal() -> bool:
    """Whether the dashboard can be drawn: a terminal on both ends, or a browser's (under `client-portal web`,
    textual-serve's `TEXTUAL_DRIVER` speaks over pipes)."""
    return (sys.stdout.isatty() and sys.stdin.isatty()) or bool(os.environ.get("TEXTUAL_DRIVER"))


def make_dashboard(path: Path | str):
    """The dashboard on the open database `path`, ready to run: its first window is already being read, on the
    reading thread while Textual is imported and the screen composed."""
    from tui import reader, watch

    # The change watcher's first token comes before the first read, so a change another admin commits between
    # the two is told like any other (the app's change waiter takes this thread over).
    reader.read_first_window_ahead(after=watch.start_early())
    # A frame is written to the terminal by Textual's writer thread, and the rows by the reading thread: each
    # waited up to Python's default 5 ms for the GIL while the event loop went on with its next task.
    sys.setswitchinterval(THREAD_SWITCH_SECONDS)
    from tui.app import ClientPortalApp

    return ClientPortalApp(db_path=path)
