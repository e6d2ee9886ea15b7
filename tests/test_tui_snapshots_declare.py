"""Snapshots of what is read from the bindings: the help screen (at 80x24, where it scrolls), the command palette
(everything it offers, and a search), and the key bar with a selection and in the search box.

Fixed data and clock as in `test_tui_snapshots.py`. Review `snapshot_report.html` before `--snapshot-update`.
"""

from __future__ import annotations

import itertools

import pytest

from models import demo, links
from tests.fixtures_tui import settle

WIDE = (110, 32)
SMALL = (80, 24)


@pytest.fixture
def snap_app(frozen_clock, fixed_actor, fixed_mail_env, portal_app, monkeypatch):
    """The dashboard on 40 sample contacts; magic-link tokens are a fixed string."""
    tokens = itertools.count(1)
    monkeypatch.setattr(links.secrets, "token_urlsafe", lambda n: f"T{next(tokens):042d}")
    demo.seed(40)
    return portal_app


def keys(*pressed: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)

    return run_before


def test_help_at_80x24(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("question_mark"), terminal_size=SMALL)


def test_help_scrolled_to_the_end_at_80x24(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("question_mark", "end"), terminal_size=SMALL)


def test_palette_lists_every_action_once(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("ctrl+p"), terminal_size=WIDE)


def test_palette_finds_by_name(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("ctrl+p", *"sel"), terminal_size=WIDE)


def test_key_bar_with_a_selection_at_80x24(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("space", "down", "space"), terminal_size=SMALL)


def test_key_bar_in_the_search_box_at_80x24(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("slash"), terminal_size=SMALL)
