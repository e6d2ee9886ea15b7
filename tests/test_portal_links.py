"""The portal's link pages: looking never uses a link up, pressing the button uses it once, every bad link gets one
answer (the reason goes to the audit), and forged or cross-site posts are refused."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from models import audit, contacts, links, settings
from models.entities import HandoffCode, MagicLink
from portal.app import BAD_LINK_STATUS
from tests.portal_support import (
    HOSTILE_NAME,
    ORIGIN,
    SAME_ORIGIN,
    csrf_of,
    invited,
    make_portal,
    portal,  # noqa: F401 -- fixture
    press_button,
)


def _link_row(token: str) -> MagicLink:
    return MagicLink.get(MagicLink.token_hash == links.hash_token(token))


def _audit(action: str) -> list[audit.AuditRow]:
    return [row for row in audit.recent(1000) if row.action == action]


def test_get_and_head_ten_times_each_change_nothing(portal):
    link = invited()
    before = contacts.find_contact("ada@example.com")
    for _ in range(10):
        page = portal.client.get(f"/login/{link.token}")
        assert page.status_code == 200
        assert "Hello Ada" in page.text and "Your agency" in page.text
        assert page.text.count("<button") == 1 and 'method="post"' in page.text
        head = portal.client.head(f"/login/{link.token}")
        assert head.status_code == 200 and head.content == b""
    row = _link_row(link.token)
    assert row.used_at is None
    after = contacts.find_contact("ada@example.com")
    assert after == before and after.status == "invited"
    assert links.current_link("ada@example.com", "invite").state == "open"
    # ...and the link still works after the "scanner" is done.
    response = press_button(portal.client, link.token)
    assert response.status_code == 200 and "You are signed in, Ada" in response.text


def test_post_once_signs_in_and_a_second_post_gets_the_bad_link_page(portal, frozen_clock):
    link = invited()
    page = portal.client.get(f"/login/{link.token}")
    csrf = csrf_of(page.text)
    first = portal.client.post(f"/login/{link.token}", data={"csrf": csrf}, headers=SAME_ORIGIN)
    assert first.status_code == 200 and "You are signed in" in first.text
    row = contacts.find_contact("ada@example.com")
    assert row.status == "joined" and row.joined_at == frozen_clock[0]
    assert _link_row(link.token).used_at == frozen_clock[0]
    second = portal.client.post(f"/login/{link.token}", data={"csrf": csrf}, headers=SAME_ORIGIN)
    assert second.status_code == BAD_LINK_STATUS and "This link no longer works" in second.text
    assert [r.detail.split(" link refused")[0] for r in _audit("portal.refused")] == ["used"]
    assert len(_audit("redeem")) == 1


def test_two_concurrent_posts_sign_in_exactly_once(portal):
    link = invited()
    csrf = csrf_of(portal.client.get(f"/login/{link.token}").text)
    barrier = threading.Barrier(2)
    statuses: list[int] = []
    lock = threading.Lock()

    def press() -> None:
        with portal.new_client() as client:  # a second browser: its own connection and event loop
            barrier.wait()
            response = client.post(f"/login/{link.token}", data={"csrf": csrf}, headers=SAME_ORIGIN)
            with lock:
                statuses.append(response.status_code)

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200, BAD_LINK_STATUS]
    assert len(_audit("redeem")) == 1 and len(_audit("portal.confirm")) == 1
    assert contacts.find_contact("ada@example.com").status == "joined"


def _bad_links(frozen_clock) -> dict[str, str]:
    """One token per way a link goes bad, keyed by the reason the audit should record."""
    expired = invited("exp@example.com", purpose="login")
    frozen_clock[0] += links.ttl("login") + timedelta(minutes=1)
    used = invited("used@example.com")
    links.redeem(used.token)
    superseded = invited("old@example.com")
    links.issue_link("old@example.com", purpose="invite")
    revoked = invited("gone@example.com")
    links.revoke_access("gone@example.com")
    revoked_link = invited("cut@example.com")
    links.revoke_link("cut@example.com")
    return {
        "unknown": "A" * 43,
        "malformed": "not-a-token",
        "expired": expired.token,
        "used": used.token,
        "superseded": superseded.token,
        "revoked": revoked.token,
        "revoked ": revoked_link.token,  # the link revoked, the contact's access kept
    }


def test_every_bad_link_gets_one_status_and_one_page_and_the_audit_has_the_reason(portal, frozen_clock):
    bad = _bad_links(frozen_clock)
    answers = set()
    for token in bad.values():
        got = portal.client.get(f"/login/{token}")
        answers.add((got.status_code, got.text))
        head = portal.client.head(f"/login/{token}")
        assert head.status_code == got.status_code
    assert len(answers) == 1, "a bad link's answer gives its reason away"
    status, text = answers.pop()
    assert status == BAD_LINK_STATUS
    assert "This link no longer works" in text and 'action="/login"' in text and 'name="email"' in text
    assert "csrf" not in text
    refused = _audit("portal.refused")
    reasons = sorted(r.detail.split(" link refused")[0] for r in refused)
    assert reasons == sorted(reason.strip() for reason in bad)
    by_subject = {r.subject: r.detail.split(" ")[0] for r in refused}
    assert by_subject["exp@example.com"] == "expired" and by_subject["old@example.com"] == "superseded"
    assert by_subject["gone@example.com"] == "revoked" and by_subject["used@example.com"] == "used"
    for row in audit.recent(1000):  # no token ever reaches the audit log
        assert not any(token in row.detail or token in row.subject for token in bad.values() if len(token) == 43)


def test_posting_a_bad_link_also_gets_the_one_answer_and_changes_nothing(portal, frozen_clock):
    bad = _bad_links(frozen_clock)
    from models import handoff

    answers = set()
    for token in bad.values():
        # A correct CSRF field (as if the page had been seen): only the link's state decides.
        got = portal.client.post(f"/login/{token}", data={"csrf": handoff.csrf_token(token)}, headers=SAME_ORIGIN)
        answers.add((got.status_code, got.text))
    assert len(answers) == 1 and answers.pop()[0] == BAD_LINK_STATUS
    assert contacts.find_contact("exp@example.com").status == "invited"
    assert contacts.find_contact("old@example.com").status == "invited"
    assert contacts.find_contact("gone@example.com").status == "revoked"


@pytest.mark.parametrize("csrf", [None, "", "0" * 64, "zz", "a" * 1000])
def test_a_missing_or_wrong_csrf_field_is_refused_and_the_link_stays(portal, csrf):
    link = invited()
    data = {} if csrf is None else {"csrf": csrf}
    response = portal.client.post(f"/login/{link.token}", data=data, headers=SAME_ORIGIN)
    assert response.status_code == 403 and "Please try again" in response.text
    assert _link_row(link.token).used_at is None
    assert press_button(portal.client, link.token).status_code == 200


def test_the_csrf_field_of_one_link_does_not_work_for_another(portal):
    mine, theirs = invited(), invited("grace@example.com", first_name="Grace")
    csrf = csrf_of(portal.client.get(f"/login/{theirs.token}").text)
    response = portal.client.post(f"/login/{mine.token}", data={"csrf": csrf}, headers=SAME_ORIGIN)
    assert response.status_code == 403
    assert _link_row(mine.token).used_at is None


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://portal.example.com"},  # the right host over plain http is another origin
        {"origin": "https://portal.example.com:8443"},
        {"origin": ORIGIN, "sec-fetch-site": "cross-site"},
        {"origin": "null"},  # a sandboxed frame, or a page of another site with no-referrer
        {"origin": "null", "sec-fetch-site": "same-site"},
        {"sec-fetch-site": "cross-site"},
        {"referer": "https://evil.example/page"},
        {},  # nothing says where it came from
    ],
)
def test_a_post_from_elsewhere_is_refused_with_403(portal, headers):
    link = invited()
    csrf = csrf_of(portal.client.get(f"/login/{link.token}").text)
    response = portal.client.post(f"/login/{link.token}", data={"csrf": csrf}, headers=headers)
    assert response.status_code == 403
    assert _link_row(link.token).used_at is None


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": ORIGIN},
        {"origin": "https://PORTAL.example.com:443"},
        # What Chromium sends from a page with Referrer-Policy: no-referrer (checked with /usr/bin/chromium).
        {"origin": "null", "sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "same-origin"},
        {"referer": f"{ORIGIN}/login/x"},
    ],
)
def test_a_post_from_our_own_page_is_accepted(portal, headers):
    link = invited()
    assert press_button(portal.client, link.token, headers=headers).status_code == 200


def test_with_a_callback_the_post_redirects_with_a_one_time_code_and_no_token(portal, frozen_clock):
    settings.set_value("portal_callback_url", "https://app.agency.com/auth/callback?tenant=7")
    link = invited()
    page = portal.client.get(f"/login/{link.token}")
    csp = page.headers["content-security-policy"]
    assert "form-action 'self' https://app.agency.com;" in csp  # browsers check the redirect after a form too
    response = portal.client.post(f"/login/{link.token}", data={"csrf": csrf_of(page.text)}, headers=SAME_ORIGIN)
    assert response.status_code == 303
    location = response.headers["location"]
    parts = urlsplit(location)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "app.agency.com", "/auth/callback")
    query = parse_qs(parts.query)
    assert query["tenant"] == ["7"] and len(query["code"]) == 1 and len(query["code"][0]) == 43
    assert link.token not in location
    code = HandoffCode.get()
    assert code.code_hash != query["code"][0] and code.expires_at == frozen_clock[0] + timedelta(seconds=60)
    assert code.purpose == "invite" and code.redeemed_at == frozen_clock[0]
    assert contacts.find_contact("ada@example.com").status == "joined"


def test_without_a_callback_no_code_is_made(portal):
    link = invited()
    assert press_button(portal.client, link.token).status_code == 200
    assert HandoffCode.select().count() == 0


def test_a_hostile_first_name_is_shown_as_text_and_only_for_a_valid_link(portal, frozen_clock):
    link = invited(first_name=HOSTILE_NAME, purpose="login")
    page = portal.client.get(f"/login/{link.token}").text
    assert "Hello [/x] &lt;a@b&gt;" in page and "<a@b>" not in page
    frozen_clock[0] += timedelta(days=2)
    page = portal.client.get(f"/login/{link.token}").text
    assert "[/x]" not in page and "Hello" not in page


def test_the_invitation_page_says_join_and_the_login_page_says_sign_in(portal):
    invite = invited()
    login = invited("grace@example.com", first_name="", purpose="login")
    invite_page = portal.client.get(f"/login/{invite.token}").text
    login_page = portal.client.get(f"/login/{login.token}").text
    assert "Join the portal</button>" in invite_page
    assert "Sign in</button>" in login_page and re.search(r"<h1>Hello</h1>", login_page)


def test_only_the_trusted_proxy_is_believed_about_https(db, db_path):
    """Behind a TLS proxy the app sees http from 127.0.0.1; X-Forwarded-Proto makes the page's origin https, which
    is what the browser sends as Origin. The same header from anyone else is ignored."""
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.9"}
    for n, (client_addr, accepted) in enumerate(((("127.0.0.1", 5000), True), (("198.51.100.7", 5000), False))):
        link = invited(f"user{n}@example.com")
        for portal in make_portal(db_path):
            with portal.new_client(client=client_addr) as client:
                client.base_url = client.base_url.copy_with(scheme="http")
                page = client.get(f"/login/{link.token}", headers=forwarded)
                response = client.post(f"/login/{link.token}", data={"csrf": csrf_of(page.text)},
                                       headers={**forwarded, "origin": ORIGIN})
                assert (response.status_code == 200) is accepted, (client_addr, response.status_code)
    # The trusted proxy's X-Forwarded-For is the visitor's address in the audit.
    assert [r.detail.endswith("from 203.0.113.9") for r in _audit("portal.confirm")] == [True]


def test_no_proxy_is_believed_when_none_is_trusted(db, db_path):
    link = invited()
    for portal in make_portal(db_path, trusted_proxies=()):
        with portal.new_client(client=("127.0.0.1", 5000)) as client:
            client.base_url = client.base_url.copy_with(scheme="http")
            page = client.get(f"/login/{link.token}", headers={"x-forwarded-proto": "https"})
            response = client.post(f"/login/{link.token}", data={"csrf": csrf_of(page.text)},
                                   headers={"x-forwarded-proto": "https", "origin": ORIGIN})
            assert response.status_code == 403


def test_redeeming_rewrites_only_what_changes(db):
    """A confirmation writes the link, the contact's status and login times (with the counters that triggers keep:
    per status, open invitations per hour) and one audit entry: 6 rows here. Saving the whole contact row also
    rewrote its names, which re-indexed it for search on every sign-in: 26 row changes."""
    link = invited()
    connection = db.connection()
    before = connection.total_changes
    links.redeem(link.token)
    assert connection.total_changes - before < 10
    row = contacts.find_contact("ada@example.com")
    assert row.status == "joined" and row.first_name == "Ada" and row.joined_at == row.last_login_at
    assert contacts.count_contacts(contacts.ContactQuery(search="lovelace")) == 1


def test_a_client_fetching_bad_links_over_and_over_fills_the_log_not_the_audit(portal):
    link = invited()
    links.redeem(link.token)
    for _ in range(40):
        assert portal.client.get(f"/login/{link.token}").status_code == BAD_LINK_STATUS
    assert len(_audit("portal.refused")) == 30


def test_a_token_below_another_path_is_not_a_link(portal):
    """`/login/x/<token>` is no address we send: it gets the bad-link answer, and cannot be used."""
    link = invited()
    from models import handoff

    for path in (f"/login/x/{link.token}", f"/login/{link.token}/", f"/login/https://portal.example.com/login/{link.token}"):
        assert portal.client.get(path).status_code == BAD_LINK_STATUS
        response = portal.client.post(path, data={"csrf": handoff.csrf_token(path[len("/login/"):])},
                                      headers=SAME_ORIGIN)
        assert response.status_code == BAD_LINK_STATUS
    assert _link_row(link.token).used_at is None
    assert {r.subject for r in _audit("portal.refused")} == {"(no such link)"}


def test_a_setting_changed_while_the_app_runs_applies_to_the_next_request(portal):
    # The app caches the settings it reads on every request; a change made by another connection (the dashboard,
    # the CLI: here the test's own) must reach the very next page and confirmation.
    first, second = invited("ada@example.com"), invited("bob@example.com", first_name="Bob")
    assert "Your agency" in portal.client.get(f"/login/{first.token}").text
    settings.set_value("agency_name", "Acme Studio")
    assert "Acme Studio" in portal.client.get(f"/login/{first.token}").text
    assert press_button(portal.client, first.token).status_code == 200  # no callback yet: the signed-in page
    settings.set_value("portal_callback_url", "https://app.agency.com/auth/callback")
    answer = press_button(portal.client, second.token)
    assert answer.status_code == 303 and answer.headers["location"].startswith("https://app.agency.com/auth/callback?code=")


def test_an_open_link_of_a_contact_revoked_behind_its_back_is_refused_and_stays_unused(portal):
    # `redeem` claims the link in one UPDATE and checks the contact after it: a refusal there must undo the claim.
    link = invited()
    page = portal.client.get(f"/login/{link.token}")
    contacts_before = contacts.find_contact("ada@example.com")
    from models.db import database

    database.execute_sql("UPDATE contact SET status = 'revoked' WHERE email = 'ada@example.com'")  # the link stays open
    answer = portal.client.post(f"/login/{link.token}", data={"csrf": csrf_of(page.text)}, headers=SAME_ORIGIN)
    assert answer.status_code == BAD_LINK_STATUS and "no longer works" in answer.text
    assert _link_row(link.token).used_at is None
    contact = contacts.find_contact("ada@example.com")
    assert contact.joined_at is None and contact.last_login_at == contacts_before.last_login_at is None
    assert [row.detail.split(" link")[0] for row in _audit("portal.refused")] == ["revoked"]
    assert _audit("redeem") == [] and _audit("portal.confirm") == []
