"""A timeline of search keys through the real `client-portal` command: where a key's time goes.

    .venv/bin/python benchmarks/timeline.py 1000000 x z q

Each key is typed after `/` into a cleared search, as `terminal.py` types a query's first key, with the dashboard's
tracing on (`CLIENT_PORTAL_TRACE`, see `tui.reader.trace`). For each key this prints, in ms from the key written
to the pty: what the dashboard noted (typed, the query on the reading thread, the rows loaded, each frame painted,
the count) and the frame that showed the answer reaching the pty. Both sides stamp with `time.perf_counter`
(the same monotonic clock in every process on Linux).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _data import make_database  # noqa: E402
from _terminal import Terminal  # noqa: E402
from terminal import CLIENT, SIZE, _status_count, expected_answers, searched, shows  # noqa: E402


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    keys = sys.argv[2:] or ["x", "z"]
    rounds = int(os.environ.get("ROUNDS", "5"))
    db = make_database(size)
    answers = expected_answers(db, sorted(set(keys) | {""}))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "trace.txt"
        typed = []
        with Terminal([CLIENT, "--db", str(db)], *SIZE, env={"CLIENT_PORTAL_TRACE": str(log)}) as term:
            term.wait_until(shows(answers[""]), timeout=60)
            term.drain()
            for _ in range(rounds):
                for key in keys:
                    term.send("/")
                    term.wait_until(lambda lines: any("Clear search" in line for line in lines))
                    term.drain(0.1)
                    sent = term.send(key)
                    painted = term.wait_until(searched(key, answers[key]), timeout=30)
                    term.wait_until(lambda lines: _status_count(lines) == answers[key].count, timeout=60)
                    counted = term.wait_until(lambda lines: True)
                    typed.append((key, sent, painted))
                    term.drain(0.05)
                    term.send("\x1b")
                    term.wait_until(shows(answers[""]), timeout=30)
                    term.drain(0.1)
        events = []
        for line in log.read_text().splitlines():
            stamp, thread, event = line.split(" ", 2)
            events.append((float(stamp), thread, event))
    totals: dict[str, list[float]] = {}
    for index, (key, sent, painted) in enumerate(typed):
        stop = typed[index + 1][1] if index + 1 < len(typed) else float("inf")
        print(f"{key!r}: painted at {(painted - sent) * 1000:.1f} ms")
        totals.setdefault(key, []).append((painted - sent) * 1000)
        for stamp, thread, event in events:
            if sent <= stamp < min(stop, painted + 0.4):
                print(f"   {(stamp - sent) * 1000:8.1f}  {thread[:22]:22} {event}")
    for key, values in totals.items():
        print(f"{key!r}: median {statistics.median(values):.1f} ms over {len(values)}: "
              + ", ".join(f"{v:.1f}" for v in values))
    print("phases, median ms (key -> typed, -> query start, query, -> rows loaded, -> frame painted, paint, "
          "-> frame in the pty):")
    for key in totals:
        phases = [_phases(events, sent, painted, stop) for (k, sent, painted), stop
                  in zip(typed, [t[1] for t in typed[1:]] + [float("inf")]) if k == key]
        phases = [p for p in phases if p is not None]
        if phases:
            print(f"  {key!r}: " + ", ".join(f"{name} {statistics.median(p[name] for p in phases):.1f}"
                                          for name in phases[0]))


def _phases(events, sent: float, painted: float, stop: float) -> dict | None:
    """One key's phases from its events: None if one is missing (a frame painted before the rows, say)."""
    mine = [(stamp, event) for stamp, _, event in events if sent <= stamp < min(stop, painted + 0.4)]

    def first(name: str, after: float = 0.0) -> float | None:
        return next((stamp for stamp, event in mine if event.split(" '")[0] == name and stamp >= after), None)

    typed_at, start, end = first("typed"), first("start load_window"), first("end load_window")
    loaded = first("window loaded")
    if None in (typed_at, start, end, loaded):
        return None
    paint, done = first("paint", loaded), first("painted", loaded)
    if paint is None or done is None:
        return None
    return {"typed": (typed_at - sent) * 1000, "start": (start - typed_at) * 1000, "query": (end - start) * 1000,
            "loaded": (loaded - end) * 1000, "paint start": (paint - loaded) * 1000, "paint": (done - paint) * 1000,
            "pty": (painted - done) * 1000}


if __name__ == "__main__":
    main()
