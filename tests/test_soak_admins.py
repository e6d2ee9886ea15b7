"""Many admins at once: two dashboards and the CLI, each in its own process, on one database file (issue 5).

Two headless dashboards (tests/dashboard_driver.py) invite new addresses and send, copy and revoke magic links
and send login emails, while CLI processes invite, revoke and run `outbox send --once`, all mailing a real
aiosmtpd on loopback. Afterwards: nobody saw `database is locked`, no Message-ID arrived twice, every outbox row
is sent (or skipped because its contact was revoked) and matches what the server received, and both dashboards'
headers show exactly what `client-portal stats --json` says.

About 10 s of activity by default (25 s in all); `CLIENT_PORTAL_SOAK_SECONDS=300` runs five minutes of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from models.db import database
from models.entities import Contact, OutboxMessage

ROOT = Path(__file__).resolve().parent.parent
SOAK_SECONDS = float(os.environ.get("CLIENT_PORTAL_SOAK_SECONDS", "10"))
"""How long the admins keep working (start-up and the final checks add 10-15 s)."""

pytestmark = pytest.mark.soak


def _env(server) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLIENT_PORTAL_")}
    return {**base, **server.env(timeout=20)}


def _cli(db_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from tui.cli import main; main()", "--db", str(db_path), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _cli_admin(db_path: Path, env: dict[str, str], until: float, results: list) -> None:
    """A third admin at the command line: invite, revoke, send the outbox, again and again."""
    n = 0
    while time.monotonic() < until:
        n += 1
        commands = [("invite", f"cli-{n}@example.com"), ("outbox", "send", "--once", "--rate", "0")]
        if n % 3 == 0:
            commands.insert(1, ("revoke", f"cli-{n - 1}@example.com"))
        for command in commands:
            results.append((command, _cli(db_path, env, *command)))


def test_two_dashboards_and_the_cli_on_one_database(db, db_path, smtp_server, tmp_path):
    from models import contacts

    for n in range(5):  # someone to highlight from the start
        contacts.add_contact(f"seed-{n}@example.com", f"Seed{n}")
    database.close()
    env = _env(smtp_server)
    done = tmp_path / "done"
    drivers = {
        name: subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "dashboard_driver.py"), "--db", str(db_path), "--name", name,
             "--seconds", str(SOAK_SECONDS), "--seed", str(seed), "--done", str(done)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for seed, name in enumerate(("dash-a", "dash-b"))
    }
    cli_results: list = []
    cli = threading.Thread(target=_cli_admin, args=(db_path, env, time.monotonic() + SOAK_SECONDS, cli_results))
    cli.start()
    try:
        cli.join(timeout=SOAK_SECONDS + 180)
        # Wait until both dashboards stopped writing, then send whatever is still queued, then let them look.
        for name, proc in drivers.items():
            marker = Path(f"{done}.{name}")
            hang_guard = time.monotonic() + SOAK_SECONDS + 180
            while not marker.exists() and proc.poll() is None and time.monotonic() < hang_guard:
                time.sleep(0.1)
            assert marker.exists(), (name, proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
        final = _cli(db_path, env, "outbox", "send", "--once", "--rate", "0")
        cli_results.append((("outbox", "send", "--once"), final))
        done.touch()
        outputs = {name: proc.communicate(timeout=120) for name, proc in drivers.items()}
    finally:
        for proc in drivers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    # Nobody saw `database is locked`, and every CLI command worked.
    for command, result in cli_results:
        assert "locked" not in (result.stdout + result.stderr).lower(), (command, result.stderr)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    reports = {}
    for name, (out, err) in outputs.items():
        assert drivers[name].returncode == 0, (name, err[-3000:])
        reports[name] = json.loads(out.strip().splitlines()[-1])
        messages = [n["message"] for n in reports[name]["notifications"]]
        assert not [m for m in messages if "locked" in m.lower()], (name, messages)
        assert "locked" not in err.lower(), (name, err[-3000:])
        assert sum(reports[name]["actions"].values()) > 0, reports[name]

    # No lost update: every invitation any admin made is there.
    emails = {c.email for c in Contact.select(Contact.email)}
    invited_by_cli = {command[1] for command, result in cli_results if command[0] == "invite"}
    assert invited_by_cli <= emails, invited_by_cli - emails
    for name, report in reports.items():
        made = {e for e in emails if e.startswith(f"{name}-")}
        actions = report["actions"]
        assert actions.get("invite_done", 0) <= len(made) <= actions.get("invite", 0), (name, made, actions)

    # No double send; every row sent (or skipped: its contact was revoked) and what was sent is what arrived.
    received = Counter(r.message["Message-ID"] for r in smtp_server.handler.messages)
    assert not [mid for mid, count in received.items() if count > 1], received.most_common(3)
    rows = list(OutboxMessage.select())
    assert rows and {r.status for r in rows} <= {"sent", "skipped"}, Counter(r.status for r in rows)
    assert {r.message_id for r in rows if r.status == "sent"} == set(received)
    database.close()

    # Both dashboards agree with the database.
    stats = json.loads(_cli(db_path, env, "stats", "--json").stdout)
    for name, report in reports.items():
        assert report["stats"] == stats, (name, report["stats"], stats)
    print(f"admins soak: {len(rows)} outbox rows, {len(received)} messages, "
          + ", ".join(f"{name}: {r['actions']}" for name, r in reports.items()))
