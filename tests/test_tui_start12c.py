"""What the dashboard's start does less of, counted and never timed: the launch holds Python's garbage collector
off until the first frame with rows and always turns it back on (after that frame, and before the command line
when the dashboard is not opened), checked in the real launcher in a pseudo-terminal; the main screen's widgets
are styled once before the first frame, and styled right."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from textual.app import App
from textual.screen import Screen

from models import demo
from tests.fixtures_tui import settle
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


def _styles(screen) -> dict:
    """Every node's computed CSS and, for those with component classes, each class's style."""
    out = {}
    for node in screen.walk_children(with_self=True):
        components = tuple((name, str(node.get_component_rich_style(name, partial=True)))
                           for name in sorted(node.COMPONENT_CLASSES))
        out[(type(node).__name__, node.id)] = (node.styles.css, str(node.rich_style), components)
    return out


@pytest.mark.parametrize("theme", [None, "textual-light"])
async def test_the_first_frame_is_styled_once_and_as_a_full_restyle_styles_it(portal_app, tmp_path, monkeypatch,
                                                                              theme):
    """The main screen's widgets are styled as they are mounted, and not all again when the screen is first shown
    (Textual's `ScreenResume` restyle): what they show is what a full restyle gives, with a saved theme too."""
    demo.seed(30)
    if theme is not None:
        folder = tmp_path / "config" / "client-portal"
        folder.mkdir(parents=True)
        (folder / "tui.json").write_text(json.dumps({"theme": theme}))
    whole_screen: list[str] = []
    update_styles = App.update_styles

    def counted(self, node, animate=True):
        if isinstance(node, Screen):
            whole_screen.append(type(node).__name__)
        return update_styles(self, node, animate)

    monkeypatch.setattr(App, "update_styles", counted)
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one("#contacts")
        for _ in range(2000):
            if table.row_count:
                break
            await asyncio.sleep(0.005)
        assert table.row_count
        assert app.theme == (theme or "textual-dark")
        restyled_before_rows = list(whole_screen)
        await settle(pilot)
        shown = _styles(app.screen)
        app.update_styles(app.screen, animate=False)
        assert _styles(app.screen) == shown
    assert restyled_before_rows == []


def test_the_command_lines_way_in_holds_and_releases_the_collector_too(tmp_path):
    """`--demo` and a start `tui.launch` leaves to the click group (here `--db` given twice, which click takes as
    the last one) open the dashboard through `tui.cli`, with the same hold and release."""
    db = tmp_path / "c.db"
    added = subprocess.run([sys.executable, "-c", "from tui.cli import main; main()", "--db", str(db), "contacts",
                            "add", "ada@example.com"], capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr
    noted = tmp_path / "noted.txt"
    status, written = _in_a_terminal(["--db", str(db), "--db", str(db)], until=b"Joined", before=_noting(noted))
    assert status == 0, written[-2000:]
    assert b"ada@example.com" in written
    assert noted.read_text() == "([False], True, True)"
