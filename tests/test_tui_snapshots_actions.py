"""Snapshot tests of the dashboard's actions from issue 13: the settings form (as stored, and refusing a value),
the revoke confirmation for a selection, and the domains box with its remove confirmation.

Fixed data (`demo.seed` with a frozen clock), a fixed SMTP route and a fixed actor, so every run draws the same
screen. Review `snapshot_report.html` before `--snapshot-update`.
"""

from __future__ import annotations

from models import domains
from tests.fixtures_tui import keys, settle

WIDE = (120, 40)
SMALL = (80, 24)


def test_settings_form_at_80x24(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("comma"), terminal_size=SMALL)


def test_settings_form_refusing_a_value(snap_compare, snap_app):
    async def refuse(pilot) -> None:
        await keys("comma")(pilot)
        screen = pilot.app.screen
        screen.box("login_ttl_hours").value = "1000"
        screen.box("agency_name").value = "Acme Studio"
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(snap_app(), run_before=refuse, terminal_size=WIDE)


def test_revoke_confirmation_for_a_selection(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("space", "down", "space", "down", "space", "x"),
                        terminal_size=SMALL)


def test_revoke_confirmation_for_one_contact_at_120x40(snap_compare, snap_app):
    assert snap_compare(snap_app(), run_before=keys("down", "x"), terminal_size=WIDE)


def test_domains_remove_confirmation(snap_compare, snap_app):
    domains.add_domain("clients.agency.test", select=True)
    assert snap_compare(snap_app(), run_before=keys("d", "tab", "down", "d"), terminal_size=SMALL)


def test_domains_with_the_list_focused(snap_compare, snap_app):
    domains.add_domain("clients.agency.test", select=True)
    assert snap_compare(snap_app(), run_before=keys("d", "tab", "down"), terminal_size=SMALL)
