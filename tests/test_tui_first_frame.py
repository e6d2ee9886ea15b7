"""The work the dashboard does before its first frame with rows: one screen (the main screen is the first, not
pushed over an empty one), and few layout passes. Counted, never timed."""

from __future__ import annotations

import asyncio

from textual.screen import Screen

from models import demo
from tests.fixtures_tui import settle
from tui.screens.main import MainScreen


async def test_the_main_screen_is_the_only_screen_at_start(portal_app):
    demo.seed(30)
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert [type(screen) for screen in app.screen_stack] == [MainScreen]
        assert app.main_screen is app.screen


async def test_few_layout_passes_before_the_first_rows(portal_app, monkeypatch):
    demo.seed(30)
    passes: list[str] = []
    layout = Screen._refresh_layout

    def counted(self, *args, **kwargs):
        passes.append(type(self).__name__)
        return layout(self, *args, **kwargs)

    monkeypatch.setattr(Screen, "_refresh_layout", counted)
    app = portal_app()
    async with app.run_test(size=(120, 40)):
        table = app.screen.query_one("#contacts")
        for _ in range(2000):
            if table.row_count:
                break
            await asyncio.sleep(0.005)
        assert table.row_count
        # 13 with the empty default screen under the main one and a Select composed in three stages; 4 now.
        assert len(passes) <= 6, passes
        assert set(passes) == {"MainScreen"}
