"""Bulk login emails: our outbox sender against raw `smtplib` on one connection, to a local aiosmtpd sink.

Both sides send the same N messages, each rendered from the login template and built with
`mail.message.build_message`; raw `smtplib` does only that over one connection, while our sender also claims
rows, issues a magic link per message, marks each row sent and reports progress. The sink runs in another
process (so its event loop does not share our GIL) and counts what it accepted. The goal: at least 0.8 of raw,
and memory that stays flat as the batch grows.

Every measurement runs in a fresh process: another process first builds its database of N contacts (and, for
ours, queues the batch); the measuring one opens it, warms up (imports, the template, the sink's first
connection), prepares its input untimed (the reference: its N contact rows and Message-IDs in a list), and only
then times one send. Memory is what the send itself adds: the process's peak RSS during the send minus its RSS
when the send starts. Neither the set-up (nor the memory it freed, which the send could reuse unseen), nor the
reference's list, nor the sink (another process) counts against either side. SQLite's own heap (its page
cache) is also shown on its own, and `--tracemalloc` adds each side's Python heap. Rounds alternate which side
goes first; the ratio is the median of each round's raw time / our time.

Run by hand: `.venv/bin/python benchmarks/bulk_send.py [sizes] [--rounds 3] [--prebuilt] [--tracemalloc]`, sizes
comma-separated (default 5000), e.g. `1000,5000,10000`. Prints the figures; it asserts only that every message
arrived. `run_all.py` calls `measure` in a child process of its own.
"""

from __future__ import annotations

import argparse
import gc
import json
import secrets
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mail.config import MailConfig
from mail.message import build_message, recipient_address, sender_address
from mail.outbox import OutboxSender
from mail.templates import Renderer
from models import clock, outbox
from models.contacts import ContactRow, to_row
from models.db import database, open_database
from models.domains import portal_url
from models.entities import STATUS_INVITED, Contact, Domain
from models.links import LINK_PATH

HOST = "127.0.0.1"
WARM_UP = 200
"""Messages raw smtplib sends before anything is measured: imports, the compiled template, the sink's first
connection."""
SIDES = ("raw", "ours", "prebuilt")


# --- the sink (runs in its own process) ------------------------------------------------------------------------


def run_sink(port: int) -> None:
    """Accept and count messages until stdin closes, then print the count."""
    from aiosmtpd.controller import Controller

    class Counter:
        count = 0

        async def handle_DATA(self, server, session, envelope):
            Counter.count += 1
            return "250 OK"

    controller = Controller(Counter(), hostname=HOST, port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()
    print(Counter.count, flush=True)


class Sink:
    """The sink process: started on a free port, asked for its count at the end."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            self.port = sock.getsockname()[1]
        self.proc = subprocess.Popen([sys.executable, __file__, "--sink", str(self.port)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def count(self) -> int:
        out, _ = self.proc.communicate("", timeout=30)
        return int(out.strip())


# --- the two senders -------------------------------------------------------------------------------------------


def setup(path: Path, n: int) -> list[int]:
    """A database with n invited contacts; returns their ids."""
    open_database(path)
    now = clock.now()
    with database.atomic():
        Domain.create(name="portal.example.com", is_default=True, created_at=now)
        rows = [{"email": f"client{i}@example.com", "first_name": f"First{i}", "last_name": f"Last{i}",
                 "company": "Acme", "created_at": now, "updated_at": now, "status": STATUS_INVITED,
                 "invited_at": now, "invite_count": 1}
                for i in range(n)]
        for start in range(0, n, 500):
            Contact.insert_many(rows[start : start + 500]).execute()
    return [c.id for c in Contact.select(Contact.id).order_by(Contact.id)]


def _config(port: int) -> MailConfig:
    return MailConfig(host=HOST, port=port, user=None, password=None, security="none", mail_from=None,
                      timeout=30, maildir=Path("/nonexistent"))


def reference_rows(n: int) -> list[tuple[ContactRow, str]]:
    """The reference's input: n contacts and a Message-ID for each, read before its clock starts."""
    domain = "portal.example.com"
    return [(to_row(c), outbox.new_message_id(domain)) for c in Contact.select().order_by(Contact.id).limit(n)]


def raw_smtplib(port: int, rows: list[tuple[ContactRow, str]], prebuilt: bool = False) -> float:
    """Seconds for raw smtplib to send a message to each row, built the way ours are (inside the loop unless
    `prebuilt`, which times the sending alone)."""
    renderer = Renderer("login")
    sender = sender_address(_config(port))
    base = portal_url(LINK_PATH)
    expires = clock.now()

    def build(contact, message_id):
        rendered = renderer.render(contact, base + secrets.token_urlsafe(32), expires)
        return build_message(rendered, sender=sender, to=recipient_address(contact.email, contact.full_name),
                             message_id=message_id, date=clock.now(), kind="login")

    ready = [build(c, m) for c, m in rows] if prebuilt else None
    start = time.perf_counter()
    smtp = smtplib.SMTP(HOST, port, timeout=30)
    for i, (contact, message_id) in enumerate(rows):
        msg = ready[i] if prebuilt else build(contact, message_id)
        smtp.send_message(msg, from_addr=sender.addr_spec, to_addrs=[contact.email])
    smtp.quit()
    return time.perf_counter() - start


def ours(port: int, batch: str) -> tuple[float, int, int]:
    """Seconds for our sender to send a queued batch; also how many it sent and over how many connections."""
    sender = OutboxSender(_config(port), rate=0)
    start = time.perf_counter()
    # A progress callback as the dashboard's and the CLI's: it looks at each report and keeps nothing.
    summary = sender.send(batch, progress=lambda p: p.done)
    elapsed = time.perf_counter() - start
    assert summary.failed == [] and summary.error == "", summary
    return elapsed, summary.sent, sender.connections


# --- one measurement per process -------------------------------------------------------------------------------


def _reset_peak() -> None:
    """Start the process's peak RSS (VmHWM) afresh (Linux >= 4.0), so it measures the sending alone."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class _SQLiteHeap:
    """SQLite's own heap (its page cache, statements), which neither side's Python code allocates: read through
    `sqlite3_memory_used` / `sqlite3_memory_highwater` of the shared library `sqlite3` is linked to. Figures
    are None where that library cannot be found (a statically linked `sqlite3`)."""

    def __init__(self) -> None:
        import ctypes
        import ctypes.util

        try:
            lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
            self._used, self._highwater = lib.sqlite3_memory_used, lib.sqlite3_memory_highwater
        except (OSError, AttributeError):
            self._used = self._highwater = None
            return
        self._used.restype = self._highwater.restype = ctypes.c_int64
        self._highwater.argtypes = [ctypes.c_int]

    def start(self) -> float | None:
        """SQLite's heap now (MB), its high-water mark reset to it."""
        if self._used is None:
            return None
        self._highwater(1)
        return self._used() / 2**20

    def peak(self) -> float | None:
        return None if self._highwater is None else self._highwater(0) / 2**20


def _build_database(path: Path, n: int, queue: bool) -> str:
    """Set up the database in a process of its own (returns the queued batch, or ''), so that nothing the set-up
    allocated and freed is lying around for the measured send to reuse: its growth would look smaller the more
    contacts there were."""
    command = [sys.executable, __file__, "--build", str(path), str(n)] + (["--queue"] if queue else [])
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"building the database of {n} contacts failed (exit {out.returncode})")
    return out.stdout.strip().splitlines()[-1] if queue else ""


def measure(n: int, which: str, traced: bool = False) -> dict:
    """One side sending n login emails in this process (call it in a fresh one: `run_all.py`, or `main` below).

    Args:
        n: Messages to send.
        which: `raw`, `ours` or `prebuilt`.
        traced: Also trace Python's allocations during the send (`tracemalloc`: precise, but slows it down, so
            the times of a traced run mean nothing).

    Returns:
        `seconds` of the send, `cpu_seconds` this process spent in it, `start_rss_mb` when it started,
        `send_rss_mb` the peak RSS during it, and `send_growth_mb` the difference: what the send itself added
        (the database is built in another process first). `sqlite_growth_mb`: how far SQLite's own heap rose
        above where it was when the send started (None if it cannot be read). Traced, also `traced_peak_mb` (the
        most the send's own Python allocations reached) and `traced_held_mb` (what they still held at the end).
    """
    assert which in SIDES, which
    sqlite_heap = _SQLiteHeap()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        batch = _build_database(path, n, queue=which == "ours")
        open_database(path)
        sink = Sink()
        try:
            raw_smtplib(sink.port, reference_rows(min(WARM_UP, n)))
            if which == "ours":
                import yagmail  # noqa: F401 - its import is a warm-up too, as smtplib's was for the reference
            else:
                rows = reference_rows(n)
            gc.collect()
            start_rss = _status_mb("VmRSS")
            _reset_peak()
            sqlite_start = sqlite_heap.start()
            if traced:
                tracemalloc.start()
            cpu = time.process_time()
            if which == "ours":
                seconds, sent, connections = ours(sink.port, batch)
                assert sent == n and connections == 1, (sent, connections)
            else:
                seconds = raw_smtplib(sink.port, rows, prebuilt=which == "prebuilt")
            cpu = time.process_time() - cpu
            peak = max(_status_mb("VmHWM"), start_rss)
            sqlite_peak = sqlite_heap.peak()
            if traced:
                held, traced_peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
        finally:
            received = sink.count()
        database.close()
    assert received == min(WARM_UP, n) + n, received
    result = {"seconds": seconds, "cpu_seconds": cpu, "start_rss_mb": start_rss, "send_rss_mb": peak,
              "send_growth_mb": peak - start_rss,
              "sqlite_growth_mb": None if sqlite_start is None else sqlite_peak - sqlite_start}
    if traced:
        result.update(traced_peak_mb=traced_peak / 2**20, traced_held_mb=held / 2**20)
    return result


def _in_child(which: str, n: int, traced: bool = False) -> dict:
    command = [sys.executable, __file__, "--child", which, str(n)] + (["--traced"] if traced else [])
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"{which} {n} failed (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(values) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="?", default=[5000], type=lambda text: [int(n) for n in text.split(",")],
                        help="messages per run, comma-separated (default 5000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side per size (default 3)")
    parser.add_argument("--prebuilt", action="store_true",
                        help="also time raw smtplib sending messages built beforehand (the sending alone)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also run each side once more per size with tracemalloc: the send's peak Python heap")
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--queue", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink)
        return
    if args.build:
        path, n = args.build
        ids = setup(Path(path), int(n))
        print(outbox.queue_login_emails(ids).batch if args.queue else "", flush=True)
        database.close()
        return
    if args.child:
        which, n = args.child
        print(json.dumps(measure(int(n), which, traced=args.traced)))
        return

    sides = ["raw", "ours"] + (["prebuilt"] if args.prebuilt else [])
    print("each figure from a fresh process; memory = peak RSS during the send - RSS when it started")
    print("size     round  side       msg/s   CPU ms/msg  RSS start  growth MB  of which SQLite")
    summary = []
    for n in args.sizes:
        runs: dict[str, list[dict]] = {side: [] for side in sides}
        for r in range(args.rounds):
            for side in sides if r % 2 == 0 else [sides[1], sides[0], *sides[2:]]:
                result = _in_child(side, n)
                if side == "prebuilt":  # its messages are built before its clock starts, after the memory baseline
                    result.update(send_growth_mb=None, sqlite_growth_mb=None)
                runs[side].append(result)
                print(f"{n:<8} {r + 1:>5}  {side:<8} {n / result['seconds']:7.0f}   "
                      f"{result['cpu_seconds'] / n * 1000:8.2f}   {result['start_rss_mb']:7.1f}  "
                      f"{_mb(result['send_growth_mb']):>8}  {_mb(result['sqlite_growth_mb']):>14}", flush=True)
        ratio = statistics.median(a["seconds"] / b["seconds"] for a, b in zip(runs["raw"], runs["ours"]))
        extra = statistics.median((b["seconds"] - a["seconds"]) / n for a, b in zip(runs["raw"], runs["ours"]))
        med = {side: {key: _median(r[key] for r in results) for key in results[0]}
               for side, results in runs.items()}
        if args.tracemalloc:
            for side in ("raw", "ours"):
                traced = _in_child(side, n, traced=True)
                med[side].update(traced_peak_mb=traced["traced_peak_mb"], traced_held_mb=traced["traced_held_mb"])
                print(f"{n:<8} traced {side:<8} Python heap during the send: peak {traced['traced_peak_mb']:.2f} MB,"
                      f" held at the end {traced['traced_held_mb']:.2f} MB", flush=True)
        summary.append((n, med, ratio, extra))
    print()
    print("median per size     raw msg/s   ours msg/s   ours/raw   extra ms/msg   CPU ms/msg raw/ours"
          "   send growth MB raw/ours   of which SQLite   peak RSS MB raw/ours")
    for n, med, ratio, extra in summary:
        raw, mine = med["raw"], med["ours"]
        print(f"{n:>15,}  {n / raw['seconds']:10.0f}  {n / mine['seconds']:11.0f}   {ratio:8.2f}   "
              f"{extra * 1000:12.2f}   {raw['cpu_seconds'] / n * 1000:9.2f} / {mine['cpu_seconds'] / n * 1000:.2f}"
              f"   {raw['send_growth_mb']:14.1f} / {mine['send_growth_mb']:.1f}"
              f"   {_mb(raw['sqlite_growth_mb']):>9} / {_mb(mine['sqlite_growth_mb'])}"
              f"   {raw['send_rss_mb']:13.1f} / {mine['send_rss_mb']:.1f}")
        if "traced_peak_mb" in mine:
            print(f"{'':>15}  traced Python heap peak MB raw/ours: {raw['traced_peak_mb']:.2f} / "
                  f"{mine['traced_peak_mb']:.2f}; held at the end: {raw['traced_held_mb']:.2f} / "
                  f"{mine['traced_held_mb']:.2f}")
        if "prebuilt" in med:
            print(f"{'':>15}  prebuilt (sending only): {n / med['prebuilt']['seconds']:.0f} msg/s")
    if len(summary) > 1:
        # The two largest sizes: below a few thousand emails SQLite's page cache is still filling up to its cap.
        (n0, first, *_), (n1, last, *_) = summary[-2], summary[-1]
        per = {side: (last[side]["send_growth_mb"] - first[side]["send_growth_mb"]) * 2**20 / (n1 - n0)
               for side in ("raw", "ours")}
        print(f"send growth per extra message, {n0:,} to {n1:,}: raw {per['raw']:.0f} B, ours {per['ours']:.0f} B")
    print("goal: ours/raw >= 0.80, and send growth flat as the batch grows")
    print("raw smtplib: render + build (EmailMessage) + send on one connection;")
    print("ours: claim + issue link + render + build + send + mark sent + progress callback, one connection")


if __name__ == "__main__":
    main()
