"""One long-lived thread that does the dashboard's reading, with its own database connection.

A Textual thread worker runs on a new thread each time, and a new thread means a new database connection with a
cold page cache: every search would read the whole contact table from the operating system again, which makes
a 100k-contact search two to three times slower than the query itself. Reads (the table's windows, the header's
numbers, "select all") go through this one thread instead, whose connection stays open and warm. Writes keep
using their own workers and connections; WAL mode lets them and this reader work at once.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from models import db
from models.db import database

T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portal-reader")
_counter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portal-counter")
"""A second reading thread for slow counts (a one-letter search at a million contacts reads every row), so the
next keystroke's window never waits behind one; `interrupt_count` stops a count no one needs any more."""
_local = threading.local()
_counting: list = [None]
"""The counting thread's connection while it runs a query (for `interrupt_count`)."""
_TRACE = os.environ.get("CLIENT_PORTAL_TRACE")
"""A file to append a timeline to (`trace`): off unless set (the benchmarks set it to see where a key's time goes)."""
_trace_fd: list[int] = []


def trace(event: str) -> None:
    """Note `event` with the moment (`time.perf_counter`, the benchmarks' clock) and the thread, when tracing is on
    (`CLIENT_PORTAL_TRACE`): one line appended at once (the dashboard is stopped by a signal). Off, it costs one
    test."""
    if _TRACE:
        if not _trace_fd:
            _trace_fd.append(os.open(_TRACE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
        line = f"{time.perf_counter():.6f} {threading.current_thread().name} {event}\n"
        os.write(_trace_fd[0], line.encode("utf-8", "replace"))


def tracing() -> bool:
    return bool(_TRACE)


def _call(func: Callable[..., T], *args, **kwargs) -> T:
    # The tests (and `open_database`) may point the shared database at another file; follow it.
    if getattr(_local, "path", None) != database.database:
        if not database.is_closed():
            database.close()
        _local.path = database.database
    database.connect(reuse_if_open=True)
    if not _TRACE:
        return func(*args, **kwargs)
    trace(f"start {getattr(func, '__name__', func)}")
    try:
        return func(*args, **kwargs)
    finally:
        trace(f"end {getattr(func, '__name__', func)}")


async def read(func: Callable[..., T], *args) -> T:
    """Run `func(*args)` on the reading thread and return its result (exceptions are raised here)."""
    return await start(func, *args)


def start(func: Callable[..., T], *args) -> asyncio.Future[T]:
    """Hand `func(*args)` to the reading thread now, and return its future to await.

    `read` starts its query only when its coroutine first runs: from a worker, that is after Textual has run its
    other ready tasks, among them painting the last key's echo (the query of a search key started 2-5 ms late).
    Call this from the event loop's thread."""
    return asyncio.get_running_loop().run_in_executor(_executor, partial(_call, func, *args))


WINDOW = 200
"""How many contacts the contact table's cache holds around its view (one read)."""

_first_window: list = [None]
"""The future of the first window read ahead by `read_first_window_ahead`, until the table takes it."""


WATCH_READY_SECONDS = 5.0
"""How long the first window's read waits for the change watcher's first token (`read_first_window_ahead`)."""


def read_first_window_ahead(after: threading.Event | None = None) -> None:
    """Start reading the dashboard's first window now, before Textual is even imported.

    The dashboard's start waited for this read after the screen was composed and mounted; started here, the
    query runs while the main thread imports and composes (SQLite lets go of the GIL while it works), and the
    rows are usually there when the table first asks (`first_window`). Call on the main thread, once the
    database is open. `after`: the read starts once it is set (the change watcher's first token,
    `tui.watch.start_early`: a change committed after it is told, so the window may not be read before it)."""
    from models.contacts import ContactQuery, contact_page

    def read():  # which file was read is known only on the reading thread (`_call` follows the database)
        if after is not None:
            after.wait(WATCH_READY_SECONDS)
        return database.database, contact_page(ContactQuery(), 0, WINDOW, count=False)

    _first_window[0] = _executor.submit(_call, read)


def first_window(path: str | None) -> Awaitable | None:
    """The first window read ahead, to await: its page, or None if it was read from another file than `path`.
    None when nothing was read ahead; taken once."""
    ahead, _first_window[0] = _first_window[0], None
    if ahead is None:
        return None

    async def page():
        read_from, page = await asyncio.wrap_future(ahead)
        return page if read_from == path else None

    return page()


class NotWanted(Exception):
    """The count was no longer wanted when its turn came."""


def _count_call(wanted: Callable[[], bool], func: Callable[..., T], *args) -> T:
    if not wanted():  # typed on while it waited: skip it rather than start and interrupt it
        raise NotWanted
    _call(lambda: None)  # connect (and follow the database file) as the reading thread does
    _counting[0] = db.query_handle()
    try:
        if not wanted():  # an interrupt that came while connecting found nothing to interrupt
            raise NotWanted
        trace("count start")
        return func(*args)
    finally:
        _counting[0] = None
        trace("count end")


def warm_counter() -> None:
    """Open the counting thread's connection now, in the background, so the first count does not pay for it
    (and an interrupt meant for it does not fall in the moment it takes)."""
    _counter.submit(_call, lambda: None)


async def count(func: Callable[..., T], *args, wanted: Callable[[], bool] = lambda: True) -> T:
    """Run `func(*args)` on the counting thread (a count that may take a while); raises if it is interrupted
    or, when its turn comes, no longer `wanted()` (called on the counting thread)."""
    return await asyncio.get_running_loop().run_in_executor(_counter, partial(_count_call, wanted, func, *args))


def interrupt_count() -> None:
    """Stop the count running now, if any (the engine stops its query, which raises an error on its thread)."""
    handle = _counting[0]
    if handle is not None:
        db.interrupt(handle)
