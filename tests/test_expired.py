"""Expired invitations as a state people act on: the filter (model, `contacts list --status expired`, the
dashboard's `f`), and inviting every expired contact again (model, `invite --expired`, the dashboard's `R` and
its palette command), each checked against the database and the header's count."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from models import contacts, demo, domains, links, portal
from models.backends.sqlite import search as sqlite_search
from models.contacts import FILTER_EXPIRED, ContactQuery
from models.entities import Contact, OutboxMessage
from models.errors import InvalidInput, PortalError
from tests.fixtures_tui import settle


def expired_now(now) -> set[str]:
    """The contacts whose invitation lapsed, found the slow, obvious way (every contact read in Python)."""
    return {c.email for c in Contact.select() if c.status == "invited" and c.invite_expires_at is not None
            and c.invite_expires_at <= now}


def shown_invitation(email: str) -> None:
    """Invite `email` as an admin does by showing links (no invitation email): a login link makes them invited,
    an invitation link gives their invitation its expiry."""
    links.issue_link(email, "login")
    links.issue_link(email, "invite")


@pytest.fixture
def mixed(db, frozen_clock):
    """Contacts in every state: the demo's (invited over the last 60 days, links of 7 days), and named ones:
    lapsed by time, lapsed by a revoked link, open, on its way (no link yet), joined, revoked, never invited."""
    demo.seed(300)
    for name in ("old1", "old2", "cut", "open", "onway", "joined", "gone", "waiting"):
        contacts.add_contact(f"{name}@example.org", name.capitalize(), "Expiry")
    contacts.add_contact("never@example.org", "Never", "Expiry")
    for name in ("old1", "old2", "joined", "gone"):
        shown_invitation(f"{name}@example.org")
    links.redeem(links.issue_link("joined@example.org", "login").token)
    links.revoke_access("gone@example.org")
    frozen_clock[0] += timedelta(days=5)
    shown_invitation("cut@example.org")
    links.revoke_link("cut@example.org", "invite")  # a dead invitation: lapsed at once
    portal.invite(["waiting@example.org"])  # an invitation email waits in the outbox...
    links.issue_link("waiting@example.org", "invite")
    links.revoke_link("waiting@example.org", "invite")  # ...while the link it was shown lapsed
    shown_invitation("open@example.org")
    portal.invite(["onway@example.org"])
    frozen_clock[0] += timedelta(days=3, minutes=7)  # old1 and old2 (7 days) lapse; open's has 4 days left
    return frozen_clock


# --- model ----------------------------------------------------------------------------------------------------


def test_the_filter_finds_exactly_what_the_header_counts(mixed):
    for step in range(0, 6 * 24 * 60, 211):  # on hours' edges and inside them, as links lapse one by one
        now = mixed[0] + timedelta(minutes=step)
        mixed[0] = now
        want = expired_now(now)
        query = ContactQuery(status=FILTER_EXPIRED)
        assert portal.stats().expired == len(want), now
        assert contacts.count_contacts(query) == len(want), now
        page = contacts.contact_page(query, 0, 1_000)
        assert page.total == len(want) and {r.email for r in page.rows} == want, now
        ids = contacts.contact_ids(query)
        assert {r.email for r in contacts.contacts_by_id(ids)} == want, now
        mixed[0] = now - timedelta(minutes=step)  # back to the start for the next step
    first = expired_now(mixed[0])
    assert {"old1@example.org", "old2@example.org", "cut@example.org", "waiting@example.org"} <= first
    assert not {"open@example.org", "onway@example.org", "joined@example.org", "gone@example.org",
                "never@example.org"} & first
    assert all(contacts.find_contact(e).status == "invited" for e in first)


@pytest.mark.parametrize("sort", list(contacts.SORT_KEYS))
@pytest.mark.parametrize("descending", [False, True])
def test_the_filter_pages_and_sorts_like_the_others(mixed, sort, descending):
    query = ContactQuery(status=FILTER_EXPIRED, sort=sort, descending=descending)
    whole = contacts.contact_page(query, 0, 10_000).rows
    assert {r.email for r in whole} == expired_now(mixed[0]) and len(whole) > 20
    paged = []
    for offset in range(0, len(whole) + 7, 7):
        page = contacts.contact_page(query, offset, 7)
        assert page.total == len(whole)
        paged += page.rows
    assert [r.id for r in paged] == [r.id for r in whole]
    key = {"name": lambda r: (r.last_name, r.first_name, r.id), "email": lambda r: r.email,
           "company": lambda r: (r.company, r.id), "status": lambda r: (r.status, r.id),
           "invited_at": lambda r: (r.invited_at, r.id), "last_login": lambda r: (r.last_login_at or 0, r.id),
           "created": lambda r: r.id}[sort]
    if sort == "name":  # SQLite compares text by bytes, as Python does for these ASCII names
        assert [key(r) for r in whole] == sorted((key(r) for r in whole), reverse=descending)
    elif sort in ("email", "company", "status", "invited_at", "created"):
        assert [key(r) for r in whole] == sorted((key(r) for r in whole), reverse=descending)


def test_search_within_the_filter(mixed):
    want = {e for e in expired_now(mixed[0]) if "example.org" in e}
    assert len(want) == 4
    query = ContactQuery(search="Expiry example.org", status=FILTER_EXPIRED, sort="email")
    page = contacts.contact_page(query)
    assert [r.email for r in page.rows] == sorted(want) and page.total == 4
    assert contacts.count_contacts(query) == 4
    # A one-letter word is answered by a walk along the sort order (the dashboard's first, uncounted page).
    one = ContactQuery(search="x", status=FILTER_EXPIRED, sort="email")
    want_x = sorted(e for e in expired_now(mixed[0]) if "x" in (contacts.find_contact(e).full_name + e).lower())
    walked = contacts.contact_page(one, 0, 200, count=False)
    assert [r.email for r in walked.rows] == want_x
    assert contacts.count_contacts(one) == len(want_x)


def test_an_unknown_filter_is_refused_with_the_ones_that_exist(db):
    with pytest.raises(InvalidInput, match="unknown status 'lapsed'; use one of .*joined, revoked, expired$"):
        contacts.contact_page(ContactQuery(status="lapsed"))


def test_resend_expired_queues_one_invitation_for_each_expired_contact(mixed):
    want = expired_now(mixed[0])
    outbox_before = OutboxMessage.select().count()
    plan = portal.plan_resend_expired()
    assert OutboxMessage.select().count() == outbox_before  # the preview changes nothing
    assert expired_now(mixed[0]) == want and portal.stats().expired == len(want)
    assert {r.email for r in plan.invited} == want - {"waiting@example.org"}
    assert plan.skipped == [("waiting@example.org", "a invite email is already waiting to be sent")]

    result = portal.resend_expired()
    assert {r.email for r in result.invited} == {r.email for r in plan.invited}
    assert result.skipped == plan.skipped
    new = OutboxMessage.select().where(OutboxMessage.batch == result.batch)
    assert sorted(m.contact.email for m in new) == sorted(want - {"waiting@example.org"})
    assert all(m.kind == "invite" and m.status == "queued" for m in new)
    assert portal.stats().expired == 0 and expired_now(mixed[0]) == set()
    assert contacts.count_contacts(ContactQuery(status=FILTER_EXPIRED)) == 0
    assert contacts.find_contact("old1@example.org").invite_count == 2
    # Nothing lapsed now: a second run queues nothing.
    again = portal.resend_expired()
    assert again.invited == [] and again.skipped == []


def test_resend_expired_needs_a_portal_domain(db_path, frozen_clock):
    with pytest.raises(PortalError, match="domain"):
        portal.plan_resend_expired()
    assert domains.list_domains() == []


# --- command line ---------------------------------------------------------------------------------------------


def test_cli_lists_expired_and_the_count_is_the_header_count(mixed, cli):
    want = expired_now(mixed[0])
    listed = json.loads(cli("contacts", "list", "--status", "expired", "--limit", "1000", "--json").output)
    stats = json.loads(cli("stats", "--json").output)
    assert listed["total"] == stats["expired"] == len(want)
    assert {row["email"] for row in listed["contacts"]} == want
    text = cli("contacts", "list", "--status", "expired", "--sort", "email", "--limit", "3")
    assert text.exit_code == 0
    assert text.output.splitlines()[0].startswith(sorted(want)[0])
    assert f"3 of {len(want)} contact(s)" in text.output


def test_cli_invite_expired_queues_for_exactly_the_expired(mixed, cli):
    want = expired_now(mixed[0])
    result = cli("invite", "--expired", "--json")
    out = json.loads(result.output)
    assert set(out["invited"]) == want - {"waiting@example.org"}
    assert out["skipped"] == [{"email": "waiting@example.org",
                               "reason": "a invite email is already waiting to be sent"}]
    queued = OutboxMessage.select().where(OutboxMessage.batch == out["batch"])
    assert {m.contact.email for m in queued} == set(out["invited"])
    assert json.loads(cli("stats", "--json").output)["expired"] == 0
    again = cli("invite", "--expired")
    assert again.exit_code == 0 and "no invitation link has lapsed" in again.output


def test_cli_invite_wants_addresses_or_expired(db, cli):
    for args in (("invite",), ("invite", "a@example.com", "--expired"),
                 ("invite", "--expired", "--first-name", "Ada")):
        result = cli(*args)
        assert result.exit_code == 2, args
        assert "--expired" in result.output
        assert OutboxMessage.select().count() == 0


# --- dashboard ------------------------------------------------------------------------------------------------


@pytest.fixture
def smtp_env(smtp_server, monkeypatch):
    for key, value in smtp_server.env().items():
        monkeypatch.setenv(key, value)
    return smtp_server


@pytest.fixture
def few_expired(db, frozen_clock):
    """Two lapsed invitations, one open, one never invited, one joined."""
    for name in ("ada", "bob", "cy", "dee", "eve"):
        contacts.add_contact(f"{name}@example.com", name.capitalize(), "Test")
    for name in ("ada", "bob", "eve"):
        shown_invitation(f"{name}@example.com")
    links.redeem(links.issue_link("eve@example.com", "login").token)
    frozen_clock[0] += timedelta(days=8)
    shown_invitation("cy@example.com")
    return frozen_clock


async def test_f_cycles_to_the_expired_filter_and_it_shows_the_header_count(portal_app, few_expired):
    from tui.widgets.contact_table import ContactTable
    from tui.widgets.search_bar import SearchBar
    from tui.widgets.stats_header import StatsHeader

    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        for _ in range(5):  # all -> not invited -> invited -> joined -> revoked -> invite expired
            await pilot.press("f")
            await settle(pilot)
        assert app.screen.query_one(SearchBar).status == FILTER_EXPIRED
        table = app.screen.query_one(ContactTable)
        shown = {table.cell_text(row.id, "email") for row in table.shown_rows}
        assert shown == {"ada@example.com", "bob@example.com"} == expired_now(few_expired[0])
        assert table.total == app.screen.query_one(StatsHeader).info.stats.expired == 2
        await pilot.press("f")
        await settle(pilot)
        assert app.screen.query_one(SearchBar).status is None  # round to all


async def _confirm_resend(pilot, app) -> None:
    from tui.screens.resend_expired import ResendExpiredScreen

    screen = app.screen
    assert isinstance(screen, ResendExpiredScreen)
    assert "2 new invitations" in str(screen.query_one("#recipients").render())
    assert OutboxMessage.select().count() == 0  # nothing queued before the confirm
    await pilot.press("enter")
    await settle(pilot)
    assert screen.stage == "done"


async def test_R_resends_to_every_expired_contact(portal_app, few_expired, smtp_env):
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        await _confirm_resend(pilot, app)
        rows = list(OutboxMessage.select())
        assert sorted(m.contact.email for m in rows) == ["ada@example.com", "bob@example.com"]
        assert all(m.kind == "invite" and m.status == "sent" for m in rows)
        assert smtp_env.handler.wait_for(2)
        assert set(smtp_env.handler.by_recipient()) == {"ada@example.com", "bob@example.com"}
        assert portal.stats().expired == 0
        await pilot.press("enter")
        await settle(pilot)
        from tui.widgets.stats_header import StatsHeader

        assert app.screen.query_one(StatsHeader).info.stats.expired == 0


async def test_the_palette_finds_resend_expired_by_name(portal_app, few_expired, smtp_env):
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in "Resend expired invitations"])
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await _confirm_resend(pilot, app)
        assert sorted(m.contact.email for m in OutboxMessage.select()) == ["ada@example.com", "bob@example.com"]


async def test_with_nothing_expired_the_dialog_says_so_and_sends_nothing(portal_app, db, frozen_clock):
    from tui.screens.resend_expired import ResendExpiredScreen

    contacts.add_contact("ada@example.com")
    shown_invitation("ada@example.com")
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, ResendExpiredScreen)
        assert "No invitation link has lapsed" in str(app.screen.query_one("#recipients").render())
        await pilot.press("enter")
        await settle(pilot)
        assert OutboxMessage.select().count() == 0
        await pilot.press("escape")
        assert not isinstance(app.screen, ResendExpiredScreen)


@pytest.mark.parametrize("sort", ["name", "invited_at", "last_login"])
def test_a_window_of_the_filter_walks_the_sort_index_instead_of_sorting_every_expired_contact(mixed, sort):
    # At a million contacts some 300k are expired: sorting them all took 200 ms a window, walking the (status,
    # sort column) index and skipping the open invitations about 14 ms with the count (measured by hand on the
    # 1M benchmark database).
    query = ContactQuery(status=FILTER_EXPIRED, sort=sort)
    select = (sqlite_search._filtered(query, sqlite_search._plan([])).order_by(*contacts.SORT_KEYS[sort])
              .limit(200).select(Contact.id))
    sql, params = select.sql()
    plan = " | ".join(row[-1] for row in Contact._meta.database.execute_sql("EXPLAIN QUERY PLAN " + sql, params))
    assert "TEMP B-TREE" not in plan, plan
    assert "contact_invite_expiry" not in plan, plan
