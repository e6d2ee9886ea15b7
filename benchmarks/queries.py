"""Search keystroke and stats header refresh at 10k / 100k / 1M contacts, against the same work in bare sqlite3.

Run by hand: `.venv/bin/python benchmarks/queries.py [count ...]`. For each size it prints our time, the
reference time (the bare SQL a hand-written tool would run) and the ratio; best of several runs each.
"""

from __future__ import annotations

import resource
import sqlite3
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _data import make_database  # noqa: E402

from models import clock, contacts, portal  # noqa: E402
from models.db import database, open_database  # noqa: E402

TERMS = ["l", "lo", "lov", "lovel", "ada love", "zzz"]


def best(func, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def bare_search(conn: sqlite3.Connection, term: str) -> None:
    where = " AND ".join("search_text LIKE ?" for _ in term.split())
    args = [f"%{w}%" for w in term.split()]
    conn.execute(f"SELECT * FROM contact WHERE {where} ORDER BY last_name, first_name, id LIMIT 100", args).fetchall()
    conn.execute(f"SELECT COUNT(*) FROM contact WHERE {where}", args).fetchall()


def bare_stats(conn: sqlite3.Connection) -> None:
    conn.execute("SELECT status, COUNT(*) FROM contact GROUP BY status").fetchall()
    conn.execute("SELECT status, COUNT(*) FROM outbox_message GROUP BY status").fetchall()


def measure_stats(size: int) -> dict:
    """The stats header's reads (`load_header_info`: counts, portal URL, mail route) against the very same SQL
    statements (captured with a trace callback) run on a bare sqlite3 connection; both answers must agree."""
    from tui.widgets.stats_header import load_header_info

    path = make_database(size)
    open_database(path)
    statements: list[str] = []
    connection = database.connection()
    connection.set_trace_callback(statements.append)
    info = load_header_info(path.parent)
    connection.set_trace_callback(None)
    statements = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH", "PRAGMA"))]
    conn = sqlite3.connect(path)
    counts = dict(conn.execute("SELECT status, COUNT(*) FROM contact GROUP BY status").fetchall())
    stats = getattr(info, "stats", None)
    if stats is not None and stats.contacts != sum(counts.values()):
        raise SystemExit(f"stats header says {stats.contacts} contacts, the table has {sum(counts.values())}")
    ours = best(lambda: load_header_info(path.parent), runs=20)
    ref = best(lambda: [conn.execute(sql).fetchall() for sql in statements], runs=20)
    conn.close()
    database.close()
    return {"ours_ms": ours * 1000, "bare_ms": ref * 1000, "statements": len(statements)}


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000, 1_000_000]
    clock.set_clock(lambda: datetime(2026, 11, 24, 12, tzinfo=timezone.utc))
    print(f"{'contacts':>10}  {'what':<22} {'ours ms':>9} {'bare ms':>9} {'ratio':>6}")
    for size in sizes:
        path = make_database(size)
        open_database(path)
        conn = sqlite3.connect(path)
        for term in TERMS:
            ours = best(lambda: contacts.contact_page(contacts.ContactQuery(search=term), 0, 100))
            ref = best(lambda: bare_search(conn, term))
            print(f"{size:>10,}  {'search ' + repr(term):<22} {ours * 1000:9.1f} {ref * 1000:9.1f} {ours / ref:6.2f}")
        ours = best(portal.stats)
        ref = best(lambda: bare_stats(conn))
        print(f"{size:>10,}  {'stats header':<22} {ours * 1000:9.1f} {ref * 1000:9.1f} {ours / ref:6.2f}")
        conn.close()
        database.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
