"""The service as it runs: real uvicorn on a loopback port, `client-portal serve` as a process (sender inside,
SIGTERM ends it cleanly), and `client-portal outbox send --watch`."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from models import contacts, links, outbox, portal
from models.db import database
from portal.serve import bound_port, build_server
from tests.fixtures_browser import free_port
from tests.portal_support import csrf_of, invited

ROOT = Path(__file__).resolve().parent.parent

CLI = [sys.executable, "-c", "from tui.cli import main; main()"]
"""The real command, run from the source tree (whatever the virtualenv's editable install knows)."""


def test_real_uvicorn_serves_a_link_and_logs_no_token(db, db_path, caplog):
    link = invited()
    server = build_server(db_path, host="127.0.0.1", port=0, run_sender=False)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    with caplog.at_level(logging.INFO, logger="portal.access"):
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        base = f"http://127.0.0.1:{bound_port(server)}"
        try:
            with httpx.Client(base_url=base, timeout=10) as client:
                assert client.get("/healthz").text == "ok"
                page = client.get(f"/login/{link.token}")
                assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
                response = client.post(f"/login/{link.token}", data={"csrf": csrf_of(page.text)},
                                       headers={"origin": base})
                assert response.status_code == 200 and "You are signed in, Ada" in response.text
                assert "server" not in response.headers  # uvicorn does not announce itself
        finally:
            server.should_exit = True
            thread.join(20)
    assert not thread.is_alive()
    lines = [r.getMessage() for r in caplog.records if r.name == "portal.access"]
    assert [line.split(" ", 1)[1].rsplit(" ", 1)[0] for line in lines] == [
        '"GET /healthz" 200', '"GET /login/<redacted>" 200', '"POST /login/<redacted>" 200'
    ]
    assert all(line.startswith("127.0.0.1 ") for line in lines)
    assert link.token not in "\n".join(r.getMessage() for r in caplog.records)
    assert contacts.find_contact("ada@example.com").status == "joined"


def _env(db_path: Path, smtp_server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENT_PORTAL_")}
    env.update(smtp_server.env(), CLIENT_PORTAL_DB=str(db_path), PYTHONUNBUFFERED="1")
    return env


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not answer")


def _link_in(message) -> str:
    text = message.get_body(("plain",)).get_content()
    found = re.search(r"https://portal\.example\.com/login/([A-Za-z0-9_-]{43})", text)
    assert found, text
    return found.group(1)


def _stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"SIGTERM did not stop it: {err}") from None
    return proc.returncode, err


def test_serve_sends_queued_mail_serves_its_link_and_stops_on_sigterm(db, db_path, smtp_server):
    portal.invite(["ada@example.com"], first_name="Ada")
    database.close()
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], cwd=ROOT, env=_env(db_path, smtp_server),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_port(port, proc)
        assert smtp_server.handler.wait_for(1, timeout=30), "serve did not send the queued invitation"
        token = _link_in(smtp_server.handler.messages[0].message)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(3):  # a scanner first
                assert client.get(f"/login/{token}").status_code == 200
            page = client.get(f"/login/{token}")
            response = client.post(f"/login/{token}", data={"csrf": csrf_of(page.text)}, headers={"origin": base})
            assert response.status_code == 200 and "You are signed in, Ada" in response.text
    finally:
        code, err = _stop(proc)
    # uvicorn shuts down gracefully, then re-raises the signal so the parent sees why it ended (systemd counts
    # a SIGTERM exit of a service as a clean stop).
    assert code in (0, -signal.SIGTERM), err
    assert '"POST /login/<redacted>" 200' in err and "Application shutdown complete" in err
    assert token not in err
    database.connect(reuse_if_open=True)
    assert contacts.find_contact("ada@example.com").status == "joined"
    assert outbox.outbox_counts()["sent"] == 1


def test_serve_refuses_a_port_in_use_with_a_clear_line(db, db_path, smtp_server):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        database.close()
        result = subprocess.run([*CLI, "serve", "--port", str(port), "--no-sender"], cwd=ROOT,
                                env=_env(db_path, smtp_server), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "address already in use" in result.stderr.lower()


def test_outbox_send_watch_keeps_sending_until_sigterm(db, db_path, smtp_server):
    ada = invited("ada@example.com", purpose="login")
    outbox.queue_login_emails([ada.contact.id])
    database.close()
    proc = subprocess.Popen([*CLI, "outbox", "send", "--watch"], cwd=ROOT, env=_env(db_path, smtp_server),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The invitation and the login email queued before it started...
        assert smtp_server.handler.wait_for(2, timeout=30), "--watch did not send what was queued"
        # ...and mail queued while it runs (by another process: here, this test).
        database.connect(reuse_if_open=True)
        grace = invited("grace@example.com", first_name="Grace")
        database.close()
        assert smtp_server.handler.wait_for(3, timeout=30), "--watch did not send mail queued later"
        assert grace.contact.email in smtp_server.handler.by_recipient()
    finally:
        code, err = _stop(proc)
    assert code == 0, err
    assert "stopped" in err


def test_watch_takes_no_other_option(cli):
    result = cli("outbox", "send", "--watch", "--once")
    assert result.exit_code == 2 and "--watch" in result.stderr


@pytest.mark.parametrize("args", [["--trusted-proxy", "nonsense"], ["--trusted-proxy", "none", "--trusted-proxy", "10.0.0.1"],
                                  ["--port", "70000"]])
def test_serve_refuses_bad_options(cli, args):
    result = cli("serve", *args)
    assert result.exit_code == 2 and result.stderr.strip().splitlines()[0].startswith("error: invalid value")


def _readme_client() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("A callback in Python")
    block = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert block, "the README's example client is missing"
    return block.group(1)


def test_the_readme_example_client_exchanges_a_code_against_real_uvicorn(db, db_path, monkeypatch):
    """The handoff contract as documented: the README's client code, run as it is, against the real service."""
    from models import api_keys, settings

    settings.set_value("portal_callback_url", "http://127.0.0.1:9/auth/callback")
    monkeypatch.setenv("CLIENT_PORTAL_API_KEY", api_keys.create_key("docs").key)
    link = invited()
    server = build_server(db_path, host="127.0.0.1", port=0, run_sender=False)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.02)
        base = f"http://127.0.0.1:{bound_port(server)}"
        with httpx.Client(base_url=base, timeout=10) as client:
            page = client.get(f"/login/{link.token}")
            response = client.post(f"/login/{link.token}", data={"csrf": csrf_of(page.text)},
                                   headers={"origin": base})
        assert response.status_code == 303
        code = response.headers["location"].split("?code=")[1]
        namespace: dict = {}
        exec(compile(_readme_client(), "README.md", "exec"), namespace)  # noqa: S102 -- our own documentation
        namespace["PORTAL_SERVICE"] = base  # the README's names the agency's https address
        found = namespace["exchange"](code)
        assert found["contact"]["email"] == "ada@example.com" and found["purpose"] == "invite"
        assert namespace["exchange"](code) is None  # once only
    finally:
        server.should_exit = True
        thread.join(20)
