"""Magic links: every status transition, every way a redeem fails, expiry, and the token never stored."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from mail.outbox import OutboxSender
from models import audit, contacts, domains, links, outbox, portal, settings
from models.db import SCHEMA_VERSION, database, open_database, schema_version
from models.entities import MagicLink
from models.errors import InvalidInput, PortalError, RedeemFailed


def test_token_has_256_bits_and_only_its_hash_is_stored(db, db_path):
    contacts.add_contact("ada@example.com")
    issued = links.issue_link("ada@example.com")
    assert len(issued.token) == 43  # 32 bytes, URL-safe base64 without padding
    row = MagicLink.get()
    assert row.token_hash == links.hash_token(issued.token)
    assert issued.token not in row.token_hash
    db.close()
    for path in db_path.parent.glob("portal.db*"):
        raw = path.read_bytes()
        assert issued.token.encode() not in raw, path


def test_link_is_built_from_the_selected_domain(db):
    contacts.add_contact("ada@example.com")
    assert links.issue_link("ada@example.com").url.startswith("https://portal.example.com/login/")
    domains.add_domain("clients.agency.io", select=True)
    assert links.issue_link("ada@example.com").url.startswith("https://clients.agency.io/login/")


def test_status_transitions_not_invited_invited_joined_revoked_invited(db, frozen_clock):
    contacts.add_contact("ada@example.com")
    assert contacts.find_contact("ada@example.com").status == "not_invited"

    result = portal.invite(["ada@example.com"])
    assert [r.email for r in result.invited] == ["ada@example.com"]
    row = contacts.find_contact("ada@example.com")
    assert row.status == "invited" and row.invited_at == frozen_clock[0] and row.invite_count == 1

    link = links.issue_link("ada@example.com", "invite")
    frozen_clock[0] += timedelta(hours=1)
    redeemed = links.redeem(link.url)
    assert redeemed.first_login
    row = contacts.find_contact("ada@example.com")
    assert row.status == "joined" and row.joined_at == frozen_clock[0] and row.last_login_at == frozen_clock[0]

    frozen_clock[0] += timedelta(hours=1)
    second = links.redeem(links.issue_link("ada@example.com").token)
    assert not second.first_login
    row = contacts.find_contact("ada@example.com")
    assert row.joined_at < row.last_login_at == frozen_clock[0]

    links.revoke_access("ada@example.com")
    assert contacts.find_contact("ada@example.com").status == "revoked"

    portal.invite(["ada@example.com"])
    row = contacts.find_contact("ada@example.com")
    assert row.status == "invited" and row.revoked_at is None and row.invite_count == 2


def test_joined_contact_is_not_invited_again(db):
    contacts.add_contact("ada@example.com")
    links.redeem(links.issue_link("ada@example.com").token)
    result = portal.invite(["ada@example.com"])
    assert result.invited == [] and result.skipped == [("ada@example.com", "already joined the portal")]


def test_login_link_for_never_invited_contact_marks_them_invited(db):
    contacts.add_contact("ada@example.com")
    links.issue_link("ada@example.com", "login")
    assert contacts.find_contact("ada@example.com").status == "invited"


def _state(email):
    row = contacts.find_contact(email)
    return row.status, row.last_login_at, [(l.used_at, l.revoked_at, l.superseded_at) for l in MagicLink.select()]


@pytest.mark.parametrize("reason", ["unknown", "expired", "revoked", "used", "superseded", "malformed"])
def test_each_failed_redeem_names_its_reason_and_changes_nothing(db, frozen_clock, reason):
    contacts.add_contact("ada@example.com")
    link = links.issue_link("ada@example.com", "invite")
    token = link.token
    if reason == "unknown":
        token = "A" * 43
    elif reason == "expired":
        frozen_clock[0] += timedelta(days=7, seconds=1)
    elif reason == "revoked":
        links.revoke_link("ada@example.com")
    elif reason == "used":
        links.redeem(token)
    elif reason == "superseded":
        links.issue_link("ada@example.com", "invite")
    elif reason == "malformed":
        token = "not a token"
    before = _state("ada@example.com")
    with pytest.raises(RedeemFailed) as info:
        links.redeem(token)
    assert info.value.reason == reason
    assert str(info.value)
    assert _state("ada@example.com") == before


def test_revoking_access_kills_links_of_every_purpose(db):
    contacts.add_contact("ada@example.com")
    invite = links.issue_link("ada@example.com", "invite")
    login = links.issue_link("ada@example.com", "login")
    links.revoke_access("ada@example.com")
    for token in (invite.token, login.token):
        with pytest.raises(RedeemFailed) as info:
            links.redeem(token)
        assert info.value.reason == "revoked"
    with pytest.raises(PortalError, match="revoked"):
        links.issue_link("ada@example.com")


def test_revoke_all_links_ends_every_outstanding_link(db):
    tokens = []
    for n in range(3):
        contacts.add_contact(f"c{n}@example.com")
        tokens.append(links.issue_link(f"c{n}@example.com").token)
    assert links.revoke_all_links() == 3
    for token in tokens:
        with pytest.raises(RedeemFailed, match="revoked"):
            links.redeem(token)


def test_a_newer_link_of_another_purpose_does_not_supersede(db):
    contacts.add_contact("ada@example.com")
    invite = links.issue_link("ada@example.com", "invite")
    links.issue_link("ada@example.com", "login")
    assert links.redeem(invite.token).purpose == "invite"


def test_expiry_defaults_and_setting(db, frozen_clock):
    contacts.add_contact("ada@example.com")
    assert links.issue_link("ada@example.com", "invite").expires_at == frozen_clock[0] + timedelta(days=7)
    assert links.issue_link("ada@example.com", "login").expires_at == frozen_clock[0] + timedelta(hours=24)
    settings.set_value("login_ttl_hours", "2")
    link = links.issue_link("ada@example.com", "login")
    assert link.expires_at == frozen_clock[0] + timedelta(hours=2)
    frozen_clock[0] += timedelta(hours=2)
    with pytest.raises(RedeemFailed, match="expired"):
        links.redeem(link.token)


def test_link_just_before_expiry_still_works(db, frozen_clock):
    contacts.add_contact("ada@example.com")
    link = links.issue_link("ada@example.com", "login")
    frozen_clock[0] += timedelta(hours=24) - timedelta(seconds=1)
    assert links.redeem(link.token).contact.email == "ada@example.com"


def test_one_contacts_token_never_logs_in_another(db):
    contacts.add_contact("ada@example.com")
    contacts.add_contact("grace@example.com")
    links.issue_link("grace@example.com")
    ada = links.issue_link("ada@example.com")
    assert links.redeem(ada.url).contact.email == "ada@example.com"
    assert contacts.find_contact("grace@example.com").status == "invited"


def test_redeem_accepts_url_with_query_token(db):
    contacts.add_contact("ada@example.com")
    link = links.issue_link("ada@example.com")
    assert links.redeem(f"https://evil.example/whatever?token={link.token}").contact.email == "ada@example.com"


def test_no_domain_means_a_clear_error_and_nothing_written(db_path):
    contacts.add_contact("ada@example.com")
    with pytest.raises(PortalError, match="domains add"):
        links.issue_link("ada@example.com")
    assert MagicLink.select().count() == 0
    assert contacts.find_contact("ada@example.com").status == "not_invited"


def test_stats_count_pending_and_expired_invitations(db, frozen_clock):
    for n in range(4):
        contacts.add_contact(f"c{n}@example.com")
    portal.invite(["c0@example.com", "c1@example.com", "c2@example.com"])
    for n in range(3):
        links.issue_link(f"c{n}@example.com", "invite")
    links.redeem(links.issue_link("c0@example.com", "login").token)
    frozen_clock[0] += timedelta(days=8)
    links.issue_link("c1@example.com", "invite")  # c1 got a fresh invitation; c2's lapsed
    s = portal.stats()
    assert (s.contacts, s.not_invited, s.invited, s.joined, s.pending, s.expired) == (4, 1, 2, 1, 1, 1)
    assert s.invited_total == 3  # invited or joined
    assert s.outbox_queued == 3


# --- channels: a link shown to an admin never kills an emailed one (issue 11) --------------------------------

LINK = re.compile(r"https://portal\.example\.com/login/[A-Za-z0-9_-]{43}")


def _emailed_link(smtp_server, tmp_path, email: str, kind: str = "login") -> str:
    """Queue a `kind` email to `email`, send it through the real SMTP server, and return the link it carried."""
    contact = contacts.find_contact(email)
    if kind == "login":
        batch = outbox.queue_login_emails([contact.id]).batch
    else:
        batch = portal.invite([email]).batch
    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)
    assert summary.sent == 1, summary
    received = smtp_server.handler.by_recipient()[email][-1]
    (url,) = set(LINK.findall(received.message.get_body(("plain",)).get_content()))
    return url


def test_a_link_shown_after_an_email_leaves_the_emailed_link_working(db, db_path, smtp_server, tmp_path, cli):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    portal.invite(["ada@example.com"])
    emailed = _emailed_link(smtp_server, tmp_path, "ada@example.com")
    # The admin looks at a link twice: in the command line, then in Python (what `m` calls).
    printed = cli("magic-link", "ada@example.com")
    assert printed.exit_code == 0 and "emailed links keep working" in printed.stderr
    open_database(db_path)  # the command closed it, as its own process would
    shown = links.issue_link("ada@example.com")
    assert shown.channel == "shown"
    assert links.current_link("ada@example.com", channel="email").state == "open"
    assert links.current_link("ada@example.com", channel="shown").state == "open"
    assert links.current_link("ada@example.com").channel == "shown"  # the newest of any channel

    redeemed = links.redeem(emailed)
    assert redeemed.contact.email == "ada@example.com" and redeemed.first_login
    # The newer shown link replaced the printed one, and only it.
    with pytest.raises(RedeemFailed) as info:
        links.redeem(printed.stdout.strip())
    assert info.value.reason == "superseded"
    assert links.current_link("ada@example.com", channel="email").state == "used"
    assert links.redeem(shown.url).contact.email == "ada@example.com"


def test_a_new_email_still_supersedes_the_older_emailed_link_but_not_a_shown_one(db, smtp_server, tmp_path):
    contacts.add_contact("ada@example.com")
    portal.invite(["ada@example.com"])
    first = _emailed_link(smtp_server, tmp_path, "ada@example.com")
    shown = links.issue_link("ada@example.com")
    second = _emailed_link(smtp_server, tmp_path, "ada@example.com")
    with pytest.raises(RedeemFailed) as info:
        links.redeem(first)
    assert info.value.reason == "superseded" and "newer link was sent" in str(info.value)
    assert links.current_link("ada@example.com", channel="shown").state == "open"
    assert links.redeem(second).contact.email == "ada@example.com"
    assert links.redeem(shown.url).contact.email == "ada@example.com"


def test_the_audit_says_which_channel_a_link_went_by(db, smtp_server, tmp_path):
    contacts.add_contact("ada@example.com")
    emailed = _emailed_link(smtp_server, tmp_path, "ada@example.com", kind="invite")
    links.issue_link("ada@example.com", "login")
    links.redeem(emailed)
    entries = [(e.action, e.detail) for e in reversed(audit.recent()) if e.action.startswith(("link.", "redeem"))]
    assert [action for action, _ in entries] == ["link.invite", "link.login", "redeem"]
    assert entries[0][1].startswith("emailed link, expires ")
    assert entries[1][1].startswith("shown link, expires ")
    assert entries[2][1] == "invite link (emailed), joined"


def test_revoking_access_ends_the_links_of_every_channel(db):
    contacts.add_contact("ada@example.com")
    emailed = links.issue_link("ada@example.com", channel="email")
    shown = links.issue_link("ada@example.com")
    assert links.revoke_link("ada@example.com", "login") == 2
    for link in (emailed, shown):
        with pytest.raises(RedeemFailed, match="revoked"):
            links.redeem(link.url)


def test_revoking_the_link_just_shown_leaves_the_emailed_one(db):
    contacts.add_contact("ada@example.com")
    emailed = links.issue_link("ada@example.com", channel="email")
    shown = links.issue_link("ada@example.com")
    assert links.revoke_issued(shown) == 1
    assert links.revoke_issued(shown) == 0  # already revoked: nothing more to end
    with pytest.raises(RedeemFailed, match="revoked"):
        links.redeem(shown.url)
    assert links.redeem(emailed.url).contact.email == "ada@example.com"
    assert [e.detail for e in audit.recent() if e.action == "link.revoke"][0] == "0 shown login links"


def test_an_unknown_channel_is_refused_with_its_name(db):
    contacts.add_contact("ada@example.com")
    with pytest.raises(InvalidInput, match="unknown link channel 'sms'"):
        links.issue_link("ada@example.com", channel="sms")
    assert MagicLink.select().count() == 0


def test_an_invitation_lapses_with_the_last_of_its_open_links(db, frozen_clock):
    contacts.add_contact("ada@example.com")
    portal.invite(["ada@example.com"])
    emailed = links.issue_link("ada@example.com", "invite", channel="email")
    settings.set_value("invite_ttl_hours", "1")
    links.issue_link("ada@example.com", "invite")  # shown, lapsing long before the emailed one
    frozen_clock[0] += timedelta(hours=2)
    assert portal.stats().expired == 0 and portal.stats().pending == 1
    assert links.redeem(emailed.url).first_login


def test_links_made_before_channels_count_as_emailed(db_path, db):
    """A database from before channels is upgraded: its open links are taken as emailed (one may sit in a
    mailbox), so a link shown after the upgrade does not end them; its invited contacts get their invitation's
    state."""
    contacts.add_contact("ada@example.com")
    contacts.add_contact("bob@example.com")
    old = links.issue_link("ada@example.com")
    portal.invite(["bob@example.com"])
    for statement in (
        "DROP TRIGGER outbox_invite_queued",
        "DROP TRIGGER outbox_invite_outcome",
        "DROP TRIGGER outbox_login_queued",
        "DROP TRIGGER outbox_login_outcome",
        "DROP TRIGGER contact_delivery_insert",
        "DROP TRIGGER contact_delivery_delete",
        "DROP TRIGGER contact_delivery_update",
        "DROP TABLE invite_delivery_count",
        "ALTER TABLE magic_link DROP COLUMN channel",
        "ALTER TABLE contact DROP COLUMN invite_delivery",
        "PRAGMA user_version = 6",  # the version before channels (v7)
    ):
        database.execute_sql(statement)
    database.close()
    open_database(db_path)
    assert schema_version() == SCHEMA_VERSION
    assert links.current_link("ada@example.com").channel == "email"
    links.issue_link("ada@example.com")
    assert links.redeem(old.url).contact.email == "ada@example.com"
    assert contacts.find_contact("bob@example.com").status_label == "invited · queued"
    s = portal.stats()
    assert (s.invited, s.invites_queued, s.invites_no_mail) == (1, 1, 0)  # ada joined


async def test_m_in_the_dashboard_leaves_the_emailed_link_working(portal_app, smtp_server, tmp_path):
    from tests.fixtures_tui import settle
    from tui.screens.magic_link import MagicLinkScreen
    from tui.screens.main import MainScreen

    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    contacts.add_contact("zed@example.com", "Zed", "Zimmer")  # sorted after Ada: the cursor is on Ada
    portal.invite(["ada@example.com"])
    emailed = _emailed_link(smtp_server, tmp_path, "ada@example.com")
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.screen.table.highlighted.email == "ada@example.com"
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, MagicLinkScreen)
        shown = app.clipboard
        assert shown.startswith("https://portal.example.com/login/") and shown != emailed
        assert "a link sent by email keeps working" in str(app.screen.query_one("#expiry").render())
        assert links.current_link("ada@example.com", channel="email").state == "open"
        await pilot.press("r", "r")  # asks, then revokes the link just shown, and only it
        await settle(pilot)
        assert links.current_link("ada@example.com", channel="shown").state == "revoked"
        assert links.current_link("ada@example.com", channel="email").state == "open"
        await pilot.press("escape")
    with pytest.raises(RedeemFailed, match="revoked"):
        links.redeem(shown)
    assert links.redeem(emailed).contact.email == "ada@example.com"
