"""Fixtures for the dashboard's tests: an app factory, a clipboard that behaves like a headless server's, and
`settle`, which waits until every worker has finished and every message it posted has been handled."""

from __future__ import annotations

from pathlib import Path

import pytest

HOSTILE_NAME = "[/x] <a@b> \x1b[31mred\x1b]52;c;aGk=\x07 [link=http://evil]x[/link] [bold]"
"""Markup that would crash or link, an ANSI colour, and an OSC 52 that would set the user's clipboard."""


@pytest.fixture
def headless_clipboard(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`pyperclip.copy` raising as it does on a server with no clipboard; returns the texts it was given."""
    import pyperclip

    attempts: list[str] = []

    def copy(text: str) -> None:
        attempts.append(text)
        raise pyperclip.PyperclipException("could not find a copy/paste mechanism for your system")

    monkeypatch.setattr(pyperclip, "copy", copy)
    return attempts


@pytest.fixture
def portal_app(db, db_path: Path, frozen_clock, headless_clipboard, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch):
    """A factory for the dashboard on the test database (a portal domain set up, the clock frozen).

    Its settings (the theme) are read from and saved to a config directory under tmp_path, never the user's: a
    test that changes the theme would otherwise change every later run's colours.
    """
    from tui.app import ClientPortalApp

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))

    def make() -> ClientPortalApp:
        return ClientPortalApp(db_path)

    return make


@pytest.fixture
def fixed_mail_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The header's mail route reads the same in every run (for snapshots; mail itself goes where it goes)."""
    monkeypatch.setattr(
        "tui.widgets.stats_header.mail_route", lambda data_dir: ("SMTP smtp.example.com:587 (starttls)", True)
    )


@pytest.fixture
def fixed_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit entries recorded as `admin` from no SSH host, whoever runs the tests."""
    from models import audit

    monkeypatch.setattr(audit, "current_actor", lambda: "admin")
    monkeypatch.setattr(audit, "current_host", lambda: None)


async def workers_done(app) -> None:
    """Wait for the running workers. An exclusive worker cancelled by a newer one (typing cancels the previous
    check) makes `wait_for_complete` raise WorkerCancelled: that is the app working as meant, so keep waiting."""
    from textual.worker import WorkerCancelled

    for _ in range(50):
        try:
            await app.workers.wait_for_complete()
            return
        except WorkerCancelled:
            continue


async def settle(pilot, rounds: int = 20) -> None:
    """Wait for every worker and the messages they post, until nothing more is started."""
    from textual.widgets import Input

    app = pilot.app
    idle = 0
    # Idle must hold over several spaced looks: a worker's last message may start another worker (a write
    # posts DataChanged, which reloads the header), and under load that message lands after a single look.
    for _ in range(rounds * 3):
        await workers_done(app)
        await pilot.pause(0.02)
        if any(worker.is_running for worker in app.workers):
            idle = 0
            continue
        idle += 1
        if idle >= 3:
            break
    await _table_loaded(pilot)
    await _header_current(pilot)
    for widget in app.screen.query(Input):
        widget.cursor_blink = False
    # Scrolls are animated: under load one is still on its way when the workers are done.
    await pilot.wait_for_animation()
    await pilot.pause()


async def _table_loaded(pilot, timeout: float = 10.0) -> None:
    """Wait until the contact table holds the window it asked for.

    Its reads run on the reading thread and come back as a message: on a busy machine the worker can look done
    while that message waits, and a key pressed then (`down`) would move a cursor over rows not there yet."""
    import asyncio

    from tui.widgets.contact_table import ContactTable

    main = pilot.app.main_screen
    if main is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for table in main.query(ContactTable):
        while table.busy and loop.time() < deadline:
            await workers_done(pilot.app)
            await pilot.pause(0.02)


async def steady(pilot, looks: int = 3, timeout: float = 10.0) -> None:
    """Wait until the screen draws the same over `looks` consecutive looks, 50 ms apart.

    A snapshot is taken the moment its `run_before` returns; on a loaded machine a repaint that a timer, a
    debounce or a late message asked for can still be on its way, and the snapshot would catch the screen in
    between (the template editor at 80x24 failed so in CI, once in many runs). Every snapshot waits for this
    (`snap_compare` below), so no test has to know which of its repaints come late."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last, same = None, 0
    while same < looks - 1 and loop.time() < deadline:
        await pilot.pause(0.05)
        await pilot.wait_for_scheduled_animations()
        shot = pilot.app.export_screenshot()
        same = same + 1 if shot == last else 0
        last = shot


def still_cursors(app) -> None:
    """Every text box on the screen stops blinking, so a focused box shows its cursor in every run.

    A TextArea caches its lines by a key that leaves out focus once blinking stops: a line cached in the blink's
    off phase was drawn without the cursor ever after, one cached in the on phase with it, so the snapshot held a
    cursor or none by the timer's luck (the template editor at 80x24 failed CI that way twice). The cache is
    emptied with blinking stopped (`notify_style_update` is how Textual empties it on a style change)."""
    from textual.widgets import Input, TextArea

    for box in app.screen.query(Input):
        box.cursor_blink = False
    for area in app.screen.query(TextArea):
        area.cursor_blink = False
        area.notify_style_update()
        area.refresh()


@pytest.fixture
def snap_compare(snap_compare):
    """pytest-textual-snapshot's `snap_compare`, whose `run_before` ends by waiting for a steady screen."""
    import inspect

    def compare(app, *args, run_before=None, **kwargs):
        async def before(pilot) -> None:
            if run_before is not None:
                result = run_before(pilot)
                if inspect.isawaitable(result):
                    await result
            still_cursors(pilot.app)
            await steady(pilot)

        return snap_compare(app, *args, run_before=before, **kwargs)

    return compare


async def _header_current(pilot, timeout: float = 3.0) -> None:
    """Wait until the stats header shows what the database holds now.

    The header reloads on a message that a finished write posts, or on the next `data_version` poll; on a busy
    machine that can land after the workers look idle, and a snapshot would catch the header a moment stale.
    """
    import asyncio

    from tui.widgets.stats_header import StatsHeader, load_header_info

    main = pilot.app.main_screen
    if main is None:
        return
    header = main.query_one(StatsHeader)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        expected = load_header_info(header.data_dir)
        if header.info == expected:
            # A screen under a modal is drawn from what it last painted: repaint it so the snapshot sees the
            # header as it is now.
            header.refresh()
            main.refresh()
            pilot.app.screen.refresh()
            await pilot.pause(0.05)
            return
        await workers_done(pilot.app)
        await pilot.pause(0.05)


async def until(pilot, condition, timeout: float = 10.0) -> None:
    """Wait, letting the app run, until `condition()` holds (a screen pushed, a flag set). For waits that `settle`
    cannot serve: while a worker is meant to stay running (a send held by the SMTP server), idle never comes."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still not true after {timeout} s: {condition.__doc__ or condition}"
        await pilot.pause(0.02)


async def press(pilot, *pressed: str) -> None:
    """Press each key in turn, letting the app settle after each (a key's worker may open the next screen)."""
    for key in pressed:
        await pilot.press(key)
        await settle(pilot)


def keys(*pressed: str):
    """A snapshot's `run_before`: settle, then press each key in turn, settling after each."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        await press(pilot, *pressed)

    return run_before


@pytest.fixture
def snap_app(frozen_clock, fixed_actor, fixed_mail_env, portal_app, monkeypatch):
    """The snapshots' dashboard: 40 sample contacts, a fixed clock, actor, mail route and magic-link token, so every
    run draws the same screen.

    The clock and the actor are fixed before `portal_app` sets up the domain, so its audit entry is fixed too.
    """
    import itertools

    from models import demo, links
    from tui.app import ClientPortalApp

    # A toast shown stays for the snapshot: its 5 seconds ran out before the screenshot in a loaded CI run, and the
    # snapshot missed it ("Unselected 1 contact").
    monkeypatch.setattr(ClientPortalApp, "NOTIFICATION_TIMEOUT", 3600)
    tokens = itertools.count(1)
    monkeypatch.setattr(links.secrets, "token_urlsafe", lambda n: f"T{next(tokens):042d}")
    demo.seed(40)
    return portal_app
