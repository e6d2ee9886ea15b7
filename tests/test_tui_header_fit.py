"""The stats header at any width: where a line would be cut, it says the same in fewer words, so the counts staff
act on (the contacts in all, the failed mail at the end of the attention line) are never the part cut off (the
trial's F11: "0 mail q…" at 80x24 lost the failed count)."""

from __future__ import annotations

import pytest

from models import demo
from tests.fixtures_tui import settle
from tui.widgets.stats_header import StatsHeader


@pytest.mark.parametrize("size", [(120, 40), (80, 24), (64, 24), (60, 15)])
async def test_every_count_of_the_header_is_shown_whole_at_every_width(portal_app, size):
    demo.seed(40)
    app = portal_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        header = app.screen.query_one(StatsHeader)
        s = header.info.stats
        lines = str(header.render()).splitlines()
        width = header.content_region.width
        invited, attention = lines[1], lines[2]
        for line in (invited, attention):
            assert len(line) <= width, (line, width)
        assert invited.startswith(f"Invited {s.invited:,}")
        assert invited.endswith((f"of {s.contacts:,}", f"of {s.contacts:,} contacts")), invited
        assert attention.endswith(f"{s.outbox_failed:,} failed"), attention
        for count in (s.pending, s.expired, s.outbox_queued + s.outbox_sending):
            assert f"{count:,} " in attention
        if size[0] >= 100:  # room for the full words
            assert "invites pending" in attention and "links expired" in attention and "mail queued" in attention
        else:
            assert "…" not in attention + invited


async def test_the_header_words_follow_a_resize(portal_app):
    demo.seed(40)
    app = portal_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        header = app.screen.query_one(StatsHeader)
        assert "links expired" in str(header.render()).splitlines()[2]
        await pilot.resize_terminal(60, 24)
        await settle(pilot)
        third = str(header.render()).splitlines()[2]
        assert "links expired" not in third and third.endswith("failed")
        await pilot.resize_terminal(120, 30)
        await settle(pilot)
        assert "links expired" in str(header.render()).splitlines()[2]
