"""Kill -9 of the sender mid-batch, then a restart: nobody is missed, at most one email goes twice (same Message-ID).

The sender runs as the real `client-portal outbox send` in a subprocess against the real SMTP server of
tests/fixtures_smtp.py; the test kills it with SIGKILL, reaps it, and runs the command again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from models import contacts, outbox
from models.db import database
from models.entities import OutboxMessage

ROOT = Path(__file__).resolve().parent.parent
BATCH_SIZE = 200

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def _queue(n: int) -> str:
    ids = [contacts.add_contact(f"client{i:03d}@example.com", f"First{i}").id for i in range(n)]
    return outbox.queue_login_emails(ids).batch


def _sender(db_path: Path, server) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENT_PORTAL_")}
    env.update(server.env(timeout=10))
    command = [sys.executable, "-c", "from tui.cli import main; main()", "--db", str(db_path),
               "outbox", "send", "--once", "--rate", "0"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)  # reaped: its pid is gone, as after a real crash


def _restart_and_check(db_path: Path, server, batch: str) -> dict[str, list]:
    again = _sender(db_path, server)
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    database.close()  # read what the other process committed
    rows = {m.contact.email: m for m in OutboxMessage.select().where(OutboxMessage.batch == batch)}
    assert {m.status for m in rows.values()} == {"sent"}
    received = server.handler.by_recipient()
    assert sorted(received) == sorted(rows)  # every recipient got mail
    for address, messages in received.items():
        assert {r.message["Message-ID"] for r in messages} == {rows[address].message_id}
    counts = Counter(len(messages) for messages in received.values())
    assert set(counts) <= {1, 2} and counts[2] <= 1, counts  # at most the one in flight went twice
    return received


def test_kill_while_a_message_is_in_flight_resends_only_that_one(db, db_path, smtp_server):
    batch = _queue(BATCH_SIZE)
    handler = smtp_server.handler
    handler.hold(120)  # the server keeps message 120 and does not answer: the sender waits, mid-DATA
    proc = _sender(db_path, smtp_server)
    assert handler.holding.wait(timeout=60), proc.stderr.read() if proc.poll() is not None else "no message 120"

    _kill(proc)
    handler.release()

    in_flight = handler.messages[119]
    (address,) = in_flight.rcpt_tos
    database.close()
    statuses = Counter(m.status for m in OutboxMessage.select())
    assert statuses["sent"] == 119
    row = OutboxMessage.get(OutboxMessage.message_id == in_flight.message["Message-ID"])
    assert row.status == "sending" and row.claimed_by.endswith(f":{proc.pid}")

    received = _restart_and_check(db_path, smtp_server, batch)

    twice = [a for a, messages in received.items() if len(messages) == 2]
    assert twice == [address]
    assert OutboxMessage.get_by_id(row.id).attempts == 2
    assert len(handler.messages) == BATCH_SIZE + 1


def test_kill_at_an_arbitrary_moment_loses_nothing(db, db_path, smtp_server):
    batch = _queue(BATCH_SIZE)
    proc = _sender(db_path, smtp_server)
    assert smtp_server.handler.wait_for(70, timeout=60)
    _kill(proc)

    _restart_and_check(db_path, smtp_server, batch)
