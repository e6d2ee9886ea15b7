"""Start-up and search keys as a user feels them: the real `client-portal` command in a real pseudo-terminal.

- start: from launching `client-portal --db FILE` to the frame that shows the first contact in name order; the
  floor is a bare Textual app (an empty `DataTable` with our headings) launched the same way, to its first frame;
- search: `/`, then each key of the worst kinds of query (one rare letter, two letters, a common mail domain, a
  company's name, two words, a miss), from the key written to the pty to the frame whose table shows the first
  rows of the right answer (the moment that frame's bytes reach the pty; `_terminal` explains why not the
  moment the screen model has digested them), with the bytes written up to that frame; the floor is the same
  SQL our search ran for that text, on a bare sqlite3 connection;
- every answer is checked: the rows on screen must be the first rows of the answer computed independently from the
  data (a scan in Python over what bare SQL returns in name order), and the count the status line settles on must
  equal the number of matches. A wrong or missing answer fails the benchmark.

Run alone: `.venv/bin/python benchmarks/terminal.py 100000`.
"""

from __future__ import annotations

import re
import sqlite3
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _data import make_database  # noqa: E402
from _terminal import Terminal  # noqa: E402

SIZE = (120, 40)
QUERIES = ("x", "jo", "gmail", "{company}", "mary smith", "zzqx")
"""One rare letter, two letters, the commonest mail domain, the largest company (its first word, found in the
data), two words, a miss (every candidate read)."""
SHOWN = 5
"""How many of the first rows of an answer are checked on screen."""
CLIENT = str(Path(sys.executable).with_name("client-portal"))
FLOOR_APP = '''
from textual.app import App
from textual.widgets import DataTable

class Floor(App):
    def compose(self):
        yield DataTable()
    def on_mount(self):
        self.query_one(DataTable).add_columns("Name", "Email", "Status", "Invited", "Last login")

Floor().run()
'''

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class Answer:
    """What a search must show: how many contacts match, and the first few in name order."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[str] = []

    def __repr__(self) -> str:
        return f"Answer({self.count}, {self.first})"


def expected_answers(db: Path, texts: list[str]) -> dict[str, Answer]:
    """Each text's answer, from one scan of the contacts in name order with bare SQL and Python's `in`: every word
    must occur in name, email or company, case folded for ASCII letters only (as SQLite's LIKE does)."""
    answers = {text: Answer() for text in texts}
    words = {text: [w.translate(_ASCII_LOWER) for w in text.split()] for text in texts}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = conn.execute("SELECT first_name, last_name, email, company FROM contact "
                        "ORDER BY last_name, first_name, id")
    for first, last, email, company in rows:
        haystack = f"{first} {last} {email} {company}".translate(_ASCII_LOWER)
        for text, parts in words.items():
            if all(part in haystack for part in parts):
                answer = answers[text]
                answer.count += 1
                if len(answer.first) < SHOWN:
                    answer.first.append(email)
    conn.close()
    return answers


def _table_rows(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if "Name" in line and "Email" in line and "Last login" in line:
            return lines[index + 1:]
    return []


def shows(answer: Answer) -> "callable":
    """A screen test: the table's first rows are the answer's first rows (the email column, up to 24 characters)."""
    def condition(lines: list[str]) -> bool:
        rows = _table_rows(lines)
        if answer.count == 0:
            return any("No contact matches" in line for line in lines)
        if len(rows) < len(answer.first):
            return False
        return all(email[:24] in row for email, row in zip(answer.first, rows))
    return condition


def searched(prefix: str, answer: Answer) -> "callable":
    """The frame after a key: the search box shows `prefix`, the table the answer's first rows, and the status line
    the answer's count or "counting…" (never the previous text's count)."""
    rows_right = shows(answer)

    def condition(lines: list[str]) -> bool:
        box = next((line for line in lines if "All statuses" in line or "statuses" in line), "")
        if not box.lstrip().startswith(prefix) or not rows_right(lines):
            return False
        counting = any("counting" in line for line in lines)
        return counting or _status_count(lines) == answer.count

    return condition


def _status_count(lines: list[str]) -> int | None:
    for line in lines:
        if "counting" in line:
            return None
        if "No contact matches" in line:
            return 0
        match = re.match(r"\s*[\d,]+–[\d,]+ of ([\d,]+)", line)
        if match:
            return int(match.group(1).replace(",", ""))
    return None


def measure_start(db: Path, runs: int = 3) -> dict:
    """Launch → the first contact painted, for ours; launch → the first frame, for the floor (medians)."""
    first = expected_answers(db, [""])[""]
    ours, floor = [], []
    for _ in range(runs):
        with Terminal([CLIENT, "--db", str(db)], *SIZE) as term:
            painted = term.wait_until(shows(first), timeout=60)
            ours.append(painted - term.launched)
        with Terminal([sys.executable, "-c", FLOOR_APP], *SIZE) as term:
            painted = term.wait_until(lambda lines: any("Last login" in line for line in lines), timeout=60)
            floor.append(painted - term.launched)
    return {"ours_s": statistics.median(ours), "floor_s": statistics.median(floor), "ours_runs": ours,
            "floor_runs": floor}


def measure_search(db: Path, target: str | None = None) -> dict:
    """Every prefix of every query typed one key at a time, each timed to its painted frame and checked.

    `target`: the database the dashboard opens, when not `db` itself (a PostgreSQL URL holding a `db copy` of it);
    the answers and the bare-SQL floor still come from `db`."""
    from dashboard_start import reference_ms

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    largest = conn.execute("SELECT company FROM contact WHERE company <> '' GROUP BY company "
                           "ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]
    conn.close()
    queries = [q.format(company=largest.split()[0].lower()) for q in QUERIES]
    typed = [q[:i] for q in queries for i in range(1, len(q) + 1)]
    answers = expected_answers(db, sorted(set(typed) | {""}))
    keys: list[dict] = []
    with Terminal([CLIENT, "--db", target or str(db)], *SIZE) as term:
        term.wait_until(shows(answers[""]), timeout=60)
        term.drain()
        for query in queries:
            term.send("/")
            term.wait_until(lambda lines: any("Clear search" in line for line in lines))
            term.drain(0.1)
            for i in range(1, len(query) + 1):
                prefix = query[:i]
                sent = term.send(query[i - 1])
                painted = term.wait_until(searched(prefix, answers[prefix]), timeout=30)
                written = term.bytes_waited
                # The count may come a moment later (a one-letter search counts in the background): it must come,
                # and be right.
                want = answers[prefix].count
                try:
                    term.wait_until(lambda lines: _status_count(lines) == want, timeout=60)
                except TimeoutError:
                    raise SystemExit(f"wrong count for {prefix!r}: the dashboard says "
                                     f"{_status_count(term.screen.display)}, the data has {want}") from None
                shown = want
                keys.append({"typed": prefix, "ms": (painted - sent) * 1000, "matches": shown, "bytes": written})
                term.drain(0.05)
            term.send("\x1b")  # escape clears the search
            term.wait_until(shows(answers[""]), timeout=30)
            term.drain(0.1)
    for key in keys:
        key["reference_ms"] = reference_ms(db, key["typed"])
    return {"keys": keys}


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    db = make_database(size)
    start = measure_start(db)
    print(f"start: ours {start['ours_s']:.3f} s, floor {start['floor_s']:.3f} s, "
          f"ratio {start['ours_s'] / start['floor_s']:.2f}")
    result = measure_search(db)
    for key in result["keys"]:
        print(f"  {key['typed']!r:14} {key['ms']:8.1f} ms  (bare SQL {key['reference_ms']:6.1f} ms)  "
              f"{key['matches']:>9,} matches  {key['bytes']:>6,} bytes written")
    ms = [k["ms"] for k in result["keys"]]
    print(f"search: median {statistics.median(ms):.1f} ms, worst {max(ms):.1f} ms, "
          f"median {statistics.median(k['bytes'] for k in result['keys']):,.0f} bytes a key")


if __name__ == "__main__":
    main()
