"""What a demanding user's trial of `client-portal serve` found (session 21), kept fixed: the real command in a
process of its own, on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from models import outbox, portal
from models.db import database

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from tui.cli import main; main()"]


def _serve(db_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENT_PORTAL_")}
    env.update(CLIENT_PORTAL_DB=str(db_path), PYTHONUNBUFFERED="1")  # no SMTP: mail would go to the Maildir
    return subprocess.run([*CLI, "serve", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_a_port_in_use_is_one_line_and_nothing_starts(db, db_path):
    portal.invite(["ada@example.com"], first_name="Ada")  # mail a sender would send at once
    database.close()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _serve(db_path, "--port", str(port))
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"error: cannot listen on 127.0.0.1 port {port}: address already in use; choose another with --port"]
    # The app and its sender never started for a server that could not run (they used to, then stopped).
    database.connect(reuse_if_open=True)
    assert outbox.outbox_counts()["queued"] == 1


@pytest.mark.parametrize("host", ["999.1.1.1", "no-such-host.invalid"])
def test_an_address_that_is_not_ours_is_one_line(db_path, host):
    result = _serve(db_path, "--host", host, "--port", "0", "--no-sender")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot listen on {host} port 0: "), lines
    assert lines[0].endswith("; check --host")


@pytest.mark.parametrize(("host", "family"), [("127.0.0.1", socket.AF_INET), ("localhost", socket.AF_INET),
                                              ("::1", socket.AF_INET6)])
def test_the_socket_family_is_the_one_uvicorn_would_pick(host, family):
    # `--host localhost` must stay on 127.0.0.1 (where the proxy examples connect), whatever order the resolver
    # gives ::1 and 127.0.0.1 in: only an address with a colon is IPv6.
    from portal.serve import listen

    with listen(host, 0) as sock:
        assert sock.family == family and sock.getsockname()[1] > 0
