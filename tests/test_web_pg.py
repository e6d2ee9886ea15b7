"""`client-portal web --db postgresql://…`: the URL reaches every dashboard process unchanged (through its
environment), and a password in it shows in no printed line, no log line and no page."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest

from models import contacts
from tests.fixtures_browser import free_port
from tests.test_web_auth import TerminalSession, sign_in
from tests.test_web_cli import CLI, first_url
from tui import web

PASSWORD = "Sekr3t-pw_x9"
_roles = itertools.count(1)


def test_a_server_url_is_kept_as_given_and_its_password_is_not_on_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = f"postgresql://admin:{PASSWORD}@db.example.com:6543/portal"
    server = web.DashboardServer(url, port=0)
    assert server.db_path == url  # not made a path
    assert server.database_environment == {"CLIENT_PORTAL_DB": url}
    assert PASSWORD not in server.command and "--db" not in server.command and "postgresql" not in server.command
    state = web.state_path(web.database_target(url))
    assert state.parent == tmp_path / "data" / "client-portal" and state.parent.is_dir()
    assert state.name == "postgresql-admin@db.example.com-6543-portal.web" and PASSWORD not in str(state)
    # A file is still served by its absolute path, with its state file beside it.
    relative = web.DashboardServer("portal.db", port=0)
    assert relative.db_path == Path("portal.db").resolve() and relative.database_environment == {}
    assert f"--db {relative.db_path}" in relative.command
    assert web.state_path(relative.db_path) == relative.db_path.with_name("portal.db.web")


@pytest.fixture
def password_url(db, db_path, pg_server) -> str:
    """The test database's URL for a role that must give its password (which is in the URL)."""
    role = f"web_{os.getpid()}_{next(_roles)}"
    pg_server.admin(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{PASSWORD}' IN ROLE password_login")
    return pg_server.url(db_path.rsplit("/", 1)[-1], user=role, password=PASSWORD)


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_web_serves_the_dashboard_of_a_postgresql_database(password_url, tmp_path, monkeypatch, caplog):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    # What the server's own environment names is not what its dashboards open: --db is.
    monkeypatch.setenv("CLIENT_PORTAL_DB", str(tmp_path / "elsewhere.db"))
    caplog.set_level(logging.DEBUG)
    port = free_port()
    process = subprocess.Popen([*CLI, "--db", password_url, "web", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    printed: list[str] = []
    try:
        url = first_url(process, printed)
        printed.append(process.stdout.readline())  # the "Another browser" line
        assert f"--db '{password_url.replace(PASSWORD, '***')}' web --print-url" in printed[-1]
        shown = password_url.replace(PASSWORD, "***")
        assert printed[0].strip() == f"Serving the dashboard of {shown}"

        printed_again = subprocess.run([*CLI, "--db", password_url, "web", "--print-url"], capture_output=True,
                                       text=True, timeout=60)
        assert printed_again.returncode == 0, printed_again.stderr
        assert printed_again.stdout.split("?token=")[0] == url.split("?token=")[0]

        async with aiohttp.ClientSession() as http:
            cookie = await sign_in(http, url)
            async with http.get(f"http://127.0.0.1:{port}/", headers={"Cookie": f"{web.COOKIE}={cookie}"}) as page:
                assert page.status == 200
                body = await page.text()
            target = SimpleNamespace(ws_url=f"ws://127.0.0.1:{port}/ws", base=f"http://127.0.0.1:{port}")
            session = await TerminalSession.open(http, target, cookie)
            try:  # the dashboard process opened the PostgreSQL database (not the environment's file)
                drawn = await session.wait_for("ada@example.com", "of 1 contact")
            finally:
                await session.close()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    rest_out, errors = process.communicate(timeout=10)
    for text in (*printed, rest_out, errors, body, drawn, caplog.text, printed_again.stdout, printed_again.stderr):
        assert PASSWORD not in text
    assert not web.state_path(web.database_target(password_url)).exists()  # removed when the server stopped
