"""The thread that waits for the database to change, without Textual: `tui.change_waiter` gives each app one and
tells its screens; `start_early` starts one at launch, before anything is read.

A change token only means something to the connection that read it (SQLite's data version is counted per
connection), so the first token must be read by the thread that goes on waiting, and before the first read of what
is shown: a change committed between the two would otherwise show only at the next change. The dashboard reads its
first window ahead, at launch, before Textual is even imported (`tui.reader.read_first_window_ahead`), so the
thread that waits starts then too (`start_early`); the app's change waiter takes it over when the screen first
watches (`take_early`). Until then a change it sees is kept (`Held`) and told to the screens when they watch.

Importing this module imports no Textual and no database driver (it is on the start path).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Protocol

WAIT_SLICE = 0.25
"""How long one wait lasts before the thread looks whether it should stop (a change wakes it at once)."""

RETRY_SECONDS = 1.0
"""How long the thread waits before trying again after the database could not be watched."""


class Listener(Protocol):
    """Who the thread tells (swapped while it runs: `WatchThread.listener`)."""

    problem: str
    """Why the database cannot be watched now, in one line; empty while it is watched."""

    def changed(self) -> None: ...

    def lost(self, exc: BaseException) -> None: ...

    def back(self) -> None: ...


class Held:
    """The listener of a thread nobody has taken over yet: it keeps what happened, for the one that does."""

    def __init__(self) -> None:
        self.problem = ""
        self.pending = False
        """A change was seen (or the database could not be watched for a while): whoever takes over reads again."""

    def changed(self) -> None:
        self.pending = True

    def lost(self, exc: BaseException) -> None:
        self.pending = True  # what changes meanwhile is missed: read again once watched

    def back(self) -> None:
        self.problem = ""


class WatchThread:
    """One daemon thread: it reads the change token (then `ready` is set), waits for the next change, tells
    `listener`, and so on until `stop` is set. It closes its own connection when it returns (`stopped`)."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.stop = threading.Event()
        self.ready = threading.Event()
        """Set once the first change token is read (or reading it failed): every change after it is told."""
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="client-portal-changes", daemon=True)

    def start(self) -> WatchThread:
        self.thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self.thread.is_alive() and not self.stop.is_set()

    def _run(self) -> None:
        from models import db

        stop = self.stop
        try:
            token: Hashable | None = None
            while not stop.is_set():
                try:
                    if token is None:
                        token = db.changes_token()
                        self.ready.set()
                    current = db.wait_for_change(token, WAIT_SLICE)
                except Exception as exc:  # noqa: BLE001 - whatever it is, it becomes one line, and we try again
                    self.ready.set()
                    if stop.is_set():
                        break
                    self.listener.lost(exc)
                    token = None
                    stop.wait(RETRY_SECONDS)
                    continue
                listener = self.listener
                missed = bool(listener.problem)
                if missed:  # what changed while the database could not be watched was missed: read again
                    listener.back()
                if (current != token or missed) and not stop.is_set():
                    token = current
                    listener.changed()
        finally:
            self.ready.set()
            from models.db import database

            try:
                if not database.is_closed():  # this thread's own connection (SQLite's change counter is read on it)
                    database.close()
            finally:
                self.stopped.set()


_early: list[WatchThread | None] = [None]
"""The thread `start_early` started, until an app's change waiter takes it (`take_early`)."""


def start_early() -> threading.Event:
    """Start waiting for changes now, on the open database, before its first read (the dashboard's launch); returns
    the event set once the first change token is read: read what is shown only after it."""
    early = WatchThread(Held()).start()
    _early[0] = early
    return early.ready


def take_early() -> WatchThread | None:
    """The thread `start_early` started, still running (taken once); None if there is none."""
    early, _early[0] = _early[0], None
    return early if early is not None and early.alive else None
