"""`make bench`: every benchmark the issue names, each against the fastest way to do the same work, in one table.

    .venv/bin/python benchmarks/run_all.py            # everything, under five minutes on two cores
    .venv/bin/python benchmarks/run_all.py --quick    # the small sizes only (a smoke run)

Every measurement runs in a fresh process (`run_all.py --child NAME SIZE`), so its peak RSS is its own and the
start-up figures include launching Python and importing Textual. Columns:

- ours / reference: seconds or milliseconds as the row says (lower is better), or messages per second for
  bulk mail and confirmations per second for the portal (higher is better; the ratio is then reference time /
  our time, so 1.0 is "as fast as raw");
- ratio: ours / reference for times (1.0 = as fast as the reference);
- peak RSS: the child process's peak resident memory, ours / reference, in MB.

Nothing here asserts a timing; the goal column is for people to read.
"""

from __future__ import annotations

import time

T0 = time.time()  # noqa: E402 - the child's start-up clock starts before anything heavy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(name: str, size: int, launched: float) -> dict:
    """One measurement in this (fresh) process."""
    if name in ("start", "start-search"):
        import dashboard_start

        return dashboard_start.measure_ours(size, launched, search=name == "start-search")
    if name == "floor":
        import dashboard_start

        return dashboard_start.measure_floor(launched)
    if name == "stats":
        import queries

        return queries.measure_stats(size)
    if name in ("bulk-ours", "bulk-raw"):
        import bulk_send

        return bulk_send.measure(size, name.removeprefix("bulk-"))
    if name in ("import-ours", "import-bare", "import-same"):
        import import_csv

        return import_csv.measure(size, name.removeprefix("import-"))
    if name == "portal":
        import portal_confirm

        return portal_confirm.measure(size)
    if name.startswith("pg-"):
        import pg

        if name.startswith("pg-outbox-floor-"):  # pg-outbox-floor-K: K senders with no database, the ceiling
            return pg.measure_outbox_floor(size, int(name.rsplit("-", 1)[1]))
        if name.startswith("pg-outbox-"):  # pg-outbox-K: K senders at once
            return pg.measure_outbox(size, int(name.rsplit("-", 1)[1]))
        if name == "pg-copy-search":  # the copy back to SQLite only up to 100k: at 1M it adds minutes
            return pg.measure_copy(size, back=size <= 100_000, search=True)
        return {"pg-copy": pg.measure_copy, "pg-copy-bare": pg.measure_copy_bare,
                "pg-search": pg.measure_search, "pg-dashboard": pg.measure_dashboard}[name](size)
    if name == "data":
        from _data import make_database

        make_database(size)
        return {}
    if name == "import-rss":
        import import_csv

        return import_csv.measure_rss(size)
    if name == "import-size":
        import import_csv

        return import_csv.measure_size(size)
    raise SystemExit(f"unknown child {name}")


def run_child(name: str, size: int) -> dict:
    launched = time.time()
    out = subprocess.run([sys.executable, __file__, "--child", name, str(size), repr(launched)],
                         capture_output=True, text=True, check=False, cwd=HERE.parent)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"benchmark {name} {size} failed (exit {out.returncode})")
    if out.stderr.strip():
        sys.stderr.write(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []

    def add(self, measure: str, size: int, ours: str, ref: str, ratio: float, goal: str, rss: str) -> None:
        self.rows.append((measure, f"{size:,}", ours, ref, f"{ratio:.2f}", goal, rss))
        print("  " + " | ".join(self.rows[-1]), file=sys.stderr, flush=True)

    def print(self) -> None:
        head = ("measure", "size", "ours", "reference", "ratio", "goal", "peak RSS MB (ours/ref)")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(len(head))]
        line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
        print(line(head))
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in self.rows:
            print(line(row))


SECTIONS = ("start", "search", "stats", "bulk", "import", "portal")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--mail", type=lambda text: [int(n) for n in text.split(",")], default=[1_000, 10_000],
                        help="bulk mail batch sizes (default 1000,10000: on two slow cores raw smtplib sends "
                             "~180 msg/s, so the issue's 5000,50000 take about twelve minutes on their own)")
    parser.add_argument("--only", type=lambda text: set(text.split(",")), default=set(SECTIONS),
                        help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})")
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite",
                        help="postgres: the PostgreSQL rows (db copy, search, outbox senders) on a server of their "
                             "own (benchmarks/pg.py); --only then takes pg-copy,pg-search,pg-outbox,pg-dashboard")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, size, launched = args.child
        result = child(name, int(size), float(launched))
        result.setdefault("rss_mb", round(rss_mb(), 1))
        print(json.dumps(result))
        return

    from _data import make_database

    started = time.perf_counter()
    if args.engine == "postgres":
        import pg

        only = args.only if args.only != set(SECTIONS) else set(pg.PG_SECTIONS)
        table = Table()
        print(f"PostgreSQL benchmarks ({'quick' if args.quick else 'full'}); rows as they finish:", file=sys.stderr)
        pg.run_sections(table, run_child, args.quick, only)
        print()
        table.print()
        print(f"\n{len(table.rows)} measurements in {time.perf_counter() - started:.0f} s "
              f"(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
        return
    starts = [10_000] if args.quick else [10_000, 100_000, 1_000_000]
    searches = [10_000] if args.quick else [10_000, 100_000, 1_000_000]
    mails = [500] if args.quick else args.mail
    imports = 10_000 if args.quick else 100_000
    for size in sorted(set(starts + searches)) if args.only & {"start", "search"} else []:
        # Cached per user; built before any timing, in a child: a process's peak RSS carries over into the children
        # it starts (Linux keeps it across fork and exec), so a build here showed in every later row's RSS.
        run_child("data", size)
    table = Table()
    print(f"benchmarks ({'quick' if args.quick else 'full'}); rows as they finish:", file=sys.stderr)

    # Dashboard start and search keys through the real command line in a pseudo-terminal, timed to the painted
    # frame and checked against answers computed from the data (terminal.py). Floors from the same run: a bare
    # Textual app launched the same way, and the same SQL on a bare sqlite3 connection.
    # Our modules' bytecode first, as an installed copy has it (pip compiles a wheel's modules; Textual's, which
    # the floor imports, were compiled so): an editable checkout run with PYTHONDONTWRITEBYTECODE=1 compiled
    # every module of ours from source at every launch, about 80 ms that no user's start pays.
    import compileall

    for package in ("models", "mail", "tui", "portal"):
        compileall.compile_dir(HERE.parent / package, quiet=1)
    import terminal

    for size in starts if "start" in args.only else []:
        r = terminal.measure_start(make_database(size))
        table.add("dashboard start (launch to first row painted)", size, f"{r['ours_s']:.3f} s",
                  f"{r['floor_s']:.3f} s", r["ours_s"] / r["floor_s"], "<= 1.3x at 1M", "-")
    for size in searches if "search" in args.only else []:
        keys = terminal.measure_search(make_database(size))["keys"]
        print(f"  search keys at {size:,} (typed: ours / bare SQL, ms): "
              + ", ".join(f"{k['typed']!r} {k['ms']:.1f}/{k['reference_ms']:.1f}" for k in keys), file=sys.stderr)
        ms, refs = [k["ms"] for k in keys], [k["reference_ms"] for k in keys]
        written = statistics.median(k["bytes"] for k in keys) / 1024
        table.add(f"search key to painted frame, median (results checked; {written:.1f} kB written a key)", size,
                  f"{statistics.median(ms):.1f} ms",
                  f"{statistics.median(refs):.1f} ms", statistics.median(ms) / max(statistics.median(refs), 0.01),
                  "<= 16 ms at 1M", "-")
        worst = max(keys, key=lambda k: k["ms"])
        table.add(f"search key to painted frame, worst ({worst['typed']!r})", size, f"{worst['ms']:.1f} ms",
                  f"{worst['reference_ms']:.1f} ms", worst["ms"] / max(worst["reference_ms"], 0.01),
                  "<= 50 ms at 1M", "-")

    # Stats header: everything the header reads, against the bare COUNT queries.
    stats_size = 10_000 if args.quick else 1_000_000
    if "stats" in args.only:
        r = run_child("stats", stats_size)
        table.add("stats header refresh", stats_size, f"{r['ours_ms']:.1f} ms", f"{r['bare_ms']:.1f} ms",
                  r["ours_ms"] / r["bare_ms"], "< 10 ms (ref: the same SQL, bare)", f"{r['rss_mb']:.0f}/-")

    # Bulk login mail: our outbox sender against raw smtplib on one connection to the same aiosmtpd sink.
    for n in mails if "bulk" in args.only else []:
        raw = run_child("bulk-raw", n)
        ours = run_child("bulk-ours", n)
        table.add("bulk login email (msg/s; ratio = raw time / ours)", n, f"{n / ours['seconds']:.0f}/s",
                  f"{n / raw['seconds']:.0f}/s", raw["seconds"] / ours["seconds"], ">= 0.8, flat RSS",
                  f"{ours['send_rss_mb']:.0f}/{raw['send_rss_mb']:.0f}, "
                  f"added by the send {ours['send_growth_mb']:.1f}/{raw['send_growth_mb']:.1f}")

    # CSV import: `contacts import` against executemany into a bare table.
    if "import" in args.only:
        bare = run_child("import-bare", imports)
        ours = run_child("import-ours", imports)
        table.add("CSV import (until it returns)", imports, f"{ours['seconds']:.2f} s", f"{bare['seconds']:.2f} s",
                  ours["seconds"] / bare["seconds"], "<= 3x", f"{ours['rss_mb']:.0f}/{bare['rss_mb']:.0f}")
        # The search index is filled after the import returns (a detached process): nothing hidden, the time
        # until it is complete.
        table.add("CSV import -> search index complete", imports, f"{ours['indexed_seconds']:.2f} s",
                  f"{bare['seconds']:.2f} s", ours["indexed_seconds"] / bare["seconds"], "-",
                  f"{ours['rss_mb']:.0f}/{bare['rss_mb']:.0f}")
        # The same end state written with bare sqlite3 (our schema: search text, counts, trigram index, indexes):
        # how much of the gap is the work itself rather than our Python.
        same = run_child("import-same", imports)
        table.add("CSV import -> index complete vs bare sqlite3 to the same end state", imports,
                  f"{ours['indexed_seconds']:.2f} s", f"{same['seconds']:.2f} s",
                  ours["indexed_seconds"] / same["seconds"], "-",
                  f"{ours['rss_mb']:.0f}/{same['rss_mb']:.0f}")
        # Memory of `contacts import FILE` itself: the file written to disk first, the import run in a process of
        # its own, its peak RSS from getrusage(RUSAGE_CHILDREN); the reference column is the file's size.
        for size in [10_000] if args.quick else [100_000, 1_000_000]:
            r = run_child("import-rss", size)
            table.add("CSV import from a file: peak RSS (ref: file size)", size, f"{r['import_rss_mb']:.0f} MB",
                      f"{r['file_mb']:.0f} MB", r["import_rss_mb"] / r["file_mb"], "< 200 MB at 1M, flat",
                      f"{r['import_rss_mb']:.0f}/-, {r['seconds']:.1f} s, CPU {r['cpu_seconds']:.1f} s")

        # Size on disk after `contacts import` of a realistic CSV (real name frequencies and domains); the
        # reference column is the CSV's size, the goal the issue's. The bare table is the same rows with a UNIQUE
        # email only.
        for size in [10_000] if args.quick else [10_000, 100_000, 1_000_000]:
            r = run_child("import-size", size)
            table.add(f"database size after CSV import (ref: CSV; bare table {r['bare_mb']:.0f} MB)", size,
                      f"{r['db_mb']:.0f} MB", f"{r['csv_mb']:.0f} MB", r["ratio"], "<= 4x at 1M",
                      f"{r['import_rss_mb']:.0f}/-, {r['seconds']:.1f} s")

    # Portal confirmations: POST /login/<token> to redeemed, 50 clients at once, our `client-portal serve` against
    # a bare Starlette app doing the same single-row UPDATE; both on uvicorn, each on a copy of one database.
    if "portal" in args.only:
        tokens = 500 if args.quick else 2_000
        r = run_child("portal", tokens)
        ours, bare = r["ours"], r["bare"]
        rss = f"{ours['server_rss_mb']:.0f}/{bare['server_rss_mb']:.0f} (servers)"
        table.add(f"portal confirmations (POST -> redeemed/s, {r['clients']} clients; ratio = ours / bare)", tokens,
                  f"{ours['per_second']:.0f}/s", f"{bare['per_second']:.0f}/s", r["ratio"], ">= 0.7", rss)
        table.add(f"portal confirmation p99 latency ({r['clients']} clients)", tokens, f"{ours['p99_ms']:.1f} ms",
                  f"{bare['p99_ms']:.1f} ms", ours["p99_ms"] / bare["p99_ms"], "< 100 ms", rss)

    print()
    table.print()
    print(f"\n{len(table.rows)} measurements in {time.perf_counter() - started:.0f} s "
          f"(Python {sys.version.split()[0]}, SQLite {__import__('sqlite3').sqlite_version}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
