"""Live refresh through the app's change waiter (`tui.change_waiter`), on both engines: another process's change
shows on a running dashboard with no poll timer, the waiter stops on dismiss and on quit, and a lost server
connection is one line, then live refresh comes back on its own."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from datetime import timedelta

from models import contacts, demo, heartbeat
from models import db as dbmod
from models.outbox import queue_login_emails
from tests.fixtures_tui import settle
from tui.change_waiter import ChangeWaiter, unwatch_changes, waiter_for, watch_changes
from tui.screens.contact_detail import ContactDetailScreen
from tui.screens.main import MainScreen
from tui.widgets.contact_table import ContactTable
from tui.widgets.stats_header import StatsHeader

BOTH = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)


def client_portal(db_path, *args: str) -> subprocess.CompletedProcess:
    """The real command in a process of its own: another admin."""
    return subprocess.run(
        [sys.executable, "-c", "from tui.cli import main; main()", "--db", str(db_path), *args],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent,
    )


def short_repeating_timers(app) -> list:
    """The running timers of the screens' widgets that fire more often than the sender's heartbeat (a poll)."""
    found = []
    for screen in app.screen_stack:
        for node in screen.walk_children(with_self=True):
            for timer in list(node._timers):
                repeats = timer._repeat != 0  # set_timer's one-shot has 0; set_interval's None (forever) or a count
                if repeats and timer._active.is_set() and timer._interval < heartbeat.BEAT_SECONDS:
                    found.append((node, timer.name, timer._callback))
    return found


@pytest.fixture
def token_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Which thread reads the change token or waits on it: (function, thread name), as they happen."""
    seen: list[tuple[str, str]] = []
    real_token, real_wait = dbmod.changes_token, dbmod.wait_for_change

    def changes_token():
        seen.append(("changes_token", threading.current_thread().name))
        return real_token()

    def wait_for_change(token, timeout):
        seen.append(("wait_for_change", threading.current_thread().name))
        return real_wait(token, timeout)

    monkeypatch.setattr(dbmod, "changes_token", changes_token)
    monkeypatch.setattr(dbmod, "wait_for_change", wait_for_change)
    return seen


async def wait_until(pilot, condition, seconds: float = 30.0) -> bool:
    """Let the app run until `condition()` holds (False if it never did)."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return True
        await pilot.pause(0.05)
    return condition()


@BOTH
async def test_another_process_change_arrives_through_the_waiter_with_no_poll_timer(portal_app, db_path,
                                                                                      token_reads):
    demo.seed(20)
    app = portal_app()
    changed_messages: list[ChangeWaiter.Changed] = []

    def hook(message) -> None:
        if isinstance(message, ChangeWaiter.Changed):
            changed_messages.append(message)

    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ContactTable)
        assert table.total == 20
        assert short_repeating_timers(app) == []  # nothing reads the database on a timer
        waiter = waiter_for(app)
        assert waiter.running
        seen_before = waiter.changes_seen

        result = await asyncio.to_thread(client_portal, db_path, "invite", "newcomer@example.com")
        assert result.returncode == 0, result.stderr
        assert await wait_until(pilot, lambda: table.total == 21)
        await settle(pilot)
        assert waiter.changes_seen > seen_before
        assert changed_messages  # it came as the waiter's message
        assert app.screen.query_one("#stats").info.stats.contacts == 21
        # The token is read only on the waiter's thread: never on the event loop, never by a screen.
        assert {thread for _, thread in token_reads} == {"client-portal-changes"}
        assert short_repeating_timers(app) == []
    assert waiter.stopped.wait(5) and not waiter.running  # quitting stopped the thread


@BOTH
async def test_a_change_committed_after_the_launch_read_ahead_shows_on_the_dashboard(portal_app, db_path,
                                                                                    token_reads, monkeypatch):
    """The launch reads the first window ahead, before the app exists (`tui.start.make_dashboard`). Another admin
    who commits in the moment between that read and the screen watching for changes used to be shown only at the
    next change: the watcher's first token was read after the commit. The token now comes before the read."""
    import sys

    from tui import reader
    from tui.start import make_dashboard

    monkeypatch.setattr(sys, "setswitchinterval", lambda seconds: None)  # the launch's, not this test process's
    demo.seed(5)
    app = make_dashboard(db_path)  # the first window is being read ahead, as `client-portal` does
    reader._executor.submit(lambda: None).result(timeout=30)  # and has been read: 5 contacts
    result = await asyncio.to_thread(client_portal, db_path, "invite", "in.between@example.com")
    assert result.returncode == 0, result.stderr
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ContactTable)
        assert await wait_until(pilot, lambda: table.total == 6, seconds=10)
        await settle(pilot)
        assert "in.between@example.com" in [row.email for row in table.shown_rows]
        waiter = waiter_for(app)
        assert [t for t in threading.enumerate() if t.name == "client-portal-changes"] == [waiter._thread]
        assert {thread for _, thread in token_reads} == {"client-portal-changes"}


async def test_one_waiter_for_the_app_that_stops_when_its_last_screen_leaves(portal_app, db):
    demo.seed(5)
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        waiter = waiter_for(app)
        thread = waiter._thread
        assert thread is not None and thread.is_alive()
        main = app.screen
        assert isinstance(main, MainScreen)
        await pilot.press("enter")  # the contact's own view subscribes to the same waiter
        await settle(pilot)
        assert isinstance(app.screen, ContactDetailScreen)
        assert waiter._listeners() == [main, app.screen]
        assert waiter._thread is thread  # no second thread
        assert [t for t in threading.enumerate() if t.name == "client-portal-changes"] == [thread]
        await pilot.press("escape")  # dismissed: it stops listening, the thread goes on for the main screen
        await settle(pilot)
        assert waiter._listeners() == [main] and thread.is_alive()
        unwatch_changes(main)  # the last one leaves: the thread ends
        assert waiter.stopped.wait(5) and not thread.is_alive()
        watch_changes(main)  # and one comes back
        assert waiter.running
        thread = waiter._thread
    thread.join(5)
    assert not thread.is_alive() and waiter.stopped.is_set()
    assert [t for t in threading.enumerate() if t.name == "client-portal-changes"] == []


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_a_lost_server_connection_is_one_line_and_live_refresh_comes_back(portal_app, db_path, pg_server):
    demo.seed(5)
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ContactTable)
        waiter = waiter_for(app)
        # The server drops the listening connection (a restart, a network cut).
        name = db_path.rsplit("/", 1)[-1]
        dropped = await asyncio.to_thread(
            pg_server.admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE application_name = 'client-portal listen' AND datname = '{name}'")
        assert dropped == [(True,)]

        def said(text: str) -> list[str]:
            return [n.message for n in app._notifications if text in n.message]

        assert await wait_until(pilot, lambda: said("Live refresh paused"))
        line = said("Live refresh paused")[0]
        assert "\n" not in line and "Traceback" not in line
        assert "lost the connection to the PostgreSQL server at 127.0.0.1" in line
        assert await wait_until(pilot, lambda: said("Live refresh is back"))
        assert waiter.running and not waiter.problem

        result = await asyncio.to_thread(client_portal, db_path, "contacts", "add", "late@example.com")
        assert result.returncode == 0, result.stderr
        assert await wait_until(pilot, lambda: table.total == 6)  # a change after it shows again


async def test_a_sender_that_stopped_is_named_once_its_heartbeat_grows_stale_with_no_interval_timer(portal_app,
                                                                                                     frozen_clock):
    ada = contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    queue_login_emails([ada.id])
    now = frozen_clock[0]
    frozen_clock[0] = now - heartbeat.STALE_AFTER + timedelta(seconds=1)
    heartbeat.beat("test-host:1")  # a sender's last heartbeat: stale one second from now
    frozen_clock[0] = now
    app = portal_app()
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        header = app.screen.query_one(StatsHeader)
        assert "1 mail queued" in str(header.render()) and "no sender running" not in str(header.render())
        timer = header._sender_timer
        assert timer is not None and timer._repeat == 0 and timer._interval == pytest.approx(1.5)  # a one-shot
        assert [t for t in header._timers if t._repeat != 0] == []  # no interval timer re-reads the numbers
        frozen_clock[0] = now + timedelta(seconds=2)  # the sender wrote nothing since: its heartbeat is stale
        assert await wait_until(pilot, lambda: "no sender running" in str(header.render()), seconds=20)
        assert header._sender_timer is None  # no sender runs: nothing to look at until the database changes
