"""Magic links: every status transition, every way a redeem fails, expiry, and the token never stored."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models import contacts, domains, links, portal, settings
from models.entities import MagicLink
from models.errors import PortalError, RedeemFailed


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
    assert (s.contacts, s.not_invited, s.invited, s.joined, s.pending, s.expired) == (4, 1, 3, 1, 1, 1)
    assert s.outbox_queued == 3
