"""The dashboard on 100k contacts: it opens, searches, filters and jumps to the end, reading only windows."""

from __future__ import annotations

from models import demo
from models.contacts import ContactQuery, contact_page
from tests.fixtures_tui import settle
from tui.widgets.contact_table import WINDOW, ContactTable


async def test_opens_and_searches_100k_contacts(portal_app):
    demo.seed(100_000)
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ContactTable)
        assert table.total == 100_000
        assert table.row_count < 40  # only what fits on screen is in the DataTable
        assert len(table._cache) <= WINDOW

        await pilot.press("slash", "l", "o", "v", "e", "l", "a", "c", "e")
        await settle(pilot)
        lovelace = contact_page(ContactQuery(search="lovelace"), 0, 5)
        assert 3_000 < table.total == lovelace.total < 6_000
        assert table.highlighted.id == lovelace.rows[0].id
        assert all("lovelace" in table.cell_text(row.id, "email") for row in table.shown_rows)

        await pilot.press(*".99999")
        await settle(pilot)
        one = contact_page(ContactQuery(search="lovelace.99999"), 0, 5)
        assert table.total == one.total <= 1
        await pilot.press(*["backspace"] * 6, "enter", "f", "f", "f", "end")  # joined Lovelaces, the last one
        await settle(pilot)
        joined = contact_page(ContactQuery(search="lovelace", status="joined"), 0, 100_000)
        assert table.total == joined.total
        assert table.highlighted.id == joined.rows[-1].id
