"""CSV import of N rows: our `contacts import` path against bare `executemany` in sqlite3 on the same rows.

Run by hand: `.venv/bin/python benchmarks/import_csv.py [rows]`. Prints seconds, rows/s, the ratio and peak RSS.
"""

from __future__ import annotations

import csv
import io
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import csv_io  # noqa: E402
from models.db import database, open_database  # noqa: E402


def make_csv(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["First Name", "Last Name", "E-mail Address", "Company", "Phone"])
    for n in range(rows):
        writer.writerow([f"First{n}", f"Last{n}", f"person{n}@example.com", f"Company {n % 97}", f"+1 555 {n:07d}"])
    return out.getvalue().encode("utf-8")


def bare(data: bytes, path: Path) -> float:
    start = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE c (id INTEGER PRIMARY KEY, email TEXT UNIQUE, first TEXT, last TEXT, company TEXT, phone TEXT)")
    reader = csv.reader(io.StringIO(data.decode("utf-8")))
    next(reader)
    with conn:
        conn.executemany("INSERT INTO c (first, last, email, company, phone) VALUES (?,?,?,?,?)", reader)
    conn.close()
    return time.perf_counter() - start


def ours(data: bytes, path: Path) -> float:
    open_database(path)
    start = time.perf_counter()
    report = csv_io.import_contacts(data)
    elapsed = time.perf_counter() - start
    assert report.added == data.count(b"\n") - 1, report.skipped[:3]
    database.close()
    return elapsed


def measure(rows: int, which: str) -> dict:
    """One side in this process (for `run_all.py`): seconds, on a fresh database in a temp folder."""
    data = make_csv(rows)
    with tempfile.TemporaryDirectory() as tmp:
        seconds = (bare if which == "bare" else ours)(data, Path(tmp) / f"{which}.db")
    return {"seconds": seconds}


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    data = make_csv(rows)
    with tempfile.TemporaryDirectory() as tmp:
        t_bare = bare(data, Path(tmp) / "bare.db")
        t_ours = ours(data, Path(tmp) / "ours.db")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"CSV import, {rows:,} rows")
    print(f"  bare sqlite3 executemany : {t_bare:6.2f} s  ({rows / t_bare:,.0f} rows/s)")
    print(f"  client-portal import     : {t_ours:6.2f} s  ({rows / t_ours:,.0f} rows/s)")
    print(f"  ratio ours/bare          : {t_ours / t_bare:6.2f}x   peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
