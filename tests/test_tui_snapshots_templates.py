"""Snapshots of the template editor: a preview for the highlighted contact, at 120x40 and at 80x24.

Fixed data (`demo.seed` with a frozen clock), a fixed SMTP route and a fixed actor, as in
`tests/test_tui_snapshots.py`. Review `snapshot_report.html` before `--snapshot-update`.
"""

from __future__ import annotations

from tests.fixtures_tui import settle

LARGE = (120, 40)
SMALL = (80, 24)


def editor(*pressed: str):
    """Open the editor with `t` on the second contact, then press `pressed`."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in ("down", "t", *pressed):
            await pilot.press(key)
            await settle(pilot)
        await pilot.pause(0.5)  # the preview is rendered a moment after the last key
        await settle(pilot)
        for _ in range(100):  # under load the debounce timer and the preview's worker run late: wait for them
            if "To: " in str(pilot.app.screen.query_one("#preview-text").render()):
                break
            await pilot.pause(0.05)
        await settle(pilot)  # the cursors stop blinking in `snap_compare` (tests/fixtures_tui.py `still_cursors`)

    return run_before


def test_template_editor_with_a_preview_at_120x40(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=editor(), terminal_size=LARGE)


def test_template_editor_at_80x24(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=editor(), terminal_size=SMALL)


def test_template_editor_refusing_an_unknown_value_at_80x24(snap_compare, snap_app):
    typed = [*"{{", "space", *"contact.frist_name", "space", *"}}", "ctrl+s"]
    assert snap_compare(snap_app(), run_before=editor(*typed), terminal_size=SMALL)
