"""The benchmarks on PostgreSQL: `db copy` of the cached SQLite databases onto a server, search at 100k and 1M
with the SQLite benchmark's checked query set, and outbox throughput with 1, 2 and 4 senders.

Each measurement runs in a process of its own (`run_all.py --child pg-... SIZE`) with a server of its own, started
in a temporary folder from the installed binaries by `tests.fixtures_pg.PostgresServer` (the one the tests use):
nothing here needs a server set up by hand, and nothing is left behind.

- pg-copy N: `copy_database(the cached N-contact SQLite file, a new PostgreSQL database)`, its time and the
  process's peak RSS (the copy holds one batch at a time), against the fastest load of the same rows: psycopg's
  COPY straight from sqlite3 into the same tables with no index or trigger (then the indexes made once). Then
  the copy is checked (`stats_match`), and back onto a new SQLite file (the round trip, checked too), against
  its own floor in the same run: every table's rows read from the server and put with a bare `executemany` into
  bare SQLite tables (`_copy_back_floor`).
- pg-search N: every prefix of every query of `terminal.QUERIES` typed one key at a time, each answered as the
  dashboard asks: the window (`contacts.contact_page(..., count=False)`, the rows it shows) and then, timed
  apart, the count its counting thread makes in the background (`contacts.count_contacts`); on the server and on
  the SQLite file, every answer checked against `terminal.expected_answers` (count and first rows). Medians and
  the worst key, PostgreSQL against SQLite.
- pg-outbox N,K: N login emails queued, then K `client-portal outbox send` processes started at once against one
  aiosmtpd sink (in a process of its own, counting Message-IDs); the wall time from start to the last sender's
  exit. Every message must arrive once.

- outbox-floor N,K: the same N messages built and sent to the same sink by K processes with no database at all:
  what the sink and the machine allow, the ceiling the outbox rows are read against.

- copy-back N [ROUNDS]: the copy back alone (the file copied onto the server once), ROUNDS times alternating
  with its floor, medians and their ratio (`measure_copy_back`).

Run by hand: `.venv/bin/python benchmarks/pg.py copy|copy-back|search|outbox|outbox-floor SIZE [SENDERS|ROUNDS]`
prints one JSON object.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

HOST = "127.0.0.1"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def server():
    """A PostgreSQL server of this process's own (stopped by the caller's `with`)."""
    from tests.fixtures_pg import PostgresServer, missing_reason

    reason = missing_reason()
    if reason:
        raise SystemExit(f"PostgreSQL benchmarks need a server: {reason}")
    return PostgresServer()


# --- db copy ---------------------------------------------------------------------------------------------------


def measure_copy(size: int, *, back: bool = True, search: bool = False) -> dict:
    """Our `db copy` SQLite -> PostgreSQL (time, peak RSS, checked); then, on the same server, the checked search
    (`search`) and the copy back to a new SQLite file (`back`, checked too). The copy's RSS is taken before either."""
    from datetime import datetime, timezone

    from _data import make_database

    from models import clock
    from models.copy import copy_database

    source = make_database(size)
    result: dict = {}
    with server() as pg, clock.frozen(datetime.now(timezone.utc)):  # both copies count lapsed links at one time
        url = pg.create_database("copy_target")
        started = time.perf_counter()
        report = copy_database(source, url)
        result["seconds"] = time.perf_counter() - started
        result["copy_rss_mb"] = rss_mb()
        result["rows"] = sum(report.counts.values())
        if not report.stats_match:
            raise SystemExit(f"db copy to PostgreSQL: stats differ: {report.differences()}")
        if search:
            result["keys"] = _search_keys(source, url)
        if back:
            with tempfile.TemporaryDirectory() as folder:
                os.chmod(folder, 0o700)
                started = time.perf_counter()
                report_back = copy_database(url, Path(folder) / "back.db")
                result["back_seconds"] = time.perf_counter() - started
                result["back_rss_mb"] = rss_mb()
                if not report_back.stats_match or report_back.source_stats != report.source_stats:
                    raise SystemExit(f"db copy back to SQLite: stats differ: {report_back.differences()} "
                                     f"{report_back.source_stats} {report.source_stats}")
                result["back_floor_seconds"] = _copy_back_floor(url, Path(folder) / "bare.db")
    return result


def measure_copy_back(size: int, rounds: int = 3) -> dict:
    """The copy back alone, `rounds` times, alternating with its floor (`_copy_back_floor`) on the same server so
    that both see the same load: the cached N-contact file copied onto a server of its own once, then each round a
    checked `db copy` from it onto a new SQLite file and the floor's bare load. Medians, the ratio of the medians,
    and every round's times."""
    from datetime import datetime, timezone

    from _data import make_database

    from models import clock
    from models.copy import copy_database

    source = make_database(size)
    with server() as pg, clock.frozen(datetime.now(timezone.utc)):
        url = pg.create_database("copy_target")
        source_stats = copy_database(source, url).source_stats
        return alternate_copy_back(url, rounds, source_stats)


def alternate_copy_back(url: str, rounds: int, source_stats: dict | None = None) -> dict:
    """`rounds` of (the floor, then our copy back), each onto a new file in a folder of its own; our copies are
    checked (`stats_match`, and equal to `source_stats` if given)."""
    from models.copy import copy_database

    ours: list[float] = []
    floor: list[float] = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as folder:
            os.chmod(folder, 0o700)
            floor.append(_copy_back_floor(url, Path(folder) / "bare.db"))
        with tempfile.TemporaryDirectory() as folder:
            os.chmod(folder, 0o700)
            started = time.perf_counter()
            report = copy_database(url, Path(folder) / "back.db")
            ours.append(time.perf_counter() - started)
            if not report.stats_match or (source_stats is not None and report.source_stats != source_stats):
                raise SystemExit(f"db copy back to SQLite: stats differ: {report.differences()}")
    return {"back_seconds": statistics.median(ours), "back_floor_seconds": statistics.median(floor),
            "ratio": statistics.median(ours) / statistics.median(floor), "rounds": {"ours": ours, "floor": floor},
            "load": os.getloadavg()}


def _copy_back_floor(url: str, path: Path) -> float:
    """The floor of the copy back: every table's rows read from the server (a named cursor, a batch at a time)
    and put with one prepared `executemany` into a bare SQLite table of the same columns (no type, constraint,
    index or trigger), one transaction for the lot. Returns its seconds."""
    import sqlite3

    import psycopg

    from models.copy import COPY_ORDER, READ_BATCH

    lite = sqlite3.connect(path, isolation_level=None)
    started = time.perf_counter()
    lite.execute("BEGIN")
    with psycopg.connect(url) as conn:
        for model in COPY_ORDER:
            table = model._meta.table_name
            columns = ", ".join(f'"{field.column_name}"' for field in model._meta.sorted_fields)
            lite.execute(f'CREATE TABLE "{table}" ({columns})')
            insert = f'INSERT INTO "{table}" ({columns}) VALUES ({", ".join("?" * len(model._meta.sorted_fields))})'
            with conn.cursor(name=f"floor_{table}") as cursor:
                cursor.itersize = READ_BATCH
                cursor.execute(f'SELECT {columns} FROM "{table}" ORDER BY "{model._meta.primary_key.column_name}"')
                while rows := cursor.fetchmany(READ_BATCH):
                    lite.executemany(insert, rows)
    lite.execute("COMMIT")
    seconds = time.perf_counter() - started
    lite.close()
    return seconds


def measure_copy_bare(size: int) -> dict:
    """The fastest load of the same contacts and links: COPY from sqlite3 rows into the same tables (made by our
    schema, then stripped of indexes and triggers), the indexes built once at the end."""
    import sqlite3

    import psycopg
    from _data import make_database

    from models.backends.postgres.schema import SEARCH_KEY, search_key
    from models.db import database, open_database

    source = make_database(size)
    with server() as pg:
        url = pg.create_database("bare_target")
        open_database(url)
        database.close()
        with psycopg.connect(url, autocommit=False) as conn:
            indexes = conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                "AND tablename IN ('contact', 'magic_link') AND indexname NOT LIKE '%pkey'").fetchall()
            for name, _ in indexes:
                conn.execute(f'DROP INDEX "{name}"')
            conn.execute("ALTER TABLE contact DISABLE TRIGGER USER")
            conn.execute("ALTER TABLE magic_link DISABLE TRIGGER USER")
            conn.commit()
            lite = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            started = time.perf_counter()
            for table in ("contact", "magic_link"):
                # The columns both engines have (SQLite's name rank is its own); the server's search key is the
                # search text lower-cased for ASCII, made here as the trigger or our copy would make it.
                ours = {row[0] for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,))}
                columns = [row[1] for row in lite.execute(f'PRAGMA table_info("{table}")') if row[1] in ours]
                names = ", ".join(f'"{c}"' for c in columns)
                keyed = table == "contact" and SEARCH_KEY in ours
                into = names + (f', "{SEARCH_KEY}"' if keyed else "")
                text = columns.index("search_text") if keyed else -1
                with conn.cursor().copy(f'COPY "{table}" ({into}) FROM STDIN') as copy:
                    for row in lite.execute(f'SELECT {names} FROM "{table}" ORDER BY id'):
                        copy.write_row((*row, search_key(row[text])) if keyed else row)
            for _, sql in indexes:
                conn.execute(sql)
            conn.commit()
            seconds = time.perf_counter() - started
            lite.close()
    return {"seconds": seconds, "rss_mb": rss_mb()}


# --- search ----------------------------------------------------------------------------------------------------


def _timed(call) -> tuple[float, object]:
    """The median time of `call()` over 3 runs (1 if it takes over a second), in ms, and its last result."""
    times: list[float] = []
    while len(times) < 3 and sum(times) < 1.0:
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, result


def _timed_keys(typed: list[str], answers: dict, label: str) -> list[dict]:
    """Each prefix answered as the dashboard asks: the window (`contact_page` with `count=False`: the rows it
    shows, with a total that may be a lower bound), then the count on its counting thread (`count_contacts`).
    Each timed apart (the median of 3 runs), each checked: the first rows, the count, and a window's total that
    is exact, or a lower bound never above the count. SQLite forgets its last complete result before each run
    (`forget_narrowing`): both engines are timed on the SQL a key runs, not on the reuse of a previous key's rows."""
    from models import contacts
    from tui.widgets.contact_table import WINDOW
    from terminal import SHOWN

    forget = _forget_narrowing()
    keys = []
    for prefix in typed:
        query = contacts.ContactQuery(search=prefix)

        def window():
            forget()
            return contacts.contact_page(query, 0, WINDOW, count=False)

        ms, page = _timed(window)
        count_ms, total = _timed(lambda: contacts.count_contacts(query))
        answer = answers[prefix]
        got = [row.email for row in page.rows[:SHOWN]]
        lower_ok = page.total == answer.count if page.exact else len(page.rows) <= page.total <= answer.count
        if total != answer.count or got != answer.first or not lower_ok:
            raise SystemExit(f"{label} search {prefix!r}: window {page.total} rows (exact {page.exact}) {got}, "
                             f"count {total}, expected {answer}")
        keys.append({"typed": prefix, "ms": ms, "count_ms": count_ms, "matches": total})
    return keys


def _forget_narrowing():
    """SQLite's `forget_narrowing` when SQLite is the open engine, else nothing to forget."""
    from models.backends.sqlite import SqliteBackend
    from models.db import backend

    if not isinstance(backend(), SqliteBackend):
        return lambda: None
    from models.backends.sqlite.search import forget_narrowing

    return forget_narrowing


def measure_search(size: int) -> dict:
    """The checked query set on a server of its own (after a `db copy` of the cached file)."""
    from _data import make_database

    from models.copy import copy_database

    source = make_database(size)
    with server() as pg:
        url = pg.create_database("search")
        copy_database(source, url)
        return {"keys": _search_keys(source, url)}


def measure_dashboard(size: int) -> dict:
    """Search keys through the real `client-portal` in a pty, as `terminal.measure_search` times them on SQLite,
    but with the dashboard open on a server holding a `db copy` of the cached file: key to painted frame, every
    answer and count checked against the SQLite file. The floor is the same bare SQL on SQLite as that row's."""
    import terminal
    from _data import make_database

    from models.copy import copy_database
    from models.db import database

    source = make_database(size)
    with server() as pg:
        url = pg.create_database("dashboard")
        copy_database(source, url)
        database.close()
        return terminal.measure_search(source, target=url)


def _search_keys(source: Path, url: str) -> list[dict]:
    """Every prefix of every query of the SQLite benchmark, typed key by key, on PostgreSQL (`url`, a copy of
    `source`) and on SQLite (`source` itself), every answer checked."""
    import sqlite3

    from terminal import QUERIES, expected_answers

    from models.db import database, open_database

    conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    largest = conn.execute("SELECT company FROM contact WHERE company <> '' GROUP BY company "
                           "ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]
    conn.close()
    queries = [q.format(company=largest.split()[0].lower()) for q in QUERIES]
    typed = [q[:i] for q in queries for i in range(1, len(q) + 1)]
    answers = expected_answers(source, sorted(set(typed) | {""}))
    open_database(url)
    database.execute_sql("ANALYZE")
    pg_keys = _timed_keys(typed, answers, "PostgreSQL")
    database.close()
    open_database(source)
    lite_keys = _timed_keys(typed, answers, "SQLite")
    database.close()
    for key, lite in zip(pg_keys, lite_keys):
        key["sqlite_ms"], key["sqlite_count_ms"] = lite["ms"], lite["count_ms"]
    return pg_keys


# --- outbox ----------------------------------------------------------------------------------------------------


def run_sink(port: int) -> None:
    """Accept messages until stdin closes, then print how many arrived and how many distinct Message-IDs."""
    import email

    from aiosmtpd.controller import Controller

    class Recorder:
        ids: list[str] = []

        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.content)
            Recorder.ids.append(message["Message-ID"])
            return "250 OK"

    controller = Controller(Recorder(), hostname=HOST, port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()
    print(json.dumps({"received": len(Recorder.ids), "distinct": len(set(Recorder.ids))}), flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class _LockWaits:
    """Samples the senders' server sessions every 20 ms while they run: how often one was running a statement
    (`active_share`), and how often it was waiting for a lock (`lock_wait_share`: the write lock, a row another
    sender holds, a counter row), of all the samples (the rest: idle between statements)."""

    def __init__(self, url: str) -> None:
        import threading

        import psycopg

        self._conn = psycopg.connect(url, autocommit=True)
        self._done = threading.Event()
        self.samples = self.busy = self.waiting = 0
        self.events: dict[str, int] = {}
        """Lock waits by kind: `advisory` (the write lock), `transactionid` or `tuple` (a row another holds)."""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.02):
            rows = self._conn.execute(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'client-portal' AND pid <> pg_backend_pid()").fetchall()
            self.samples += len(rows)
            self.busy += sum(1 for state, _, _ in rows if state == "active")
            for state, kind, event in rows:
                if state == "active" and kind == "Lock":
                    self.waiting += 1
                    self.events[event] = self.events.get(event, 0) + 1

    def stop(self) -> dict:
        self._done.set()
        self._thread.join()
        self._conn.close()
        return {"session_samples": self.samples, "active_share": self.busy / max(1, self.samples),
                "lock_wait_share": self.waiting / max(1, self.samples), "lock_waits": self.events}


def _server_cpu_seconds(pg) -> float:
    """CPU the server's processes used so far: the postmaster's own and that of every child it reaped (each
    sender's session ends with its process, and is counted then), from /proc; 0 where there is no /proc."""
    try:
        pid = int((pg.data / "postmaster.pid").read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return 0.0
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def measure_outbox(size: int, senders: int) -> dict:
    """`size` queued login emails sent by `senders` processes at once; messages per second, wall clock."""
    from models import clock, domains, outbox, settings
    from models.db import database, open_database
    from models.entities import STATUS_INVITED, Contact

    with server() as pg:
        url = pg.create_database("outbox")
        open_database(url)
        domains.add_domain("portal.example.com")
        settings.set_value("send_rate", "1000")
        now = clock.now()
        rows = [{"email": f"client{i}@example.com", "first_name": f"First{i}", "last_name": f"Last{i}",
                 "company": "Acme", "created_at": now, "updated_at": now, "status": STATUS_INVITED,
                 "invited_at": now, "invite_count": 1} for i in range(size)]
        with database.atomic():
            for start in range(0, size, 1000):
                Contact.insert_many(rows[start:start + 1000]).execute()
        ids = [c.id for c in Contact.select(Contact.id).order_by(Contact.id)]
        queued = outbox.queue_login_emails(ids)
        if len(queued.queued) != size:
            raise SystemExit(f"queued {len(queued.queued)} of {size}")
        database.close()
        port = _free_port()
        sink = subprocess.Popen([sys.executable, __file__, "sink", str(port)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert sink.stdout.readline().strip() == "ready"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENT_PORTAL_")}
        env.update({"CLIENT_PORTAL_DB": url, "CLIENT_PORTAL_SMTP_HOST": HOST, "CLIENT_PORTAL_SMTP_PORT": str(port),
                    "CLIENT_PORTAL_SMTP_SECURITY": "none"})
        client = str(Path(sys.executable).with_name("client-portal"))
        started = time.perf_counter()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the senders' CPU: a load-proof per-message cost
        server_before = _server_cpu_seconds(pg)
        command = [client, "outbox", "send", "--rate", "0", "--json"]
        profile = os.environ.get("PG_BENCH_PROFILE")  # a folder: each sender runs under py-spy (collapsed stacks)
        procs = [subprocess.Popen(
            [*(["py-spy", "record", "--format", "raw", "--rate", "200", "-o", f"{profile}/sender-{k}.txt", "--"]
               if profile else []), *command],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(senders)]
        waits = _LockWaits(url)
        results = [proc.communicate(timeout=1800) for proc in procs]
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
        waiting = waits.stop()
        time.sleep(0.2)  # the senders' sessions end just after the senders: let the postmaster reap them
        server_cpu = _server_cpu_seconds(pg) - server_before
        counts = json.loads(sink.communicate("", timeout=60)[0].strip().splitlines()[-1])
        for proc, (out, err) in zip(procs, results):
            if proc.returncode != 0:
                raise SystemExit(f"a sender failed (exit {proc.returncode}): {err[-2000:]}")
        sent = [None if profile else json.loads(out).get("sent", 0) for out, _ in results]  # py-spy prints too
    if counts["received"] != size or counts["distinct"] != size:
        raise SystemExit(f"{senders} senders: {counts} for {size} messages (a message lost or sent twice)")
    return {"seconds": seconds, "per_second": size / seconds, "senders": senders, "sent_each": sent,
            "sender_cpu_ms_per_message": cpu * 1000 / size, "server_cpu_ms_per_message": server_cpu * 1000 / size,
            **waiting}


def run_floor_sender(port: int, first: int, count: int) -> None:
    """One process that only sends: `count` messages of the size a login email has, built as the sender builds
    them (`build_message`) and sent through the same transport (yagmail's SMTP), with no database at all."""
    import tempfile
    from datetime import datetime, timezone
    from email.headerregistry import Address

    from mail.config import MailConfig
    from mail.message import build_message, recipient_address
    from mail.templates import RenderedEmail
    from mail.transports import open_transport

    config = MailConfig(host=HOST, port=port, user=None, password=None, security="none", mail_from=None,
                        timeout=30.0, maildir=Path(tempfile.gettempdir()) / "unused-maildir")
    transport = open_transport(config)
    sender = Address("Agency", "portal", "portal.example.com")
    link = "https://portal.example.com/login/" + "x" * 43
    for n in range(first, first + count):
        rendered = RenderedEmail(subject="Your sign-in link",
                                 text=f"Hello First{n},\n\nSign in: {link}\n\nIt expires in 24 hours.\n",
                                 html=f"<p>Hello First{n},</p><p><a href=\"{link}\">Sign in</a></p>")
        address = f"client{n}@example.com"
        msg = build_message(rendered, sender=sender, to=recipient_address(address, f"First{n} Last{n}"),
                            message_id=f"<floor{n}@portal.example.com>", date=datetime.now(timezone.utc),
                            kind="login")
        transport.send(msg, sender.addr_spec, address)
    transport.close()


def measure_outbox_floor(size: int, senders: int) -> dict:
    """The sink's own ceiling: `senders` processes that only build and send (`run_floor_sender`), no database."""
    port = _free_port()
    sink = subprocess.Popen([sys.executable, __file__, "sink", str(port)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert sink.stdout.readline().strip() == "ready"
    share = [size // senders + (1 if k < size % senders else 0) for k in range(senders)]
    starts = [sum(share[:k]) for k in range(senders)]
    started = time.perf_counter()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = [subprocess.Popen([sys.executable, __file__, "floor-sender", str(port), str(first), str(count)])
             for first, count in zip(starts, share)]
    for proc in procs:
        if proc.wait(timeout=1800) != 0:
            raise SystemExit(f"a floor sender failed (exit {proc.returncode})")
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    counts = json.loads(sink.communicate("", timeout=60)[0].strip().splitlines()[-1])
    if counts["received"] != size or counts["distinct"] != size:
        raise SystemExit(f"floor, {senders} senders: {counts} for {size} messages")
    return {"seconds": seconds, "per_second": size / seconds, "senders": senders,
            "sender_cpu_ms_per_message": cpu * 1000 / size}


def main() -> None:
    what = sys.argv[1]
    if what == "sink":
        run_sink(int(sys.argv[2]))
        return
    if what == "floor-sender":
        run_floor_sender(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    size = int(sys.argv[2])
    if what == "copy":
        result = measure_copy(size)
    elif what == "copy-search":
        result = measure_copy(size, back=size <= 100_000, search=True)
    elif what == "copy-back":
        result = measure_copy_back(size, int(sys.argv[3]) if len(sys.argv) > 3 else 3)
    elif what == "copy-bare":
        result = measure_copy_bare(size)
    elif what == "search":
        result = measure_search(size)
    elif what == "dashboard":
        result = measure_dashboard(size)
    elif what == "outbox":
        result = measure_outbox(size, int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    elif what == "outbox-floor":
        result = measure_outbox_floor(size, int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    else:
        raise SystemExit(f"unknown benchmark {what}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()


# --- the rows of `run_all.py --engine postgres` -------------------------------------------------------------------

PG_SECTIONS = ("pg-copy", "pg-search", "pg-outbox", "pg-dashboard")


def run_sections(table, run_child, quick: bool, only: set[str]) -> None:
    """Add the PostgreSQL rows to `run_all`'s table, each measurement in a child process of its own. The search
    runs on the server the copy filled (`pg-copy-search`): a million contacts are copied once, not twice. The
    outbox rows come first: they are the quickest."""
    sizes = [10_000] if quick else [100_000, 1_000_000]
    mails = 300 if quick else 1_000
    if "pg-outbox" in only:
        one = None
        for senders in (1, 2, 4):
            floor = run_child(f"pg-outbox-floor-{senders}", mails)
            r = run_child(f"pg-outbox-{senders}", mails)
            one = one or r
            table.add(f"outbox send, {senders} sender(s) at once (msg/s; ref: the no-database floor, same senders)",
                      mails, f"{r['per_second']:.1f}/s", f"{floor['per_second']:.1f}/s",
                      r["per_second"] / floor["per_second"], "scales with senders; none sent twice",
                      f"x{r['per_second'] / one['per_second']:.2f} of 1 sender; CPU/msg: senders "
                      f"{r['sender_cpu_ms_per_message']:.2f} ms (floor {floor['sender_cpu_ms_per_message']:.2f}), "
                      f"server {r['server_cpu_ms_per_message']:.2f} ms; each sent {r['sent_each']}")
    for size in sizes if only & {"pg-copy", "pg-search"} else []:
        name = {frozenset({"pg-copy", "pg-search"}): "pg-copy-search", frozenset({"pg-copy"}): "pg-copy",
                frozenset({"pg-search"}): "pg-search"}[frozenset(only & {"pg-copy", "pg-search"})]
        ours = run_child(name, size)
        if "pg-copy" in only:
            bare = run_child("pg-copy-bare", size)
            table.add("db copy SQLite -> PostgreSQL (checked; ref: bare COPY of contacts+links)", size,
                      f"{ours['seconds']:.1f} s", f"{bare['seconds']:.1f} s", ours["seconds"] / bare["seconds"],
                      "< 200 MB RSS at 1M", f"{ours['copy_rss_mb']:.0f}/{bare['rss_mb']:.0f}")
            if "back_seconds" in ours:
                table.add("db copy PostgreSQL -> SQLite (the round trip back, checked; ref: bare executemany "
                          "of every table's rows into bare tables, same run)", size,
                          f"{ours['back_seconds']:.1f} s", f"{ours['back_floor_seconds']:.1f} s",
                          ours["back_seconds"] / ours["back_floor_seconds"], "<= 1.5x",
                          f"{ours['back_rss_mb']:.0f}/-")
        if "pg-search" in only:
            keys = ours["keys"]
            ms, lite = [k["ms"] for k in keys], [k["sqlite_ms"] for k in keys]
            table.add("search window (contact_page, count=False, as the dashboard asks), median over keys, "
                      "checked; ref: SQLite", size,
                      f"{statistics.median(ms):.1f} ms", f"{statistics.median(lite):.1f} ms",
                      statistics.median(ms) / max(statistics.median(lite), 0.01), "<= 16 ms at 1M", "-")
            worst = max(keys, key=lambda k: k["ms"])
            table.add(f"search window, worst key ({worst['typed']!r}); ref: SQLite, same key", size,
                      f"{worst['ms']:.1f} ms", f"{worst['sqlite_ms']:.1f} ms",
                      worst["ms"] / max(worst["sqlite_ms"], 0.01), "<= 50 ms at 1M", "-")
            counts, lite_counts = [k["count_ms"] for k in keys], [k["sqlite_count_ms"] for k in keys]
            table.add("search count (background, cancellable), median over keys, checked; ref: SQLite", size,
                      f"{statistics.median(counts):.1f} ms", f"{statistics.median(lite_counts):.1f} ms",
                      statistics.median(counts) / max(statistics.median(lite_counts), 0.01), "-", "-")
            print(json.dumps({"size": size, "keys": keys}), file=sys.stderr)
    for size in sizes[-1:] if "pg-dashboard" in only else []:
        keys = run_child("pg-dashboard", size)["keys"]
        print(f"  dashboard keys on PostgreSQL at {size:,} (typed: ours / bare SQL on SQLite, ms): "
              + ", ".join(f"{k['typed']!r} {k['ms']:.1f}/{k['reference_ms']:.1f}" for k in keys), file=sys.stderr)
        ms, refs = [k["ms"] for k in keys], [k["reference_ms"] for k in keys]
        table.add("search key to painted frame on PostgreSQL, median (the real command in a pty, results and "
                  "counts checked; ref: the same search's bare SQL on SQLite)", size, f"{statistics.median(ms):.1f} ms",
                  f"{statistics.median(refs):.1f} ms", statistics.median(ms) / max(statistics.median(refs), 0.01),
                  "<= 16 ms at 1M", "-")
        worst = max(keys, key=lambda k: k["ms"])
        table.add(f"search key to painted frame on PostgreSQL, worst ({worst['typed']!r})", size,
                  f"{worst['ms']:.1f} ms", f"{worst['reference_ms']:.1f} ms",
                  worst["ms"] / max(worst["reference_ms"], 0.01), "<= 50 ms at 1M", "-")
