"""What a search key costs to paint, counted rather than timed: no layout pass of the screen, only the table lines
that changed, and each line written as few runs of colour as it has (issue 12).

Every test drives the real dashboard on a real database file and counts what Textual does (layout passes of the
screen, lines the table draws), wrapping those calls without changing them.
"""

from __future__ import annotations

from models import demo
from models.contacts import ContactQuery, contact_page
from tests.fixtures_tui import settle
from tui.widgets.contact_table import ContactTable
from tui.widgets.search_bar import SearchInput


async def _type(pilot, text: str) -> None:
    for ch in text:
        await pilot.press({" ": "space", ".": "full_stop"}.get(ch, ch))
        await settle(pilot)


def _count_layouts(screen) -> list[int]:
    """Count the screen's layout passes from now on (the pass itself still runs)."""
    passes = [0]
    layout = screen._refresh_layout

    def counted(*args, **kwargs):
        passes[0] += 1
        return layout(*args, **kwargs)

    screen._refresh_layout = counted
    return passes


def _count_lines(table: ContactTable) -> list[int]:
    """The contact lines (not the headings) the table draws from now on."""
    drawn: list[int] = []
    render_line = table.render_line

    def counted(y: int):
        if y >= table.header_height:
            drawn.append(y)
        return render_line(y)

    table.render_line = counted
    return drawn


async def test_typing_a_search_lays_out_nothing(portal_app):
    demo.seed(300)
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ContactTable)
        await pilot.press("slash")
        await _type(pilot, "l")
        passes = _count_layouts(app.screen)
        await _type(pilot, "ovel")
        # Before: every key re-arranged the whole screen (the box's virtual size followed its text).
        assert passes[0] == 0
        want = contact_page(ContactQuery(search="lovel"), 0, 40)
        assert 0 < table.total == want.total
        assert [row.id for row in table.shown_rows] == [row.id for row in want.rows][: len(table.shown_rows)]
        assert app.screen.query_one(SearchInput).value == "lovel"


async def test_a_search_longer_than_its_box_still_scrolls_to_the_cursor(portal_app):
    demo.seed(50)
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        box = app.screen.query_one(SearchInput)
        box.insert_text_at_cursor("lovelace " * 12)  # as a paste
        await pilot.press("x")  # and a key typed after it
        await settle(pilot)
        text = "lovelace " * 12 + "x"
        assert box.value == text
        assert box.virtual_size.width == len(text) + 1  # the text and the cursor after it
        assert box.scroll_x == box.max_scroll_x > 0
        x = box.cursor_screen_offset.x
        assert box.content_region.x <= x <= box.content_region.right  # at the end of what the box shows


async def test_a_key_that_keeps_the_first_rows_repaints_no_row_and_a_cursor_step_two(portal_app):
    demo.seed(300)
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ContactTable)
        await pilot.press("slash")
        await _type(pilot, "lovela")
        shown = [row.id for row in table.shown_rows]
        assert shown, (table.query_spec, table.total, app.screen.query_one(SearchInput).value)
        drawn = _count_lines(table)
        await _type(pilot, "c")  # "lovelac" matches what "lovela" matched: the same rows
        assert [row.id for row in table.shown_rows] == shown
        assert drawn == []
        assert table.total == contact_page(ContactQuery(search="lovelac"), 0, 1).total

        await pilot.press("enter")  # to the results
        await settle(pilot)
        del drawn[:]
        await pilot.press("down")
        await settle(pilot)
        assert table.cursor_index == 1
        assert sorted(set(drawn)) == [table.header_height, table.header_height + 1]  # the old and the new line


async def test_each_table_line_is_one_run_per_style(portal_app):
    demo.seed(60)
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ContactTable)
        for y in range(table.header_height + len(table.shown_rows)):
            segments = list(table.render_line(y))
            # Neighbouring cells of one style are one segment (the terminal gets one colour code for them).
            assert all(a.style != b.style for a, b in zip(segments, segments[1:])), y
            assert sum(segment.cell_length for segment in segments) == table.size.width
        row = table.shown_rows[0]
        text = "".join(segment.text for segment in table.render_line(table.header_height))
        assert table.cell_text(row.id, "email")[:20] in text
        assert table.cell_text(row.id, "name")[:10] in text


def test_a_search_on_another_database_file_never_narrows_the_last_files_result(db, tmp_path):
    """The narrowing cache (a key extending the last complete search reuses its rows) was keyed by `id()` of the
    connection: a connection opened on another file after the first was freed could get the same id, and the
    new file's search answered with the old file's contacts (found by this module's own tests, run in a row)."""
    from models import contacts
    from models.db import database, open_database

    demo.seed(300)
    database.close()  # a fresh connection that has written nothing, as the dashboard's reading thread's
    first = contacts.contact_page(ContactQuery(search="lovel"), 0, 200, count=False)
    assert first.exact and first.total == len(first.rows) > 0
    for attempt in range(5):
        open_database(tmp_path / f"other-{attempt}.db")
        contacts.add_contact(f"ada.lovelace.x{attempt}@elsewhere.org", first_name="Ada", last_name="Lovelace")
        database.close()
        page = contacts.contact_page(ContactQuery(search="lovela"), 0, 200, count=False)
        assert [row.email for row in page.rows] == [f"ada.lovelace.x{attempt}@elsewhere.org"], attempt


def test_the_dashboard_paints_at_120_frames_a_second_unless_the_user_says_otherwise():
    """Textual paints on a grid of TEXTUAL_FPS ticks; the dashboard sets 120 (a change waits at most 8.3 ms for its
    frame, not 16.7 ms), before Textual is imported, and leaves a value the user set alone."""
    import os
    import subprocess
    import sys

    probe = "import tui.app, textual.constants as c; print(c.MAX_FPS)"
    env = {key: value for key, value in os.environ.items() if key != "TEXTUAL_FPS"}
    ours = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    theirs = subprocess.run([sys.executable, "-c", probe], env={**env, "TEXTUAL_FPS": "30"}, capture_output=True,
                            text=True, check=True)
    assert (ours.stdout.strip(), theirs.stdout.strip()) == ("120", "30")


async def test_the_first_contacts_are_read_before_the_header(portal_app, monkeypatch):
    """Both go through the one reading thread; the header's first read (cold: 145 ms at a million contacts) came
    first and the first rows waited for it."""
    from tui.widgets import contact_table, stats_header

    demo.seed(30)
    reads: list[str] = []

    def recorded(name, read):
        def call(*args):
            reads.append(name)
            return read(*args)
        return call

    monkeypatch.setattr(contact_table, "load_window", recorded("window", contact_table.load_window))
    monkeypatch.setattr(stats_header, "load_header_info", recorded("header", stats_header.load_header_info))
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert reads[:2] == ["window", "header"]
        header = app.screen.query_one(stats_header.StatsHeader)
        assert header.info is not None and header.info.stats.contacts == 30


# --- one frame a key (tui12) ------------------------------------------------------------------------------------

def _record_frames(app) -> list[dict]:
    """What each frame painted from now on: the widgets it repainted, and what the search box and the table held
    then (`_display` is where Textual writes a frame; it is wrapped, not changed)."""
    from tui.widgets.search_bar import SearchInput

    frames: list[dict] = []
    display = app._display

    def recorded(screen, renderable):
        if renderable is not None:
            table = screen.query_one(ContactTable)
            frames.append({"widgets": {widget.id for widget in screen._dirty_widgets},
                           "box": screen.query_one(SearchInput).value, "search": table.query_spec.search,
                           "busy": table.busy, "rows": [row.id for row in table.shown_rows],
                           "status": str(screen._status_text)})
        return display(screen, renderable)

    app._display = recorded
    return frames


async def _until(pilot, condition, timeout: float = 10.0) -> None:
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await pilot.pause(0.01)


async def test_a_search_key_is_painted_with_its_results_and_their_count_in_one_frame(portal_app, monkeypatch):
    """Before, a key took three frames: its echo alone (the query had not even started), the new rows, and the
    status line's count of them one tick (8 ms) later."""
    from tui.screens import main

    monkeypatch.setattr(main, "PAINT_HOLD_SECONDS", 30.0)  # the results always come within it here
    demo.seed(300)
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await _type(pilot, "lovel")
        table = app.screen.query_one(ContactTable)
        assert table.shown_rows
        for key, text, total in (("x", "lovelx", 0), ("backspace", "lovel", table.total)):
            frames = _record_frames(app)
            await pilot.press(key)
            await settle(pilot)
            want = contact_page(ContactQuery(search=text), 0, 40)
            assert want.total == total and frames, (key, want.total, frames)
            first = frames[0]
            assert (first["box"], first["search"], first["busy"]) == (text, text, False)
            assert first["rows"] == [row.id for row in want.rows][: len(first["rows"])]
            assert ("No contact matches" if not total else f"of {total:,}") in first["status"]
            # The box, the table's lines (all of them changed) and the status line, in that one frame.
            assert {"search", "contacts", "table-status"} <= first["widgets"], key


async def test_a_key_whose_results_are_slow_is_still_echoed_at_once(portal_app, monkeypatch):
    """The echo waits for the results only `PAINT_HOLD_SECONDS`: with the reading thread held up, the key is
    painted alone, and its results when they come."""
    import threading

    from tui import reader
    from tui.screens import main

    monkeypatch.setattr(main, "PAINT_HOLD_SECONDS", 0.05)
    demo.seed(100)
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        table = app.screen.query_one(ContactTable)
        frames = _record_frames(app)
        gate = threading.Event()
        reader._executor.submit(gate.wait, 30)  # the reading thread is busy until the gate opens
        try:
            await pilot.press("l")
            await _until(pilot, lambda: any(frame["box"] == "l" for frame in frames))
            assert table.busy and [frame["busy"] for frame in frames if frame["box"] == "l"][0]
        finally:
            gate.set()
        await settle(pilot)
        assert table.query_spec.search == "l" and not table.busy
        assert frames[-1]["rows"] == [row.id for row in table.shown_rows] != []


async def test_a_search_starts_its_query_in_the_handler_that_changed_the_box(portal_app):
    """Not two messages later (the key's echo was painted before its query had even been handed to the reading
    thread)."""
    demo.seed(50)
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ContactTable)
        app.screen.query_one(SearchInput).value = "lovel"  # as a key's handler does, with no await after it
        assert table.query_spec.search == "lovel" and table.busy
        await settle(pilot)
        assert [row.id for row in table.shown_rows] == [
            row.id for row in contact_page(ContactQuery(search="lovel"), 0, 40).rows][: len(table.shown_rows)]


def _recording_reads(monkeypatch) -> list:
    from tui import reader

    started: list = []
    start = reader.start

    def recorded(func, *args):
        if getattr(func, "__name__", "") == "load_window":
            started.append(args)
        return start(func, *args)

    monkeypatch.setattr(reader, "start", recorded)
    return started


async def test_the_first_window_read_at_launch_is_the_one_the_table_shows(portal_app, monkeypatch):
    from tui import reader

    demo.seed(40)
    started = _recording_reads(monkeypatch)
    reader.read_first_window_ahead()  # as `client-portal` does, before importing the dashboard
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ContactTable)
        assert started == []  # the table read no window itself
        want = contact_page(ContactQuery(), 0, 40)
        assert [row.id for row in table.shown_rows] == [row.id for row in want.rows][: len(table.shown_rows)]
        assert table.total == want.total == 40


async def test_a_first_window_read_ahead_from_another_file_is_not_shown(portal_app, db_path, tmp_path, monkeypatch):
    from models import contacts
    from models.db import open_database
    from tui import reader

    started = _recording_reads(monkeypatch)
    open_database(tmp_path / "other.db")
    contacts.add_contact("someone.else@elsewhere.org", first_name="Some", last_name="One")
    reader.read_first_window_ahead()
    reader._executor.submit(lambda: None).result(timeout=30)  # read, from the other file
    open_database(db_path)
    demo.seed(20)
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ContactTable)
        assert table.total == 20
        assert "someone.else@elsewhere.org" not in [row.email for row in table.shown_rows]
        assert len(started) == 1  # read again, from the right file


async def test_a_selection_is_painted_with_the_status_lines_count_of_it(portal_app):
    """The status line follows the table at once (a signal, not a message): a mark and "1 selected" in one
    frame, where the count came a frame after the mark."""
    demo.seed(60)
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        frames = _record_frames(app)
        await pilot.press("space")
        await settle(pilot)
        assert frames and "1 selected" in frames[0]["status"]
        assert {"contacts", "table-status"} <= frames[0]["widgets"]
