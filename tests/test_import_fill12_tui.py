"""The dashboard's side of the background search fill (issue 12): at open it fills an index a big import left
unfilled (a killed filler, an import by another tool), and its import dialog shows its report before the fill,
which then runs on a thread of its own. Real SQLite files, the real app under Textual's pilot; nothing timed."""

from __future__ import annotations

from models import contacts, search_fill
from models.db import database
from tests.fixtures_search import index_matches_contacts
from tests.fixtures_tui import settle
from tests.test_import_fill12 import BIG, _csv, _unranked, _unranked_contacts
from tui.screens.import_csv import ImportCsvScreen
from tui.screens.main import MainScreen


async def _until_indexed(pilot, rounds: int = 3000) -> bool:
    for _ in range(rounds):
        if not search_fill.pending():
            return True
        await pilot.pause(0.02)
    return not search_fill.pending()


async def test_the_dashboard_fills_an_unfilled_index_at_open(portal_app):
    _unranked_contacts(200, seed=5)
    contacts.keep_name_order()
    _unranked_contacts(1_500, seed=6, start=200)
    assert _unranked() == 1_500
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert await _until_indexed(pilot)
    assert index_matches_contacts(database)


async def test_the_import_dialog_reports_before_the_fill_and_the_fill_completes(portal_app, tmp_path):
    path = tmp_path / "big.csv"
    path.write_text(_csv(BIG))
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ImportCsvScreen)
        app.screen.query_one("#path").value = str(path)
        await pilot.press("enter")
        for _ in range(3000):
            if app.screen.stage == "done":
                break
            await pilot.pause(0.02)
        report = str(app.screen.query_one("#report").render())
        assert f"Imported {BIG:,} contacts" in report
        assert "Search is being indexed in the background" in report
        assert await _until_indexed(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    assert index_matches_contacts(database)
