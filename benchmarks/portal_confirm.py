"""Portal confirmations per second: `POST /login/<token>` to redeemed, with 50 clients at once, against our real
`client-portal serve` and against a bare Starlette app doing only the same single-row UPDATE.

Both servers run on uvicorn in a process of their own on a free loopback port, one after the other, each on its
own copy of the same database: N contacts invited with N open links, issued beforehand by the same code the
outbox sender uses. The clients (50 asyncio tasks in this process, one keep-alive connection each, speaking
lean HTTP/1.1 so that the load generator costs far less than the servers it measures) first fetch every link's confirm page, as the person's browser does, to read the form it posts (untimed); then
each task posts its share of the forms, once per token, and the clock runs from the first POST to the last
answer. The bare app does what a minimal handler must (read the form, hash the token, one
`UPDATE magic_link SET used_at=? WHERE token_hash=? AND used_at IS NULL`, a small page); ours does everything
the service does (CSRF and Origin checks, the atomic redeem that marks the contact joined, the audit row, the
request log line, the security headers).

Correctness is checked, not assumed: every POST must have signed in (our "signed in" page, the bare app's 200),
and afterwards each copy must show every link used exactly once (and, for ours, the N contacts joined).

The database with its tokens is made once and cached in a folder of this user's own
(`$TMPDIR/client-portal-bench-<uid>`, 0700) under a file lock, so two people or two runs never share or race
on it. Run by hand: `.venv/bin/python benchmarks/portal_confirm.py [--tokens 2000] [--clients 50] [--rounds 3]`;
`run_all.py` calls `measure` in a child process. Three rounds by default, alternating which server goes first;
the figures are medians.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import hashlib
import html.parser
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.db import SCHEMA_VERSION  # noqa: E402

HOST = "127.0.0.1"
CLIENTS = 50
TOKENS = 2_000
WARM_UP = CLIENTS
"""Extra tokens confirmed before the clock starts, one per connection: each server's first POSTs (templates
compiled, code paths warmed, the database's pages read) do not count."""
SIGNED_IN = "signed in"
"""What our page says after a good POST with no portal callback set (checked case-insensitively)."""


# --- the cached database ------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """This user's own cache folder (0700); refuses one that someone else owns or others can write."""
    path = Path(tempfile.gettempdir()) / f"client-portal-bench-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if info.st_uid != os.getuid() or info.st_mode & 0o022 or not path.is_dir() or path.is_symlink():
        raise SystemExit(f"{path} is not a private folder of this user; remove it and run again")
    return path


@contextmanager
def locked(lock_path: Path):
    """An exclusive `flock` on `lock_path` for the block (another run waits until the cache is built)."""
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def base_database(n: int) -> tuple[Path, list[str]]:
    """A database with `n` invited contacts holding one open invitation link each, and those links' tokens."""
    folder = cache_dir()
    path = folder / f"portal-confirm-{n}-v{SCHEMA_VERSION}.db"
    tokens_path = path.with_name(path.stem + ".tokens.json")
    with locked(folder / (path.name + ".lock")):
        if not (path.exists() and tokens_path.exists()):
            partial = path.with_name(path.stem + ".partial")
            for suffix in ("", "-wal", "-shm"):
                Path(str(partial) + suffix).unlink(missing_ok=True)
            tokens = subprocess.run([sys.executable, __file__, "--build", str(partial), str(n)], check=True,
                                    capture_output=True, text=True, cwd=ROOT).stdout
            fd = os.open(tokens_path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(tokens)
            partial.rename(path)
        return path, json.loads(tokens_path.read_text())


def build(path: Path, n: int) -> list[str]:
    """Fill a new database through the models: `n` contacts invited, each with one open invitation link.

    Runs in a process of its own (`--build`), so the measuring process never opens the models' connection.
    """
    from models import contacts, domains, portal
    from models.contacts import to_row
    from models.db import database, open_database
    from models.entities import PURPOSE_INVITE, Contact
    from models.links import LinkIssuer

    open_database(path)
    domains.add_domain("portal.example.com")
    emails = [f"client.{i}@example.com" for i in range(n)]
    with database.atomic("IMMEDIATE"):
        for i, address in enumerate(emails):
            contacts.add_contact(address, f"First{i}", f"Last{i}", f"Company {i % 40}")
        portal.invite(emails)
        issuer = LinkIssuer(PURPOSE_INVITE)
        tokens = [issuer.issue(to_row(contact)).token for contact in Contact.select().order_by(Contact.id)]
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()
    return tokens


def copy_database(source: Path, target: Path, port: int) -> None:
    """A copy of the cached database whose selected domain is the address the server will listen on."""
    shutil.copyfile(source, target)
    os.chmod(target, 0o600)
    subprocess.run([sys.executable, "-c", "from tui.cli import main; main()", "--db", str(target), "domains", "add",
                    f"{HOST}:{port}", "--select"], check=True, capture_output=True, cwd=ROOT)


# --- the bare reference app ---------------------------------------------------------------------------------------


def bare_app(db_path: str):
    """The least a confirmation can do on uvicorn: read the form, one UPDATE on one connection, a small page."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, PlainTextResponse
    from starlette.routing import Route

    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=wal", "synchronous=normal", "busy_timeout=10000", "foreign_keys=1"):
        conn.execute(f"PRAGMA {pragma}")

    async def confirm(request):
        await request.form()
        digest = hashlib.sha256(request.path_params["token"].encode()).hexdigest()
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        cursor = conn.execute("UPDATE magic_link SET used_at=? WHERE token_hash=? AND used_at IS NULL", (now, digest))
        if cursor.rowcount == 1:
            return HTMLResponse("<!doctype html><title>Signed in</title><p>You are signed in.</p>")
        return HTMLResponse("<!doctype html><title>Link</title><p>This link no longer works.</p>", status_code=404)

    async def page(request):
        return HTMLResponse("<!doctype html><form method=post><input type=hidden name=csrf value=x>"
                            "<button>Continue</button></form>")

    async def healthz(request):
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/login/{token}", confirm, methods=["POST"]),
                             Route("/login/{token}", page, methods=["GET"]), Route("/healthz", healthz)])


def run_bare_server(db_path: str, port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app(db_path), host=HOST, port=port, log_level="warning", access_log=False)


# --- the servers as processes -------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """One server process; `peak_rss_mb` is read from /proc just before it is stopped."""

    def __init__(self, argv: list[str], port: int, log: Path) -> None:
        self.origin = f"http://{HOST}:{port}"
        self._log = log.open("wb")
        self.log = log
        self.process = subprocess.Popen(argv, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)
        self.peak_rss_mb = 0.0
        import httpx  # for the readiness check only

        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"{argv} exited {self.process.returncode}: {log.read_text(errors='replace')}")
            try:
                if httpx.get(self.origin + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{argv} did not answer /healthz in 30 s")
            time.sleep(0.1)

    def stop(self) -> None:
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_mb = int(line.split()[1]) / 1024
        except OSError:
            pass
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


# --- the clients --------------------------------------------------------------------------------------------------


class _FormReader(html.parser.HTMLParser):
    """The first POST form on a page: its action and its fields, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._in_form = False
        self._done = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and not self._done and (attrs.get("method") or "").lower() == "post":
            self._in_form, self.action = True, attrs.get("action") or ""
        elif tag == "input" and self._in_form and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form" and self._in_form:
            self._in_form, self._done = False, True


class _Answer:
    """An HTTP answer: status, lower-cased headers, body text."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code, self.headers, self.text = status, headers, body.decode("utf-8", "replace")


class _Connection:
    """One keep-alive HTTP/1.1 connection, as lean as a client can be.

    The load must come from something much cheaper than the servers it measures: on two cores, httpx's own
    Python (about 3 ms of CPU a request) was the bottleneck and hid the difference between the servers. This
    speaks just the HTTP/1.1 the two servers answer (Content-Length or chunked bodies, keep-alive).
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                      body: bytes = b"") -> _Answer:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        fields = {}
        for line in head[1:]:
            if line:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
        if method == "HEAD":
            data = b""
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            data = b"".join(p[:-2] for p in parts)
        else:
            data = await self.reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            self.close()
        return _Answer(status, fields, data)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


def _form_of(page: str, url: str) -> tuple[str, dict[str, str]]:
    """Where the page's form posts (a path) and the fields it sends."""
    reader = _FormReader()
    reader.feed(page)
    action = reader.action or url
    if action.startswith("http"):
        action = "/" + action.split("/", 3)[3]
    elif not action.startswith("/"):
        action = url
    return action, reader.fields


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (Linux `/proc/<pid>/stat`); 0.0 where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _confirm_all(origin: str, tokens: list[str], clients: int, signed_in, warm_up: list[str],
                       server_pid: int) -> dict:
    from urllib.parse import urlencode

    port = int(origin.rsplit(":", 1)[1])
    connections = [_Connection(HOST, port) for _ in range(clients)]
    for conn in connections:  # open the connections and warm the server up (untimed)
        assert (await conn.request("GET", "/healthz")).status_code == 200

    # What the person's browser does first: GET the confirm page, which holds the form to post (untimed).
    everything = warm_up + tokens
    forms: list[tuple[str, bytes]] = [(b"", b"")] * len(everything)  # type: ignore[list-item]
    todo = list(enumerate(everything))

    async def read_forms(conn: _Connection) -> None:
        while todo:
            i, token = todo.pop()
            url = f"/login/{token}"
            page = await conn.request("GET", url)
            if page.status_code != 200:
                raise SystemExit(f"GET {origin}/login/<token> answered {page.status_code}")
            action, fields = _form_of(page.text, url)
            forms[i] = (action, urlencode(fields).encode())

    await asyncio.gather(*(read_forms(conn) for conn in connections))

    latencies: list[float] = []
    failures: list[str] = []
    headers = {"Origin": origin, "Content-Type": "application/x-www-form-urlencoded"}

    async def post(conn: _Connection, queue: list) -> None:
        while queue:
            path, body = queue.pop()
            start = time.perf_counter()
            answer = await conn.request("POST", path, headers, body)
            latencies.append(time.perf_counter() - start)
            if not signed_in(answer):
                failures.append(f"{answer.status_code} {answer.text[:120]!r}")

    warm = list(reversed(forms[:len(warm_up)]))
    await asyncio.gather(*(post(conn, warm) for conn in connections))
    latencies.clear()
    queue = list(reversed(forms[len(warm_up):]))
    cpu = time.process_time()
    server_cpu = process_cpu_seconds(server_pid)
    started = time.perf_counter()
    await asyncio.gather(*(post(conn, queue) for conn in connections))
    seconds = time.perf_counter() - started
    server_cpu = process_cpu_seconds(server_pid) - server_cpu
    cpu = time.process_time() - cpu
    for conn in connections:
        conn.close()
    latencies.sort()
    return {
        "seconds": seconds,
        "per_second": len(tokens) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "max_ms": latencies[-1] * 1000,
        "failures": len(failures),
        "first_failure": failures[0] if failures else None,
        "client_cpu_s": cpu,
        "server_cpu_ms": server_cpu * 1000 / len(tokens),
    }


def _ours_signed_in(answer) -> bool:
    return answer.status_code == 200 and SIGNED_IN in answer.text.lower()


def _bare_signed_in(answer) -> bool:
    return answer.status_code == 200


def _check_database(path: Path, n: int, joined_expected: int | None) -> dict:
    """What the copy says afterwards: links used exactly once each, and (ours) the contacts joined."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    used = conn.execute("SELECT count(*) FROM magic_link WHERE used_at IS NOT NULL").fetchone()[0]
    total = conn.execute("SELECT count(*) FROM magic_link").fetchone()[0]
    joined = conn.execute("SELECT count(*) FROM contact WHERE status = 'joined'").fetchone()[0]
    conn.close()
    problems = []
    if used != n or total != n:
        problems.append(f"{used} of {total} links used, expected all {n} exactly once")
    if joined_expected is not None and joined != joined_expected:
        problems.append(f"{joined} contacts joined, expected {joined_expected}")
    return {"used": used, "joined": joined, "problems": problems}


def measure_side(which: str, n: int, clients: int, work: Path) -> dict:
    """One side: a fresh copy of the database, its server, every token confirmed once by `clients` clients
    (`WARM_UP` of them before the clock starts)."""
    source, tokens = base_database(n + WARM_UP)
    port = free_port()
    db = work / f"{which}.db"
    copy_database(source, db, port)
    if which == "ours":
        argv = [sys.executable, "-c", "from tui.cli import main; main()", "--db", str(db), "serve",
                "--host", HOST, "--port", str(port), "--no-sender"]
    else:
        argv = [sys.executable, __file__, "--bare-server", str(db), str(port)]
    server = Server(argv, port, work / f"{which}.log")
    try:
        result = asyncio.run(_confirm_all(server.origin, tokens[WARM_UP:], clients,
                                          _ours_signed_in if which == "ours" else _bare_signed_in,
                                          warm_up=tokens[:WARM_UP], server_pid=server.process.pid))
    finally:
        server.stop()
    result["server_rss_mb"] = server.peak_rss_mb
    checked = _check_database(db, n + WARM_UP, n + WARM_UP if which == "ours" else None)
    result.update(checked)
    if result["failures"] or checked["problems"]:
        raise SystemExit(f"{which}: {result['failures']} POSTs did not sign in (first: {result['first_failure']}); "
                         f"{'; '.join(checked['problems']) or 'the database is right'}; log: {server.log}")
    return result


ROUNDS = 3


def measure(n: int = TOKENS, clients: int = CLIENTS, rounds: int = ROUNDS) -> dict:
    """Both sides in this run, `rounds` times, alternating which goes first, each on a fresh copy of the same
    database. On a shared machine one round is noisy; the figures are the medians over the rounds (the ratio is
    the median of each round's ratio), and `rounds` keeps every round's."""
    results = []
    with tempfile.TemporaryDirectory(prefix="portal-confirm-") as tmp:
        base_database(n + WARM_UP)  # built (or found) before anything is timed
        for i in range(rounds):
            order = ("bare", "ours") if i % 2 == 0 else ("ours", "bare")
            sides = {}
            for which in order:
                work = Path(tmp) / f"round{i}"
                work.mkdir(exist_ok=True)
                sides[which] = measure_side(which, n, clients, work)
            results.append({**sides, "ratio": sides["ours"]["per_second"] / sides["bare"]["per_second"]})

    def median_side(which: str) -> dict:
        keys = ("per_second", "p50_ms", "p99_ms", "max_ms", "server_rss_mb", "client_cpu_s", "seconds",
                "server_cpu_ms")
        side = {key: statistics.median(r[which][key] for r in results) for key in keys}
        side["server_rss_mb"] = max(r[which]["server_rss_mb"] for r in results)
        side["joined"] = results[-1][which]["joined"]
        return side

    return {"n": n, "clients": clients, "ours": median_side("ours"), "bare": median_side("bare"),
            "ratio": statistics.median(r["ratio"] for r in results),
            "cpu_ratio": statistics.median(r["bare"]["server_cpu_ms"] / r["ours"]["server_cpu_ms"] for r in results),
            "rounds": [{"ratio": r["ratio"], "ours_per_second": r["ours"]["per_second"],
                        "bare_per_second": r["bare"]["per_second"], "ours_p99_ms": r["ours"]["p99_ms"],
                        "bare_p99_ms": r["bare"]["p99_ms"]} for r in results]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=TOKENS)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--bare-server", nargs=2, metavar=("DB", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, metavar=("DB", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        run_bare_server(args.bare_server[0], int(args.bare_server[1]))
        return
    if args.build:
        print(json.dumps(build(Path(args.build[0]), int(args.build[1]))))
        return
    r = measure(args.tokens, args.clients, args.rounds)
    print(f"{r['n']:,} confirmations, {r['clients']} clients at once, {len(r['rounds'])} round(s)")
    for i, one in enumerate(r["rounds"], 1):
        print(f"  round {i}: ours {one['ours_per_second']:.0f}/s p99 {one['ours_p99_ms']:.1f} ms, "
              f"bare {one['bare_per_second']:.0f}/s p99 {one['bare_p99_ms']:.1f} ms, ratio {one['ratio']:.2f}")
    print("medians:")
    for side in ("ours", "bare"):
        s = r[side]
        print(f"  {side:<5} {s['per_second']:7.0f}/s  p50 {s['p50_ms']:6.1f} ms  p99 {s['p99_ms']:6.1f} ms  "
              f"max {s['max_ms']:6.1f} ms  server CPU {s['server_cpu_ms']:.2f} ms a confirmation, "
              f"peak RSS {s['server_rss_mb']:.0f} MB  "
              f"(client CPU {s['client_cpu_s']:.1f} s of {s['seconds']:.1f} s)")
    print(f"  server CPU per confirmation, bare / ours: {r['cpu_ratio']:.2f} (what the ratio would be with a core "
          "each, whatever else the machine runs)")
    print(f"  ratio ours/bare {r['ratio']:.2f} (goal >= 0.7); our p99 {r['ours']['p99_ms']:.1f} ms (goal < 100 ms); "
          f"every link used once in every round, {r['ours']['joined']:,} joined")


if __name__ == "__main__":
    main()
