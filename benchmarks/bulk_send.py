"""Bulk login emails: our outbox sender against raw `smtplib` on one connection, to a local aiosmtpd sink.

Both sides send the same N messages, each rendered from the login template and built with
`mail.message.build_message`; raw `smtplib` does only that over one connection, while our sender also claims
rows, issues a magic link per message, marks each row sent and reports progress. The sink runs in another
process (so its event loop does not share our GIL) and counts what it accepted. The goal: at least 0.8 of raw.

Run by hand: `.venv/bin/python benchmarks/bulk_send.py [messages]` (default 5,000). Prints the figures; it
asserts only that every message arrived.
"""

from __future__ import annotations

import argparse
import secrets
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mail.config import MailConfig  # noqa: E402
from mail.message import build_message, recipient_address, sender_address  # noqa: E402
from mail.outbox import OutboxSender  # noqa: E402
from mail.templates import Renderer  # noqa: E402
from models import clock, links, outbox  # noqa: E402
from models.contacts import to_row  # noqa: E402
from models.db import database, open_database  # noqa: E402
from models.domains import portal_url  # noqa: E402
from models.entities import STATUS_INVITED, Contact, Domain  # noqa: E402
from models.links import LINK_PATH  # noqa: E402

HOST = "127.0.0.1"


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
        rows = [dict(email=f"client{i}@example.com", first_name=f"First{i}", last_name=f"Last{i}", company="Acme",
                     created_at=now, updated_at=now, status=STATUS_INVITED, invited_at=now, invite_count=1)
                for i in range(n)]
        for start in range(0, n, 500):
            Contact.insert_many(rows[start : start + 500]).execute()
    return [c.id for c in Contact.select(Contact.id).order_by(Contact.id)]


def raw_smtplib(port: int, n: int, prebuilt: bool) -> float:
    """Seconds for raw smtplib to send n messages built the way ours are (built inside the loop unless prebuilt)."""
    renderer = Renderer("login")
    config = MailConfig(host=HOST, port=port, user=None, password=None, security="none", mail_from=None,
                        timeout=30, maildir=Path("/nonexistent"))
    sender = sender_address(config)
    base = portal_url(LINK_PATH)
    domain = "portal.example.com"
    rows = [(to_row(c), outbox.new_message_id(domain)) for c in Contact.select().order_by(Contact.id).limit(n)]
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


def ours(port: int, ids: list[int]) -> tuple[float, int, int]:
    """Seconds for our sender to send a login email to each contact (queued first, untimed)."""
    batch = outbox.queue_login_emails(ids).batch
    config = MailConfig(host=HOST, port=port, user=None, password=None, security="none", mail_from=None,
                        timeout=30, maildir=Path("/nonexistent"))
    sender = OutboxSender(config, rate=0)
    ticks = []
    start = time.perf_counter()
    summary = sender.send(batch, progress=lambda p: ticks.append(p.done))
    elapsed = time.perf_counter() - start
    assert summary.failed == [] and summary.error == "", summary
    return elapsed, summary.sent, sender.connections


def _reset_peak() -> None:
    """Start the process's peak RSS (VmHWM) afresh (Linux >= 4.0), so it measures the sending alone."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(n: int, which: str) -> dict:
    """One side in this process (for `run_all.py`): seconds to send n login emails, and the peak RSS while
    sending (the set-up of n contacts is not counted)."""
    with tempfile.TemporaryDirectory() as tmp:
        ids = setup(Path(tmp) / "bench.db", n)
        sink = Sink()
        try:
            raw_smtplib(sink.port, min(200, n), prebuilt=False)  # warm-up: imports, the sink's first connection
            _reset_peak()
            if which == "raw":
                seconds = raw_smtplib(sink.port, n, prebuilt=False)
            else:
                seconds, sent, _ = ours(sink.port, ids)
                assert sent == n
            peak = _peak_mb()
        finally:
            received = sink.count()
        database.close()
    assert received == min(200, n) + n, received
    return {"seconds": seconds, "send_rss_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("messages", type=int, nargs="?", default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="alternate raw and ours this many times (default 3)")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink)
        return
    n = args.messages
    rounds: list[tuple[float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        ids = setup(Path(tmp) / "bench.db", n)
        sink = Sink()
        try:
            raw_smtplib(sink.port, min(200, n), prebuilt=False)  # warm-up: imports, the sink's first connection
            print(f"{n} messages per run; the machine's other load moves every figure, so rounds alternate")
            print("round   raw smtplib    raw prebuilt   OutboxSender   ours/raw")
            for r in range(args.rounds):
                t_raw = raw_smtplib(sink.port, n, prebuilt=False)
                t_pre = raw_smtplib(sink.port, n, prebuilt=True)
                t_ours, sent, connections = ours(sink.port, ids)
                assert sent == n and connections == 1
                rounds.append((t_raw, t_pre, t_ours))
                print(f"{r + 1:>5}   {n / t_raw:7.0f} msg/s  {n / t_pre:7.0f} msg/s  {n / t_ours:7.0f} msg/s"
                      f"   {t_raw / t_ours:6.2f}", flush=True)
            # Where our extra time goes: issuing a magic link (models.links.issue_link) on its own.
            sample = ids[: min(500, n)]
            start = time.perf_counter()
            for contact_id in sample:
                links.issue_link(contact_id, purpose="login")
            t_issue = (time.perf_counter() - start) / len(sample)
        finally:
            received = sink.count()
        database.close()
    expected = min(200, n) + 3 * n * len(rounds)
    raw = sorted(n / t for t, _, _ in rounds)[len(rounds) // 2]
    mine = sorted(n / t for _, _, t in rounds)[len(rounds) // 2]
    ratios = sorted(t_raw / t_ours for t_raw, _, t_ours in rounds)
    print(f"median  {raw:7.0f} msg/s                 {mine:7.0f} msg/s   {ratios[len(ratios) // 2]:6.2f}"
          "  (goal >= 0.80)")
    extra = sorted((t_ours - t_raw) / n for t_raw, _, t_ours in rounds)[len(rounds) // 2]
    print(f"our extra time per message {extra * 1000:.2f} ms, of which links.issue_link alone takes "
          f"{t_issue * 1000:.2f} ms")
    print("raw smtplib: render + build (EmailMessage) + send on one connection; prebuilt: send only;")
    print("OutboxSender: claim + issue link + render + build + send + mark sent, progress callback, one connection")
    print(f"sink received {received} of {expected} messages")
    assert received == expected


if __name__ == "__main__":
    main()
