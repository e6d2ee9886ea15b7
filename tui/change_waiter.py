"""Live refresh: one thread per app that waits for the database to change and tells the screens that asked.

Another admin's change (or the outbox sender's) must show on every open dashboard. Rather than each screen
reading the change token on a timer, one thread waits on `models.db.wait_for_change`: on PostgreSQL that
sleeps until the server announces a commit (LISTEN/NOTIFY), so the change shows at once; SQLite has no way to be
told, so its `wait_for_change` reads the file's change counter at a short interval, on this thread, off the event
loop. Either way the screens are posted a `ChangeWaiter.Changed` and read again.

Screens subscribe on mount and unsubscribe on unmount (`watch_changes` / `unwatch_changes`); the thread runs
while anyone listens and stops when the last one leaves or the app exits (it looks up every `WAIT_SLICE`
seconds, so it never holds the exit up for longer). If the database cannot be watched (the server went away, the
file vanished), the app is told once, in one line, and the thread keeps trying; when it can watch again it says
so and the screens read again (what changed meanwhile was missed).

It is a thread of its own rather than a Textual thread worker: a worker's thread starts only once the event loop
runs it, and `subscribe` reads the first change token before the screen's first read (so no change falls between
the two); and the thread is a daemon, so even a wait the server never answers cannot hold the exit up.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable

from textual.app import App
from textual.message import Message
from textual.message_pump import MessagePump

from models import db

WAIT_SLICE = 0.25
"""How long one wait lasts before the thread looks whether it should stop (a change wakes it at once)."""

READY_TIMEOUT = 5.0
"""How long `subscribe` waits for the thread's first reading of the change token (a new connection)."""

RETRY_SECONDS = 1.0
"""How long the thread waits before trying again after the database could not be watched."""


class ChangeWaiter:
    """The app's one change-waiting thread, and the screens (or widgets) it tells."""

    class Changed(Message):
        """The database changed (another connection committed): read what is shown again."""

    def __init__(self, app: App) -> None:
        self._app = weakref.ref(app)
        self._subscribers: list[weakref.ref[MessagePump]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.problem = ""
        """Why the database cannot be watched now, in one line; empty while it is watched."""
        self.stopped = threading.Event()
        """Set when the waiting thread has returned (and cleared when one starts)."""
        self.stopped.set()
        self.changes_seen = 0
        """How many changes the thread has passed on (for tests and logs)."""

    # --- who listens ------------------------------------------------------------------------------------------

    def subscribe(self, node: MessagePump) -> None:
        """Post `Changed` to `node` from now on (and start the thread if it is not running)."""
        with self._lock:
            self._subscribers = [ref for ref in self._subscribers if ref() not in (None, node)]
            self._subscribers.append(weakref.ref(node))
        self._start()

    def unsubscribe(self, node: MessagePump) -> None:
        """Stop telling `node`; the thread stops when no one is left."""
        with self._lock:
            self._subscribers = [ref for ref in self._subscribers if ref() not in (None, node)]
            left = bool(self._subscribers)
        if not left:
            self.stop()

    @property
    def running(self) -> bool:
        """Whether the waiting thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def _listeners(self) -> list[MessagePump]:
        with self._lock:
            return [node for ref in self._subscribers if (node := ref()) is not None]

    # --- the thread -------------------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive() and not self._stop.is_set():
            return
        self._stop = threading.Event()
        ready = threading.Event()
        self.stopped.clear()
        self._thread = threading.Thread(target=self._wait, args=(self._stop, ready), name="client-portal-changes",
                                        daemon=True)
        self._thread.start()
        # The first token is read before the screen's first read, so no change can fall between the two (as
        # reading it on the event loop did); it takes a moment (a connection), and never long.
        ready.wait(READY_TIMEOUT)

    def stop(self, timeout: float = WAIT_SLICE * 4) -> bool:
        """Stop the thread (it looks up within `WAIT_SLICE`); whether it has stopped within `timeout`."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return self.stopped.is_set()

    def _wait(self, stop: threading.Event, ready: threading.Event) -> None:
        try:
            token: Hashable | None = None
            while not stop.is_set():
                try:
                    if token is None:
                        token = db.changes_token()
                        ready.set()
                    current = db.wait_for_change(token, WAIT_SLICE)
                except Exception as exc:  # noqa: BLE001 - whatever it is, it becomes one line, and we try again
                    ready.set()
                    if stop.is_set():
                        break
                    self._lost(exc)
                    token = None
                    stop.wait(RETRY_SECONDS)
                    continue
                missed = bool(self.problem)
                if missed:  # what changed while the database could not be watched was missed: read again
                    self._back()
                if (current != token or missed) and not stop.is_set():
                    token = current
                    self._tell()
        finally:
            ready.set()
            from models.db import database

            try:
                if not database.is_closed():  # this thread's own connection (SQLite's change counter is read on it)
                    database.close()
            finally:
                self.stopped.set()

    def _tell(self) -> None:
        self.changes_seen += 1
        for node in self._listeners():
            node.post_message(self.Changed())

    def _lost(self, exc: BaseException) -> None:
        try:
            if db.is_database_error(exc) and db.backend().is_busy(exc):
                return  # another connection holds a lock for a moment: nothing to tell anyone
        except Exception:  # noqa: BLE001 - no database is open: that is said below
            pass
        text = str(exc).strip()
        line = db.database_error_message(exc) or (text.splitlines()[0] if text else type(exc).__name__)
        if line == self.problem:
            return
        self.problem = line
        self._notify(f"Live refresh paused: {line}. Trying again.", "warning")

    def _back(self) -> None:
        self.problem = ""
        self._notify("Live refresh is back.", "information")

    def _notify(self, text: str, severity: str) -> None:
        app = self._app()
        if app is not None and app.is_running:
            app.notify(text, severity=severity, markup=False)  # thread-safe


_WAITERS: weakref.WeakKeyDictionary[App, ChangeWaiter] = weakref.WeakKeyDictionary()


def waiter_for(app: App) -> ChangeWaiter:
    """The app's change waiter (made on first use)."""
    found = _WAITERS.get(app)
    if found is None:
        found = _WAITERS[app] = ChangeWaiter(app)
    return found


def watch_changes(node: MessagePump) -> ChangeWaiter:
    """Post `ChangeWaiter.Changed` to `node` whenever the database changes (call from its `on_mount`)."""
    waiter = waiter_for(node.app)
    waiter.subscribe(node)
    return waiter


def unwatch_changes(node: MessagePump) -> None:
    """Stop posting to `node` (call from its `on_unmount`)."""
    waiter = _WAITERS.get(node.app)
    if waiter is not None:
        waiter.unsubscribe(node)
