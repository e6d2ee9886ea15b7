"""`client-portal web` as an admin runs it: its own process, the URL it prints, `--print-url` from another
process, a clean stop on SIGTERM, and one line for each bad start."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.fixtures_browser import free_port
from tests.test_web_auth import sign_in
from tui import web

CLI = [sys.executable, "-c", "from tui.cli import main; main(prog_name='client-portal')"]


def run_cli(db_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "--db", str(db_path), *args], capture_output=True, text=True, timeout=60)


def first_url(process: subprocess.Popen, printed: list[str] | None = None) -> str:
    """The one-time URL `client-portal web` prints, read from its output (each line read goes to `printed`)."""
    url = ""
    deadline = time.monotonic() + 60
    while not url and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if printed is not None:
            printed.append(line)
        if "?token=" in line:
            url = line.strip()
    assert url, process.stderr.read() if process.poll() is not None else "no URL printed"
    return url


@pytest.fixture
def web_process(db, db_path: Path):
    """`client-portal web --port P` running; yields (process, first URL)."""
    port = free_port()
    process = subprocess.Popen([*CLI, "--db", str(db_path), "web", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process, first_url(process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


async def test_the_command_prints_a_url_print_url_adds_one_and_sigterm_cleans_up(web_process, db_path):
    process, url = web_process
    assert url.startswith("http://127.0.0.1:")
    state = web.state_path(db_path.resolve())
    assert state.exists()

    printed = run_cli(db_path, "web", "--print-url")
    assert printed.returncode == 0, printed.stderr
    second_url = printed.stdout.strip()
    assert second_url.split("?token=")[0] == url.split("?token=")[0] and second_url != url
    async with aiohttp.ClientSession() as http:
        await sign_in(http, url)
        await sign_in(http, second_url)

    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert not state.exists()
    stopped = run_cli(db_path, "web", "--print-url")
    assert stopped.returncode == 1
    assert stopped.stderr.strip() == ("error: no web server is running for portal.db; "
                                      "start one with `client-portal web`")


def test_a_second_server_on_the_same_database_says_which_one_runs(web_process, db_path):
    process, url = web_process
    again = run_cli(db_path, "web", "--port", str(free_port()))
    assert again.returncode == 1
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and "already running" in lines[0] and f"pid {process.pid}" in lines[0]


def test_a_port_in_use_and_a_bad_public_url_are_one_line_each(db, db_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_cli(db_path, "web", "--port", str(port))
    assert busy.returncode == 1
    assert busy.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1 port {port}: address already in use; choose another with --port"]
    assert not web.state_path(db_path.resolve()).exists()

    bad = run_cli(db_path, "web", "--port", "0", "--public-url", "dash.example.com/admin")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "error: --public-url must look like https://dash.example.com (no path), not 'dash.example.com/admin'"]


def test_listening_beyond_loopback_over_plain_http_warns(db, db_path):
    """192.0.2.1 (a documentation address) is no address of this machine: the bind fails at once, after the
    warning, so nothing is served beyond loopback."""
    result = run_cli(db_path, "web", "--host", "192.0.2.1", "--port", str(free_port()))
    assert result.returncode == 1
    warning, error = result.stderr.strip().splitlines()
    assert warning.startswith("warning: listening on 192.0.2.1 over plain http: the session cookie crosses")
    assert error.startswith("error: cannot listen on 192.0.2.1 port ") and error.endswith("; check --host")
