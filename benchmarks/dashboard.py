"""Benchmark: the dashboard on 100k contacts — time to the table shown, time per search keystroke, memory.

    .venv/bin/python benchmarks/dashboard.py            # seeds a fresh 100k database in a temp folder
    .venv/bin/python benchmarks/dashboard.py --db F     # an existing database (seeded to 100k if empty)

Goals: ready < 1 s, keystroke < 50 ms, RSS < 150 MB. Each measurement runs in a fresh process (the app is
driven headless, as `App.run_test` does), so the start-up figure includes importing Textual and the app.

- ready: from launching the process to the first window of contacts in the table (and its first frame);
- keystroke: from a character typed in the search box to the table holding the new results (the query runs in
  a worker; typing is never blocked by it). Words that match many rows, few, and none (the slowest: SQLite
  reads every row to find nothing);
- RSS: the process's peak resident memory at the end.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # before anything heavy is imported

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONTACTS = 100_000
WORDS = ("lovelace", "hopper", "acme", "zzq")
GOALS = {"ready_s": 1.0, "keystroke_ms": 50.0, "rss_mb": 150.0}


def rss_mb() -> float:
    """Peak resident set size of this process, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(db: Path) -> None:
    from models import demo
    from models.contacts import count_contacts
    from models.db import open_database

    open_database(db)
    have = count_contacts()
    if have < CONTACTS:
        started = time.perf_counter()
        demo.seed(CONTACTS - have)
        print(f"seeded {CONTACTS - have:,} contacts in {time.perf_counter() - started:.1f} s", file=sys.stderr)


async def measure(db: Path, launched: float) -> dict:
    from textual.widgets import Input

    from tui.app import ClientPortalApp
    from tui.widgets.contact_table import ContactTable

    app = ClientPortalApp(db)
    result: dict = {}
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ContactTable)
        await until(lambda: table.row_count > 0)
        await pilot.pause()  # the first frame with rows in it
        result["ready_s"] = time.time() - launched
        result["ready_in_process_s"] = time.perf_counter() - T0
        result["rows_in_table"] = table.row_count
        result["total"] = table.total

        search = app.screen.query_one("#search", Input)
        search.focus()
        await pilot.pause()
        timings: dict[str, list[float]] = {}
        for word in WORDS:
            search.value = ""
            await wait_loaded(table, "")
            for index in range(1, len(word) + 1):
                typed = word[:index]
                started = time.perf_counter()
                search.insert_text_at_cursor(word[index - 1])
                await wait_loaded(table, typed)
                timings.setdefault(word, []).append((time.perf_counter() - started) * 1000)
            result.setdefault("matches", {})[word] = table.total
        result["keystroke_ms"] = {word: [round(t, 1) for t in values] for word, values in timings.items()}
        every = [t for values in timings.values() for t in values]
        result["keystroke_median_ms"] = round(statistics.median(every), 1)
        result["keystroke_p95_ms"] = round(sorted(every)[int(len(every) * 0.95) - 1], 1)
        result["keystroke_max_ms"] = round(max(every), 1)

        # Moving through the whole result: to the end and back, a page at a time in between.
        search.value = ""
        await wait_loaded(table, "")
        table.focus()
        await pilot.pause()
        started = time.perf_counter()
        await pilot.press("end")
        await until(lambda: table.highlighted is not None and table.cursor_index == table.total - 1 and not table.busy)
        result["jump_to_end_ms"] = round((time.perf_counter() - started) * 1000, 1)
    result["rss_mb"] = round(rss_mb(), 1)
    return result


async def until(condition, timeout: float = 30.0) -> None:
    """Poll `condition` (every half millisecond) until it holds; fail loudly rather than hang."""
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the dashboard did not get there in time")
        await asyncio.sleep(0.0005)


async def wait_loaded(table, search: str) -> None:
    """Until the table holds the results for `search` (the worker finished and the rows were replaced)."""
    await until(lambda: table.query_spec.search == search and not table.busy)


def child(db: Path, launched: float) -> None:
    print(json.dumps(asyncio.run(measure(db, launched))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="database file (default: a fresh one in a temp folder)")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes to measure in (default 3)")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.db, args.child)
        return

    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.db"
        seed(db)
        runs = []
        for _ in range(args.runs):
            launched = time.time()
            out = subprocess.run(
                [sys.executable, __file__, "--db", str(db), "--child", repr(launched)],
                capture_output=True, text=True, env={**os.environ, "CLIENT_PORTAL_DB": str(db)}, check=False,
            )
            if out.returncode:
                print(out.stderr, file=sys.stderr)
                sys.exit(out.returncode)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))

    best = min(runs, key=lambda r: r["ready_s"])
    print(f"dashboard benchmark: {best['total']:,} contacts, {len(runs)} fresh processes, 120x40")
    ready = [r["ready_s"] for r in runs]
    print(f"  ready (launch to table shown): median {statistics.median(ready):.3f} s, "
          f"best {min(ready):.3f} s   goal < {GOALS['ready_s']} s   rows in the DataTable: {best['rows_in_table']}")
    medians = [r["keystroke_median_ms"] for r in runs]
    p95 = [r["keystroke_p95_ms"] for r in runs]
    worst = [r["keystroke_max_ms"] for r in runs]
    print(f"  search keystroke to table updated: median {statistics.median(medians):.1f} ms, "
          f"p95 {statistics.median(p95):.1f} ms, max {max(worst):.1f} ms   goal < {GOALS['keystroke_ms']:.0f} ms")
    for word, values in runs[-1]["keystroke_ms"].items():
        print(f"    {word!r:<11} {runs[-1]['matches'][word]:>7,} matches   per key (ms): {values}")
    print(f"  jump to the last contact (end): {statistics.median(r['jump_to_end_ms'] for r in runs):.1f} ms")
    rss = [r["rss_mb"] for r in runs]
    print(f"  peak RSS: {max(rss):.1f} MB   goal < {GOALS['rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
