"""`client-portal` opens the dashboard without click (`tui.launch`), and leaves everything else to the click group:
the arguments it takes for itself, the real command in a real pseudo-terminal, and a failure said in click's words."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from tui.launch import dashboard_database

ROOT = Path(__file__).resolve().parent.parent


def test_the_command_is_the_launcher():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["client-portal"] == "tui.launch:main"


def test_only_a_bare_start_or_db_is_taken_without_click(tmp_path, monkeypatch):
    monkeypatch.delenv("CLIENT_PORTAL_DB", raising=False)
    db = str(tmp_path / "c.db")
    assert dashboard_database([]) == (True, None)
    assert dashboard_database(["--db", db]) == (True, db)
    assert dashboard_database([f"--db={db}"]) == (True, db)
    Path(db).write_bytes(b"")
    assert dashboard_database(["--db", db]) == (True, db)  # an existing file: click's Path lets it through too
    for args in (["--db", str(tmp_path)], ["--db", ""], ["--db="], ["--db", "--help"], ["--demo"], ["--help"],
                 ["-h"], ["--version"], ["stats"], ["--db", db, "stats"], ["--db", db, "--db", db], ["--bogus"]):
        assert dashboard_database(args) == (False, None), args


def test_the_variable_stands_in_for_db_and_an_empty_one_goes_to_click(tmp_path, monkeypatch):
    db = str(tmp_path / "c.db")
    monkeypatch.setenv("CLIENT_PORTAL_DB", db)
    assert dashboard_database([]) == (True, db)
    monkeypatch.setenv("CLIENT_PORTAL_DB", str(tmp_path))
    assert dashboard_database([]) == (False, None)  # a folder: click says so
    monkeypatch.setenv("CLIENT_PORTAL_DB", "")
    assert dashboard_database([]) == (False, None)


LAUNCH = "import sys; from tui.launch import main; sys.argv[0] = 'client-portal'; sys.exit(main())"
"""What the `client-portal` script runs."""


def _in_a_terminal(args: list[str], until: bytes = b"", before: str = "", timeout: float = 60.0):
    """Run `client-portal ARGS` (as its script does: `tui.launch.main`, after the code `before`) in a
    pseudo-terminal; once `until` is on screen, press ctrl+q. Returns (exit status, everything it wrote)."""
    master, slave = os.openpty()
    code = before + "\n" + LAUNCH
    environment = {**os.environ, "TERM": "xterm-256color"}
    process = subprocess.Popen([sys.executable, "-c", code, *args], stdin=slave, stdout=slave, stderr=slave,
                               env=environment, start_new_session=True, close_fds=True)
    os.close(slave)
    written, quit_sent = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 1 << 16)
                except OSError:
                    break  # the program ended and closed its side
                if not chunk:
                    break
                written += chunk
            if until and until in written and not quit_sent:
                os.write(master, b"\x11")  # ctrl+q
                quit_sent = True
            if process.poll() is not None and not ready:
                break
        return process.wait(timeout=max(1.0, deadline - time.monotonic())), written
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


def test_the_dashboard_opens_in_a_terminal_without_importing_click(tmp_path):
    db = tmp_path / "c.db"
    added = subprocess.run([sys.executable, "-c", "from tui.cli import main; main()", "--db", str(db), "contacts",
                            "add", "ada@example.com", "--first-name", "Ada", "--last-name", "Lovelace"],
                           capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    seen = tmp_path / "modules.txt"
    note = (f"import atexit; atexit.register(lambda: open({str(seen)!r}, 'w').write("
            "' '.join(m for m in ('click', 'tui.cli', 'tui.cli_common') if m in sys.modules)))")
    status, written = _in_a_terminal(["--db", str(db)], until=b"ada@example.com", before=note)
    assert status == 0, written[-2000:]
    assert b"ada@example.com" in written  # the dashboard drew its first contact
    assert seen.read_text() == ""  # without click or the command line's modules


def test_a_database_that_cannot_be_opened_is_said_as_the_click_group_says_it(tmp_path):
    missing = tmp_path / "no such folder" / "c.db"
    status, written = _in_a_terminal(["--db", str(missing)])
    assert status == 1
    said = written.decode(errors="replace").replace("\r", "")
    assert f"error: the folder {missing.parent} does not exist" in said


def test_the_dashboard_without_a_terminal_is_refused_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-c", LAUNCH, "--db", str(tmp_path / "c.db")], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == ("error: the dashboard needs a terminal; use a subcommand (client-portal --help) in "
                           "scripts\n")


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_everything_else_is_the_click_groups(args):
    done = subprocess.run([sys.executable, "-c", LAUNCH, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "client-portal" in done.stdout
