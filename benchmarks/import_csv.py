"""CSV import of N rows: our `contacts import` path against two references that use bare sqlite3.

- "bare": `executemany` of the CSV rows into a table with only a UNIQUE email, as the issue states its goal
  (ours within 3x of it).
- "ours": `contacts import` as the CLI runs it: timed until the import returns (as a user feels it), and again
  until the search index is complete ("indexed": the search index and the contact table's other indexes are
  filled after it returns, by a detached process, `models.search_fill`).
- "same end state": bare sqlite3 again, but into our schema (migrated beforehand, untimed, as for ours) and
  ending in the same state as our import once its index is complete: the search text, the counts per status,
  the trigram search index and every secondary index. It does what our import does in SQL (drop the indexes and insert triggers, insert,
  count once, fill the search index in one statement, build the indexes again) and none of our Python: no
  header mapping, no address checks, no duplicate detection. Ours until indexed minus it is the cost of our
  Python and of filling in the background; it minus "bare" is the cost of the end state itself.

Run by hand: `.venv/bin/python benchmarks/import_csv.py [rows] [--repeat N]`. Each side runs N times (default 3)
in a fresh process of its own (so its peak RSS is its own); it prints medians, the ratios and peak RSS, and checks
that the two databases ended in the same state. `run_all.py` calls `measure(rows, "ours" | "bare" | "same")`.

Memory: `.venv/bin/python benchmarks/import_csv.py --rss 100000,1000000` writes each file to disk first, then runs
`contacts import` of it (`csv_io.import_file`) in a child process and reads the child's peak RSS from
`getrusage(RUSAGE_CHILDREN)`: the import's own memory, not the generated data's. The goal is memory that does not
grow with the file (under 200 MB at a million rows). `run_all.py` calls `measure_rss(rows)`.

Size on disk: `.venv/bin/python benchmarks/import_csv.py --size 10000,100000,1000000` writes a realistic CSV
(`_data.contacts_of`: real name frequencies, Zipf-sized companies, real mail domains, a phone on every other row),
runs `contacts import` of it in a child process, and prints the database's size (after the last connection closed,
so the write-ahead log is folded in) against the CSV's (the issue's goal: at most 4x at a million), the peak RSS,
and the largest tables and indexes (`dbstat`). The floor beside it: the same rows in a bare table with only a UNIQUE
email. `run_all.py` calls `measure_size(rows)`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import csv_io, search_fill
from models.backends.sqlite.database import PRAGMAS
from models.db import database, open_database
from models.backends.sqlite.bulk import INSERT_TRIGGERS
from models.backends.sqlite.schema import SEARCH_INDEX, renumber_names

SIDES = ("bare", "same", "ours")


class Timer:
    """Wall-clock and CPU seconds of one region: on a shared machine the CPU time is the steadier of the two."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def make_csv(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["First Name", "Last Name", "E-mail Address", "Company", "Phone"])
    for n in range(rows):
        writer.writerow([f"First{n}", f"Last{n}", f"person{n}@example.com", f"Company {n % 97}", f"+1 555 {n:07d}"])
    return out.getvalue().encode("utf-8")


def write_csv(rows: int, path: Path) -> int:
    """The file `make_csv` makes, written to `path` a row at a time (the generator holds no copy); its size."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["First Name", "Last Name", "E-mail Address", "Company", "Phone"])
        for n in range(rows):
            writer.writerow([f"First{n}", f"Last{n}", f"person{n}@example.com", f"Company {n % 97}",
                             f"+1 555 {n:07d}"])
    return path.stat().st_size


def import_file_child(csv_path: Path, db_path: Path) -> dict:
    """In the child: open a fresh database and import the file as `contacts import` does."""
    open_database(db_path)
    timer = Timer()
    report = csv_io.import_file(csv_path)
    seconds, cpu = timer.stop()
    database.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "added": report.added, "skipped": report.skipped_count}


def _import_in_a_child(csv_path: Path, db_path: Path, rows: int) -> tuple[dict, float]:
    """`contacts import` of `csv_path` into `db_path` in a fresh process (`--import-file`), checked to add every
    row: its result and the peak RSS of this process's children so far, in MB (one child per process here)."""
    out = subprocess.run([sys.executable, __file__, "--import-file", str(csv_path), str(db_path)],
                         capture_output=True, text=True, check=False)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"the import of {rows} rows failed (exit {out.returncode})")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["added"] == rows, result
    return result, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

def measure_rss(rows: int) -> dict:
    """Peak RSS of an import of a `rows`-row file from disk, in a child process of its own (see the docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "contacts.csv"
        size = write_csv(rows, csv_path)
        result, child_rss = _import_in_a_child(csv_path, Path(tmp) / "db.db", rows)
    return {**result, "rows": rows, "file_mb": round(size / 1024 / 1024, 1), "import_rss_mb": round(child_rss, 1)}


def write_realistic_csv(rows: int, path: Path) -> int:
    """The contacts `_data.make_database(rows)` holds, as a CSV an agency would import; its size."""
    from _data import contacts_of

    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["First Name", "Last Name", "E-mail Address", "Company", "Phone"])
        for contact_id, first, last, company, email, _ in contacts_of(rows):
            writer.writerow([first, last, email, company, f"+44 20 7946 {contact_id % 10_000:04d}"
                             if contact_id % 2 else ""])
    return path.stat().st_size


def _bare_size(csv_path: Path, db_path: Path) -> int:
    """The floor for size: the CSV's rows in a table with only a UNIQUE email, in bytes."""
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE c (id INTEGER PRIMARY KEY, email TEXT UNIQUE, first TEXT, last TEXT, company TEXT, "
                 "phone TEXT)")
    with open(csv_path, encoding="utf-8", newline="") as handle, conn:
        reader = csv.reader(handle)
        next(reader)
        conn.executemany("INSERT INTO c (first, last, email, company, phone) VALUES (?,?,?,?,?)", reader)
    conn.close()
    return db_path.stat().st_size


def measure_size(rows: int) -> dict:
    """Database size after `contacts import` of a realistic `rows`-row CSV (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        csv_path, db_path = Path(tmp) / "contacts.csv", Path(tmp) / "db.db"
        size = write_realistic_csv(rows, csv_path)
        result, child_rss = _import_in_a_child(csv_path, db_path, rows)
        db_size = sum(Path(str(db_path) + suffix).stat().st_size for suffix in ("", "-wal")
                      if Path(str(db_path) + suffix).exists())
        conn = sqlite3.connect(db_path)
        parts = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8").fetchall()
        conn.close()
        floor = _bare_size(csv_path, Path(tmp) / "bare.db")
    mb = lambda n: round(n / 1024 / 1024, 1)  # noqa: E731
    return {**result, "rows": rows, "csv_mb": mb(size), "db_mb": mb(db_size), "bare_mb": mb(floor),
            "ratio": db_size / size, "import_rss_mb": round(child_rss, 1),
            "parts": [(name, mb(n)) for name, n in parts]}


def bare(data: bytes, path: Path) -> tuple[float, float]:
    timer = Timer()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE c (id INTEGER PRIMARY KEY, email TEXT UNIQUE, first TEXT, last TEXT, company TEXT, phone TEXT)")
    reader = csv.reader(io.StringIO(data.decode("utf-8")))
    next(reader)
    with conn:
        conn.executemany("INSERT INTO c (first, last, email, company, phone) VALUES (?,?,?,?,?)", reader)
    conn.close()
    return timer.stop()


_INSERT_TRIGGERS = tuple(INSERT_TRIGGERS)
"""The triggers an insert into contact fires; the reference does their work once for all rows instead."""


def same_end_state(data: bytes, path: Path) -> tuple[float, float]:
    """Bare sqlite3 into our schema, ending in our import's state (see the module docstring)."""
    open_database(path)  # our schema, untimed as for `ours`
    database.close()
    stamp = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    timer = Timer()
    conn = sqlite3.connect(path, isolation_level=None)
    for name, value in PRAGMAS.items():
        conn.execute(f"PRAGMA {name} = {value}")
    conn.execute("BEGIN IMMEDIATE")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contact' "
        "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'"
    ).fetchall()
    triggers = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN {_INSERT_TRIGGERS}"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    reader = csv.reader(io.StringIO(data.decode("utf-8")))
    next(reader)
    # The search text as SEARCH_TEXT_SQL makes it (first, last, email, company), joined by SQLite itself.
    conn.executemany(
        "INSERT INTO contact (first_name, last_name, email, company, phone, created_at, updated_at, status, "
        "invite_count, search_text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 'not_invited', 0, "
        "?1 || ' ' || ?2 || ' ' || ?3 || ' ' || ?4)",
        (row + [stamp] for row in reader),
    )
    conn.execute(
        "INSERT INTO contact_status_count (status, n) SELECT status, COUNT(*) FROM contact WHERE true "
        "GROUP BY status ON CONFLICT (status) DO UPDATE SET n = n + excluded.n"
    )
    for _, sql in triggers:
        conn.execute(sql)
    renumber_names(conn)  # ranks in name order, the index filled in rank order
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.close()
    return timer.stop()


def ours(data: bytes, path: Path) -> tuple[float, float, float]:
    """As `contacts import` does it: the import (timed until it returns, as a user feels it), then the search index
    filled by a detached process; also timed until the index is complete (wall seconds from the start)."""
    open_database(path)
    timer = Timer()
    report = csv_io.import_contacts(data, fill_later=True)
    elapsed = timer.stop()
    assert report.added == data.count(b"\n") - 1, report.skipped[:3]
    if report.search_pending and not search_fill.start_detached():
        search_fill.fill_now()  # could not start the process: fill here, still timed
    while search_fill.pending():
        time.sleep(0.01)
    indexed = time.perf_counter() - timer.wall
    database.close()
    return (*elapsed, indexed)


def _index_summary(conn: sqlite3.Connection) -> list:
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.held USING fts5vocab(main, {SEARCH_INDEX}, 'instance')")
    return conn.execute("SELECT v.term, COUNT(*), SUM(c.id), SUM(c.id * (v.offset + 1)) FROM temp.held AS v "
                        "JOIN contact AS c ON c.name_rank = v.doc GROUP BY v.term ORDER BY v.term").fetchall()


def _state(path: Path) -> list:
    """What the two imports must agree on (everything but timestamps and the audit log)."""
    conn = sqlite3.connect(path)
    try:
        return [
            conn.execute("SELECT id, email, first_name, last_name, company, phone, status, invite_count, "
                         "search_text FROM contact ORDER BY id").fetchall(),
            conn.execute("SELECT status, n FROM contact_status_count ORDER BY status").fetchall(),
            # The index holds no text (schema v8): what it holds, per term, read through its vocabulary, with
            # ranks turned into contact ids (rank values depend on the path; their order is the name order).
            conn.execute("SELECT id FROM contact ORDER BY name_rank").fetchall(),
            _index_summary(conn),
            conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall(),
        ]
    finally:
        conn.close()


def measure(rows: int, which: str, keep: Path | None = None) -> dict:
    """One side in this process (for `run_all.py`): wall and CPU seconds, on a fresh database in a temp folder (or
    at `keep`)."""
    data = make_csv(rows)
    run = {"bare": bare, "same": same_end_state, "ours": ours}[which]
    if keep is not None:
        seconds, cpu, *indexed = run(data, keep)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            seconds, cpu, *indexed = run(data, Path(tmp) / f"{which}.db")
    # `indexed`: ours only, the wall seconds until the search index was complete (the fill runs after the import)
    return {"seconds": seconds, "cpu_seconds": cpu, "indexed_seconds": indexed[0] if indexed else seconds}


def _run_side(which: str, rows: int, keep: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, str(rows), "--side", which, "--keep", str(keep)],
                         capture_output=True, text=True, check=False)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"the {which} side failed (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _each_in_a_child(flag: str, sizes: list[int]):
    """(size, result) for each size, each measured by this script in a fresh process (`flag SIZE`): its peak RSS
    is its own."""
    for rows in sizes:
        out = subprocess.run([sys.executable, __file__, flag, str(rows)], capture_output=True, text=True, check=True)
        yield rows, json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows", nargs="?", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side; medians are printed")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--keep", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rss", type=lambda text: [int(n) for n in text.split(",")],
                        help="only measure the peak RSS of importing files of these row counts (comma-separated)")
    parser.add_argument("--size", type=lambda text: [int(n) for n in text.split(",")],
                        help="only measure the database size after importing realistic files of these row counts")
    parser.add_argument("--size-one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--import-file", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rss-one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.import_file:  # the child of measure_rss
        print(json.dumps(import_file_child(*args.import_file)))
        return
    if args.rss_one:  # a fresh process per size, so RUSAGE_CHILDREN is that one import's
        print(json.dumps(measure_rss(args.rss_one)))
        return
    if args.size_one:
        print(json.dumps(measure_size(args.size_one)))
        return
    if args.size:
        print("Database size after `contacts import` of a realistic CSV (each import in a child process)")
        for rows, r in _each_in_a_child("--size-one", args.size):
            print(f"  {rows:>9,} rows: CSV {r['csv_mb']:6.1f} MB, database {r['db_mb']:7.1f} MB "
                  f"({r['ratio']:.2f}x the CSV; bare table {r['bare_mb']:.1f} MB), import {r['seconds']:.2f} s, "
                  f"peak RSS {r['import_rss_mb']:.0f} MB")
            print("      " + ", ".join(f"{name} {n}" for name, n in r["parts"]))
        return
    if args.rss:
        print("CSV import of a file on disk (each in a child process; peak RSS from getrusage(RUSAGE_CHILDREN))")
        for rows, r in _each_in_a_child("--rss-one", args.rss):
            print(f"  {rows:>9,} rows, {r['file_mb']:6.1f} MB file: peak RSS {r['import_rss_mb']:6.1f} MB, "
                  f"{r['seconds']:6.2f} s (CPU {r['cpu_seconds']:.2f} s)")
        return
    if args.side:  # one run in this fresh process
        result = measure(args.rows, args.side, args.keep)
        result["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(result))
        return

    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.repeat):
            for side in SIDES:  # interleaved, so a burst of load on the machine falls on all three alike
                path = Path(tmp) / f"{side}{n}.db"
                runs[side].append(_run_side(side, args.rows, path))
        same_state = _state(Path(tmp) / "same0.db") == _state(Path(tmp) / "ours0.db")
    t = {side: statistics.median(r["seconds"] for r in runs[side]) for side in SIDES}
    indexed = statistics.median(r["indexed_seconds"] for r in runs["ours"])
    cpu = {side: statistics.median(r["cpu_seconds"] for r in runs[side]) for side in SIDES}
    rss = {side: max(r["rss_mb"] for r in runs[side]) for side in SIDES}
    rows = args.rows
    print(f"CSV import, {rows:,} rows (medians of {args.repeat} runs, each in a fresh process; CPU seconds beside)")
    for side, label in (("bare", "bare sqlite3 executemany"), ("same", "bare sqlite3 to same end state"),
                        ("ours", "client-portal import")):
        runs_text = ", ".join(f"{r['seconds']:.2f}" for r in runs[side])
        print(f"  {label:32s} : {t[side]:6.2f} s  ({rows / t[side]:,.0f} rows/s)  CPU {cpu[side]:5.2f} s  "
              f"peak RSS {rss[side]:.0f} MB  [{runs_text}]")
    runs_text = ", ".join(f"{r['indexed_seconds']:.2f}" for r in runs["ours"])
    print(f"  {'client-portal, search indexed':32s} : {indexed:6.2f} s  (the import, then the background fill "
          f"until the search index is complete)  [{runs_text}]")
    for a, b, note in (("ours", "bare", "until it returns; the issue's goal: <= 3x"),
                       ("same", "bare", "what the end state itself costs")):
        label = f"ratio {a}/{b}"
        print(f"  {label:32s} : {t[a] / t[b]:6.2f}x  (CPU {cpu[a] / cpu[b]:.2f}x; {note})")
    print(f"  {'ratio indexed/bare':32s} : {indexed / t['bare']:6.2f}x  (until search is indexed)")
    print(f"  {'ratio indexed/same':32s} : {indexed / t['same']:6.2f}x  (the same end state: what our Python and "
          "the background fill add)")
    print(f"  same end state as ours           : {'yes' if same_state else 'NO: the reference is not comparable'}")


if __name__ == "__main__":
    main()
