"""An SMTP server that trickles is given up on within a deadline, and its mail stays queued (issue 11).

smtplib's timeout applies to one read, so a server that sends a byte every fraction of a second was never given
up on: a greeting, or the reply to the end of a message, that never ends held the sender for ever. The server
here is a tiny SMTP speaker on loopback (aiosmtpd cannot trickle a reply) that answers normally, slowly, or one
byte at a time without end at the stage a test asks for. Each test has a hang guard, never a timing assertion.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mail.config import MailConfig
from mail.outbox import OutboxSender
from models import contacts, outbox
from models.db import database
from models.entities import OutboxMessage

ROOT = Path(__file__).resolve().parent.parent
HANG_GUARD = 60.0
"""Seconds after which a test calls the sender stuck; the deadlines here are one or two seconds."""


class SlowSMTPServer:
    """A plain-SMTP server on 127.0.0.1 that answers at `stage` one byte every `interval` seconds, for ever,
    and waits `delay` seconds before every reply. Stages: greeting, ehlo, mail, rcpt, data, end (after DATA)."""

    def __init__(self, *, trickle: str | None = None, delay: float = 0.0, interval: float = 0.1) -> None:
        self.trickle, self.delay, self.interval = trickle, delay, interval
        self.stop = threading.Event()
        self.accepted: list[bytes] = []
        """Messages whose end of DATA was answered 250."""
        self.trickling = threading.Event()
        self._conns: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def config(self, maildir: Path, timeout: float, deadline: float) -> MailConfig:
        return MailConfig(host="127.0.0.1", port=self.port, user=None, password=None, security="none",
                          mail_from=None, timeout=timeout, maildir=maildir, deadline=deadline)

    def env(self, timeout: float, deadline: float) -> dict[str, str]:
        return {"CLIENT_PORTAL_SMTP_HOST": "127.0.0.1", "CLIENT_PORTAL_SMTP_PORT": str(self.port),
                "CLIENT_PORTAL_SMTP_SECURITY": "none", "CLIENT_PORTAL_SMTP_TIMEOUT": str(timeout),
                "CLIENT_PORTAL_SMTP_DEADLINE": str(deadline)}

    def close(self) -> None:
        self.stop.set()
        self._listener.close()
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _reply(self, conn: socket.socket, stage: str, text: str) -> None:
        if self.delay and self.stop.wait(self.delay):
            return
        if stage != self.trickle:
            conn.sendall(text.encode() + b"\r\n")
            return
        self.trickling.set()
        line = text[:3].encode() + b"-still working\r\n"  # a multi-line reply that never reaches its last line
        while not self.stop.is_set():
            for byte in line:
                if self.stop.wait(self.interval):
                    return
                conn.sendall(bytes([byte]))

    def _serve(self, conn: socket.socket) -> None:
        try:
            reader = conn.makefile("rb")
            self._reply(conn, "greeting", "220 slow.test ESMTP")
            while not self.stop.is_set():
                line = reader.readline()
                if not line:
                    return
                command = line[:4].upper()
                if command in (b"EHLO", b"HELO"):
                    self._reply(conn, "ehlo", "250 slow.test")
                elif command == b"MAIL":
                    self._reply(conn, "mail", "250 2.1.0 OK")
                elif command == b"RCPT":
                    self._reply(conn, "rcpt", "250 2.1.5 OK")
                elif command == b"DATA":
                    self._reply(conn, "data", "354 go ahead")
                    body = b""
                    while (chunk := reader.readline()) not in (b".\r\n", b""):
                        body += chunk
                    self._reply(conn, "end", "250 2.0.0 queued")
                    self.accepted.append(body)
                elif command == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:  # RSET, NOOP
                    conn.sendall(b"250 OK\r\n")
        except OSError:
            return


@pytest.fixture
def slow_server():
    servers: list[SlowSMTPServer] = []

    def make(**options) -> SlowSMTPServer:
        servers.append(SlowSMTPServer(**options))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def _queue(n: int) -> None:
    ids = [contacts.add_contact(f"client{i}@example.com", f"First{i}").id for i in range(n)]
    outbox.queue_login_emails(ids)


def _send_in_thread(sender: OutboxSender):
    """Run the sender with a hang guard: a sender still stuck after `HANG_GUARD` seconds fails the test."""
    result: list = []
    worker = threading.Thread(target=lambda: result.append(sender.send(once=True)), daemon=True)
    worker.start()
    worker.join(HANG_GUARD)
    assert not worker.is_alive(), "the sender never gave up on a server that trickles"
    return result[0]


def test_a_reply_that_trickles_without_end_is_given_up_on_and_the_message_waits_for_a_retry(
        db, slow_server, tmp_path):
    server = slow_server(trickle="end", interval=0.05)  # the end of DATA: far more than one read per second
    _queue(2)

    summary = _send_in_thread(OutboxSender(server.config(tmp_path / "Maildir", timeout=1, deadline=3), rate=0))

    assert server.trickling.is_set()
    assert summary.sent == 0 and summary.failed == [] and summary.retrying == 1
    assert summary.error == "the server did not answer within 1 s"
    rows = list(OutboxMessage.select().order_by(OutboxMessage.id))
    assert [r.status for r in rows] == ["queued", "queued"]  # deferred, not lost
    assert rows[0].attempts == 1 and rows[0].last_error == "the server did not answer within 1 s"
    assert rows[0].next_attempt_at > rows[1].next_attempt_at  # the one tried waits for its retry
    assert rows[1].attempts == 0  # the pass ended: the other was never tried, nor charged


def test_a_message_whose_every_reply_is_slow_is_bound_by_the_message_deadline(db, slow_server, tmp_path):
    # Each reply takes 0.6 s: under the 1 s command timeout, but MAIL + RCPT + DATA + end pass the 2 s deadline.
    server = slow_server(delay=0.6)
    _queue(1)

    summary = _send_in_thread(OutboxSender(server.config(tmp_path / "Maildir", timeout=1, deadline=2), rate=0))

    assert summary.sent == 0 and summary.retrying == 1
    assert summary.error == "the server did not finish this message within 2 s"
    (row,) = OutboxMessage.select()
    assert row.status == "queued" and row.attempts == 1 and "within 2 s" in row.last_error
    assert server.accepted == []


def test_a_greeting_that_trickles_ends_outbox_send_with_exit_4_and_keeps_the_mail(db, db_path, slow_server):
    server = slow_server(trickle="greeting", interval=0.1)
    _queue(3)
    database.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENT_PORTAL_")}
    env.update(server.env(timeout=1, deadline=2))

    try:
        result = subprocess.run(
            [sys.executable, "-c", "from tui.cli import main; main()", "--db", str(db_path), "outbox", "send",
             "--rate", "0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    except subprocess.TimeoutExpired:
        pytest.fail("outbox send never gave up on a greeting that trickles")

    assert result.returncode == 4, (result.stdout, result.stderr)
    assert f"error: 127.0.0.1:{server.port}: the server did not answer within 1 s (the mail stays queued)" \
        in result.stderr
    assert "sent 0, failed 0, skipped 0" in result.stdout
    assert {(m.status, m.attempts) for m in OutboxMessage.select()} == {("queued", 0)}  # nothing charged or lost


def test_the_deadline_setting_is_checked(tmp_path):
    from models.errors import InvalidInput

    base = {"CLIENT_PORTAL_SMTP_HOST": "smtp.example.com"}
    assert MailConfig.from_env(tmp_path, base).operation_deadline == 60.0  # twice the 30 s command timeout
    assert MailConfig.from_env(tmp_path, {**base, "CLIENT_PORTAL_SMTP_DEADLINE": "45"}).operation_deadline == 45.0
    for bad in ("0", "-3", "nan", "soon", "601"):
        with pytest.raises(InvalidInput, match="CLIENT_PORTAL_SMTP_DEADLINE must be a number of seconds"):
            MailConfig.from_env(tmp_path, {**base, "CLIENT_PORTAL_SMTP_DEADLINE": bad})
