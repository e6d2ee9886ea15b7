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

It is a thread of its own (`tui.watch.WatchThread`) rather than a Textual thread worker: a worker's thread starts
only once the event loop runs it, and the first change token must be read before the screen's first read (so no
change falls between the two). At launch the thread starts before the first window is read ahead
(`tui.watch.start_early`) and the waiter takes it over; otherwise `subscribe` starts one and waits for its first
token. The thread is a daemon, so even a wait the server never answers cannot hold the exit up.
"""

from __future__ import annotations

import threading
import weakref

from textual.app import App
from textual.message import Message
from textual.message_pump import MessagePump

from models import db
from tui.watch import RETRY_SECONDS, WAIT_SLICE, Held, WatchThread, take_early

__all__ = ["READY_TIMEOUT", "RETRY_SECONDS", "WAIT_SLICE", "ChangeWaiter", "unwatch_changes", "waiter_for",
           "watch_changes"]

READY_TIMEOUT = 5.0
"""How long `subscribe` waits for the thread's first reading of the change token (a new connection)."""


class ChangeWaiter:
    """The app's one change-waiting thread, and the screens (or widgets) it tells."""

    class Changed(Message):
        """The database changed (another connection committed): read what is shown again."""

    def __init__(self, app: App) -> None:
        self._app = weakref.ref(app)
        self._subscribers: list[weakref.ref[MessagePump]] = []
        self._lock = threading.Lock()
        self._watch: WatchThread | None = None
        self.problem = ""
        """Why the database cannot be watched now, in one line; empty while it is watched."""
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
        return self._watch is not None and self._watch.thread.is_alive()

    @property
    def stopped(self) -> threading.Event:
        """Set when the waiting thread has returned (or none was started)."""
        if self._watch is None:
            done = threading.Event()
            done.set()
            return done
        return self._watch.stopped

    @property
    def _thread(self) -> threading.Thread | None:
        return None if self._watch is None else self._watch.thread

    def _listeners(self) -> list[MessagePump]:
        with self._lock:
            return [node for ref in self._subscribers if (node := ref()) is not None]

    # --- the thread -------------------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._watch is not None and self._watch.alive:
            return
        early = take_early()
        if early is not None:
            # Started at launch, before the first window was read ahead: from now on it tells us. What it saw
            # before is told now (after the swap, so a change it sees meanwhile is told at least once).
            held = early.listener
            early.listener = self
            self._watch = early
            if isinstance(held, Held) and (held.pending or held.problem):
                self._tell()
        else:
            self._watch = WatchThread(self).start()
        # The first token is read before the screen's first read, so no change can fall between the two (as
        # reading it on the event loop did); it takes a moment (a connection), and never long.
        self._watch.ready.wait(READY_TIMEOUT)

    def stop(self, timeout: float = WAIT_SLICE * 4) -> bool:
        """Stop the thread (it looks up within `WAIT_SLICE`); whether it has stopped within `timeout`."""
        watch = self._watch
        if watch is None:
            return True
        watch.stop.set()
        if watch.thread is not threading.current_thread():
            watch.thread.join(timeout)
        return watch.stopped.is_set()

    # --- what the thread tells (`tui.watch.Listener`), on its thread ----------------------------------------

    def changed(self) -> None:
        self._tell()

    def lost(self, exc: BaseException) -> None:
        self._lost(exc)

    def back(self) -> None:
        self._back()

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
