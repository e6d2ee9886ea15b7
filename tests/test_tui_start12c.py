"""The launch holds Python's garbage collector off until the first frame with rows, and always turns it back on:
after that frame, and before the command line when the dashboard is not opened. Checked in the real launcher in
a pseudo-terminal (`tests/test_launch.py`'s `_in_a_terminal`); never timed."""

from __future__ import annotations

import subprocess
import sys

from tests.test_launch import _in_a_terminal


def _noting(path) -> str:
    """Code run before the launcher: note whether the collector runs while the main screen is composed, and at the
    end whether it runs and how many objects the launch froze."""
    return (
        "import atexit, gc\n"
        "from tui.screens.main import MainScreen\n"
        "seen = []\n"
        "compose = MainScreen.compose\n"
        "def noted(self):\n"
        "    seen.append(gc.isenabled())\n"
        "    return compose(self)\n"
        "MainScreen.compose = noted\n"
        f"atexit.register(lambda: open({str(path)!r}, 'w').write(repr((seen, gc.isenabled(), "
        "gc.get_freeze_count() > 0))))\n"
    )


def test_the_collector_is_off_while_the_dashboard_starts_and_on_once_its_rows_are_painted(tmp_path):
    db = tmp_path / "c.db"
    added = subprocess.run([sys.executable, "-c", "from tui.cli import main; main()", "--db", str(db), "contacts",
                            "add", "ada@example.com"], capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr
    noted = tmp_path / "noted.txt"
    # The header's numbers are read after the frame with the first rows, when the collector is turned on again.
    status, written = _in_a_terminal(["--db", str(db)], until=b"Joined", before=_noting(noted))
    assert status == 0, written[-2000:]
    assert b"ada@example.com" in written
    assert noted.read_text() == "([False], True, True)"


def test_the_collector_is_on_again_when_the_command_line_takes_over(tmp_path):
    missing = tmp_path / "no such folder" / "c.db"
    noted = tmp_path / "noted.txt"
    status, written = _in_a_terminal(["--db", str(missing)], before=_noting(noted))
    assert status == 1
    assert b"does not exist" in written
    assert noted.read_text() == "([], True, True)"
