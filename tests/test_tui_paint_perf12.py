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
