"""Snapshots of what is read from the bindings: the help screen (at 80x24, where it scrolls), the command palette
(everything it offers, and a search), and the key bar with a selection and in the search box.

Fixed data and clock as in `test_tui_snapshots.py`. Review `snapshot_report.html` before `--snapshot-update`.
"""

from __future__ import annotations

from tests.fixtures_tui import keys

WIDE = (110, 32)
SMALL = (80, 24)


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
