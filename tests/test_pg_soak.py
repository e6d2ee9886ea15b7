"""A team on one PostgreSQL server: two dashboards, two outbox senders and a CLI admin at once, for a minute.

Two headless dashboards (tests/dashboard_driver.py) invite new addresses and send, copy and revoke magic links
and send login emails; two `client-portal outbox send --watch` processes (what `serve` runs on each host) send
whatever falls due to one real aiosmtpd; a CLI admin invites batches of addresses, sends login emails and
revokes access. Afterwards: no Message-ID reached the server twice (the senders' `FOR UPDATE SKIP LOCKED` claims),
both senders did send, every outbox row is sent (or skipped: its contact was revoked) and is what the server
received, every change any admin made is there, and both dashboards' headers show what `stats --json` says.

A minute of activity (what CI runs); `CLIENT_PORTAL_PG_SOAK_SECONDS=10` shortens it for a local run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOAK_SECONDS = float(os.environ.get("CLIENT_PORTAL_PG_SOAK_SECONDS", "60"))
"""How long the admins keep working (start-up and the final checks add about 20 s)."""

pytestmark = pytest.mark.soak


def _env(server, url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLIENT_PORTAL_")}
    return {**base, **server.env(timeout=20), "CLIENT_PORTAL_DB": url}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from tui.cli import main; main()", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _cli_admin(env: dict[str, str], until: float, results: list) -> None:
    """A third admin at the command line: invite a batch, send login emails, revoke, again and again."""
    n = 0
    while time.monotonic() < until:
        n += 1
        batch = [f"cli-{n}-{k}@example.com" for k in range(10)]
        commands = [("invite", *batch), ("login-email", batch[0], batch[1])]
        if n % 3 == 0:
            commands.append(("revoke", f"cli-{n - 1}-0@example.com"))
        for command in commands:
            results.append((command, _cli(env, *command)))


def _sender(env: dict[str, str], name: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from tui.cli import main; main()", "outbox", "send", "--watch"],
        cwd=ROOT, env={**env, "HOSTNAME": name}, stdout=subprocess.DEVNULL, stderr=log.open("w"),
        start_new_session=True,
    )


def _outstanding(env: dict[str, str]) -> int:
    stats = json.loads(_cli(env, "stats", "--json").stdout)
    return stats["outbox_queued"] + stats["outbox_sending"]


def test_two_dashboards_two_senders_and_the_cli_on_one_server(pg_url, smtp_server, tmp_path):
    from models import contacts, domains, settings
    from models.db import database, open_database

    open_database(pg_url)
    domains.add_domain("portal.example.com")
    # A sender claims up to twice the send rate at once: at 3 a second, a batch of 10 the CLI queues is shared
    # between the two senders (one claims 6 and the other what is left), rather than taken whole by one.
    settings.set_value("send_rate", "3")
    for n in range(5):  # someone to highlight from the start
        contacts.add_contact(f"seed-{n}@example.com", f"Seed{n}")
    contacts.add_contact("hostile@example.com", "[/x] <a@b> \x1b[31m", "Name")
    database.close()
    env = _env(smtp_server, pg_url)
    done = tmp_path / "done"
    senders = {name: _sender(env, name, tmp_path / f"{name}.log") for name in ("sender-a", "sender-b")}
    drivers = {
        name: subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "dashboard_driver.py"), "--db", pg_url, "--name", name,
             "--seconds", str(SOAK_SECONDS), "--seed", str(seed), "--done", str(done)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for seed, name in enumerate(("dash-a", "dash-b"))
    }
    cli_results: list = []
    cli = threading.Thread(target=_cli_admin, args=(env, time.monotonic() + SOAK_SECONDS, cli_results))
    cli.start()
    try:
        cli.join(timeout=SOAK_SECONDS + 180)
        for name, proc in drivers.items():  # both dashboards stopped writing
            marker = Path(f"{done}.{name}")
            hang_guard = time.monotonic() + SOAK_SECONDS + 180
            while not marker.exists() and proc.poll() is None and time.monotonic() < hang_guard:
                time.sleep(0.1)
            assert marker.exists(), (name, proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
        drain_guard = time.monotonic() + 120  # the watching senders send what is still queued
        while _outstanding(env) and time.monotonic() < drain_guard:
            time.sleep(0.5)
        assert not [name for name, proc in senders.items() if proc.poll() is not None], "a sender died"
        for proc in senders.values():
            proc.send_signal(signal.SIGTERM)
        for proc in senders.values():
            proc.wait(timeout=60)
        done.touch()
        outputs = {name: proc.communicate(timeout=120) for name, proc in drivers.items()}
    finally:
        for proc in [*drivers.values(), *senders.values()]:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    logs = {name: (tmp_path / f"{name}.log").read_text() for name in senders}
    for command, result in cli_results:
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    for name, proc in senders.items():
        assert proc.returncode == 0, (name, logs[name][-3000:])
        assert "Traceback" not in logs[name], (name, logs[name][-3000:])
    reports = {}
    for name, (out, err) in outputs.items():
        assert drivers[name].returncode == 0, (name, err[-3000:])
        reports[name] = json.loads(out.strip().splitlines()[-1])
        errors = [n["message"] for n in reports[name]["notifications"] if n["severity"] == "error"]
        assert not errors, (name, errors)
        assert sum(reports[name]["actions"].values()) > 0, reports[name]

    from models.entities import Contact, OutboxMessage

    open_database(pg_url)
    try:
        # No lost update: every invitation and revocation any admin made is there.
        found = {c.email: c.status for c in Contact.select(Contact.email, Contact.status)}
        for command, _ in cli_results:
            if command[0] == "invite":
                assert set(command[1:]) <= set(found), set(command[1:]) - set(found)
            if command[0] == "revoke":
                assert found[command[1]] == "revoked", command
        for name, report in reports.items():
            made = {e for e in found if e.startswith(f"{name}-")}
            actions = report["actions"]
            assert actions.get("invite_done", 0) <= len(made) <= actions.get("invite", 0), (name, made, actions)

        # No double send, both senders sent, and what was sent is what arrived.
        received = Counter(r.message["Message-ID"] for r in smtp_server.handler.messages)
        assert not [mid for mid, count in received.items() if count > 1], received.most_common(3)
        rows = list(OutboxMessage.select())
        assert rows and {r.status for r in rows} <= {"sent", "skipped"}, Counter(r.status for r in rows)
        assert {r.message_id for r in rows if r.status == "sent"} == set(received)
    finally:
        database.close()

    # Both watching senders took part (each log line is one pass: "sent N, failed N, skipped N").
    by_sender = {name: sum(int(m) for m in re.findall(r"^sent (\d+), failed", log, re.MULTILINE))
                 for name, log in logs.items()}
    assert all(by_sender.values()), (by_sender, logs)

    # Both dashboards agree with the database.
    stats = json.loads(_cli(env, "stats", "--json").stdout)
    for name, report in reports.items():
        assert report["stats"] == stats, (name, report["stats"], stats)
    print(f"pg soak ({SOAK_SECONDS:.0f} s): {len(rows)} outbox rows, {len(received)} messages, by sender "
          f"{dict(by_sender)}; " + ", ".join(f"{name}: {r['actions']}" for name, r in reports.items()))
