"""Dashboard start and search keystrokes on a bench database, and the floor: a bare Textual app with an empty
DataTable. Measured by `run_all.py` in fresh processes (see there); these functions run inside the child.

- start: from launching the process to the first window of contacts drawn in the table;
- floor: from launching the process to the first frame of `App` + empty `DataTable` (imports included);
- search: each prefix of a few typed words, from the key to the table holding its results (the query runs on the
  dashboard's reader thread), and as reference the very SQL statements our search ran, timed on a bare
  `sqlite3` connection to the same file (best of three).
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time

from _data import make_database

TYPED = ("lovelace", "acme", "zzq")
"""A common surname, a company, and a word nothing matches (the slowest: every candidate row is read)."""
SIZE = (120, 40)


def rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def until(condition, timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the dashboard did not get there in time")
        await asyncio.sleep(0.0005)


def measure_floor(launched: float) -> dict:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    class Floor(App):
        def compose(self) -> ComposeResult:
            yield DataTable()

    async def run() -> dict:
        app = Floor()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            return {"ready_s": time.time() - launched, "ready_rss_mb": round(rss_mb(), 1)}

    return asyncio.run(run())


def measure_ours(size: int, launched: float, search: bool) -> dict:
    return asyncio.run(_ours(make_database(size), launched, search))


async def _ours(db, launched: float, search: bool) -> dict:
    from textual.widgets import Input

    from tui.app import ClientPortalApp
    from tui.widgets.contact_table import ContactTable

    app = ClientPortalApp(db)
    result: dict = {}
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(ContactTable)
        await until(lambda: table.row_count > 0)
        await pilot.pause()  # the first frame with rows in it
        result["ready_s"] = time.time() - launched
        result["ready_rss_mb"] = round(rss_mb(), 1)
        result["total"] = table.total
        if not search:
            return result
        box = app.screen.query_one("#search", Input)
        box.focus()
        await pilot.pause()
        typed, keys = [], []
        for word in TYPED:
            box.value = ""
            await until(lambda: table.query_spec.search == "" and not table.busy)
            for index in range(1, len(word) + 1):
                prefix = word[:index]
                started = time.perf_counter()
                box.insert_text_at_cursor(word[index - 1])
                await until(lambda: table.query_spec.search == prefix and not table.busy)
                keys.append((time.perf_counter() - started) * 1000)
                typed.append(prefix)
        result["typed"], result["keystroke_ms"] = typed, [round(k, 2) for k in keys]
    result["reference_ms"] = [round(reference_ms(db, prefix), 2) for prefix in typed]
    return result


def reference_ms(db, prefix: str) -> float:
    """The SQL our search runs for `prefix` (captured with a trace callback), timed on a bare connection."""
    from models import contacts
    from models.db import database, open_database
    from models.backends.sqlite.schema import create_search_terms
    from tui.widgets.contact_table import WINDOW

    if database.is_closed() or database.database != str(db):
        open_database(db)
    statements: list[str] = []
    conn = database.connection()
    conn.set_trace_callback(statements.append)
    try:
        contacts.contact_page(contacts.ContactQuery(search=prefix), 0, WINDOW)
    finally:
        conn.set_trace_callback(None)
    # Our statements only: not the FTS5 module's own reads of its shadow tables, which SQLite traces too.
    statements = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH")) and "contact" in s
                  and "_config" not in s and "_data" not in s and "_idx" not in s and "_content" not in s]
    bare = sqlite3.connect(db)
    create_search_terms(bare)  # the per-connection vocabulary table two-letter words are looked up in
    try:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            for sql in statements:
                bare.execute(sql).fetchall()
            times.append((time.perf_counter() - started) * 1000)
    finally:
        bare.close()
    return min(times)


if __name__ == "__main__":
    import sys

    print(statistics.median(measure_ours(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, time.time(),
                                         True)["keystroke_ms"]))
