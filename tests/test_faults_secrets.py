"""Secrets at rest: the SMTP password and every raw token stay out of the database files, which are 0600 (issue 5).

Everything runs through the real `client-portal` command in its own processes, logging in to a real aiosmtpd on
loopback with CLIENT_PORTAL_SMTP_PASSWORD, while this process keeps a connection open so the -wal and -shm
files (where fresh writes sit before a checkpoint) exist and are scanned too.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from models import contacts
from models.db import database
from tests.fixtures_smtp import Authenticator, start_server

ROOT = Path(__file__).resolve().parent.parent
TOKEN = re.compile(r"/login/([A-Za-z0-9_-]{20,})")
USER = "mailer@agency.example"


@pytest.fixture
def auth_server():
    """aiosmtpd that asks for a login (over plain SMTP, as a local relay might) with a random password."""
    password = "pw-" + secrets.token_urlsafe(24)
    auth = Authenticator(USER, password)
    controller, server = start_server(authenticator=auth, auth_require_tls=False)
    try:
        yield server, auth, password
    finally:
        server.handler.release()
        controller.stop()


def _run(db_path: Path, env: dict[str, str], *args: str, exit_code: int = 0) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLIENT_PORTAL_")}
    result = subprocess.run([sys.executable, "-c", "from tui.cli import main; main()", "--db", str(db_path), *args],
                            cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120)
    assert result.returncode == exit_code, (args, result.stdout, result.stderr)
    return result


def test_no_password_or_raw_token_in_any_database_file_and_every_file_is_0600(db, db_path, auth_server):
    server, auth, password = auth_server
    env = {**server.env(timeout=10), "CLIENT_PORTAL_SMTP_USER": USER, "CLIENT_PORTAL_SMTP_PASSWORD": password}
    old_umask = os.umask(0o022)  # the usual umask: files would be 0644 unless the product says otherwise
    try:
        for n in range(5):
            contacts.add_contact(f"client{n}@example.com", f"First{n}")
        server.handler.reject("client4@example.com")  # a refusal's reply is stored as last_error
        _run(db_path, env, "invite", *(f"client{n}@example.com" for n in range(5)), "new@example.com")
        _run(db_path, env, "outbox", "send", "--once", "--rate", "0", exit_code=3)  # 3: client4 failed
        _run(db_path, env, "login-email", "client0@example.com", "client1@example.com")
        _run(db_path, env, "outbox", "send", "--once", "--rate", "0")
        printed = _run(db_path, env, "magic-link", "client2@example.com").stdout
    finally:
        os.umask(old_umask)

    assert auth.attempts and all(attempt == (USER, password) for attempt in auth.attempts)
    bodies = [r.raw.decode("utf-8", "replace").replace("=\r\n", "").replace("=\n", "")  # undo soft line breaks
              for r in server.handler.messages]
    tokens = [m.group(1) for m in map(TOKEN.search, bodies) if m] + TOKEN.findall(printed)
    assert len(server.handler.messages) == 7 and len(tokens) == 8, (len(server.handler.messages), tokens)

    # This process's connection is still open: the WAL and the shared-memory index are on disk with the rest.
    files = sorted(db_path.parent.glob(db_path.name + "*"))
    assert {f.name for f in files} >= {"portal.db", "portal.db-wal", "portal.db-shm"}, files
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path
        raw = path.read_bytes()
        for secret in (password, *tokens):
            for form in (secret.encode(), secret.encode("utf-16-le")):
                assert form not in raw, f"{path.name} holds a secret"
    database.close()
