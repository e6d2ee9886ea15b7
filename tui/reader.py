"""One long-lived thread that does the dashboard's reading, with its own database connection.

A Textual thread worker runs on a new thread each time, and a new thread means a new SQLite connection with a
cold page cache: every search would read the whole contact table from the operating system again, which makes
a 100k-contact search two to three times slower than the query itself. Reads (the table's windows, the header's
numbers, "select all") go through this one thread instead, whose connection stays open and warm. Writes keep
using their own workers and connections; WAL mode lets them and this reader work at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from models.db import database

T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portal-reader")
_local = threading.local()


def _call(func: Callable[..., T], *args) -> T:
    # The tests (and `open_database`) may point the shared database at another file; follow it.
    if getattr(_local, "path", None) != database.database:
        if not database.is_closed():
            database.close()
        _local.path = database.database
    database.connect(reuse_if_open=True)
    return func(*args)


async def read(func: Callable[..., T], *args) -> T:
    """Run `func(*args)` on the reading thread and return its result (exceptions are raised here)."""
    return await asyncio.get_running_loop().run_in_executor(_executor, partial(_call, func, *args))
