"""Asking the portal for a new link: one answer whatever the address, mail only for invited or joined contacts,
limits per address and per client, and the link that arrives (through a real SMTP server) works."""

from __future__ import annotations

import re
import time

import pytest

from models import audit, contacts, links, outbox
from models.entities import OutboxMessage
from tests.portal_support import (
    SAME_ORIGIN,
    Portal,
    invited,
    make_portal,
    portal,  # noqa: F401 -- fixture
    press_button,
)


def _ask(client, email: str, headers: dict[str, str] | None = None):
    return client.post("/login", data={"email": email}, headers=SAME_ORIGIN if headers is None else headers)


def _login_rows() -> list[tuple[str, str]]:
    return [(m.contact.email, m.status) for m in OutboxMessage.select().where(OutboxMessage.kind == "login")]


@pytest.mark.parametrize("path", ["/", "/login"])
def test_the_form_to_ask_for_a_link(portal, path):
    page = portal.client.get(path)
    assert page.status_code == 200
    assert '<form method="post" action="/login">' in page.text and 'name="email"' in page.text


def test_the_answer_is_the_same_for_every_address_and_only_invited_or_joined_get_mail(portal):
    invited("invited@example.com")
    joined = invited("joined@example.com")
    links.redeem(joined.token)
    contacts.add_contact("never@example.com")
    invited("revoked@example.com")
    links.revoke_access("revoked@example.com")
    answers = set()
    for address in ("nobody@example.com", "never@example.com", "revoked@example.com", "invited@example.com",
                    "joined@example.com", "  Invited@EXAMPLE.com "):
        response = _ask(portal.client, address)
        answers.add((response.status_code, response.text))
    assert len(answers) == 1, "the answer tells who is a contact"
    status, text = answers.pop()
    assert status == 200 and "Check your email" in text
    # One login email each for the invited and the joined contact (the repeat found one already waiting).
    assert sorted(_login_rows()) == [("invited@example.com", "queued"), ("joined@example.com", "queued")]
    requests = {row.subject: row.detail for row in audit.recent(100) if row.action == "portal.link_request"}
    assert requests["nobody@example.com"].startswith("nothing sent: not a contact")
    assert requests["never@example.com"].startswith("nothing sent: contact is not invited")
    assert requests["revoked@example.com"].startswith("nothing sent: contact is revoked")
    assert requests["joined@example.com"].startswith("login email queued")


def test_a_malformed_address_gets_the_form_again_with_a_message(portal):
    response = _ask(portal.client, "not an address <script>")
    assert response.status_code == 400
    assert "Please enter a whole email address" in response.text
    assert 'value="not an address &lt;script&gt;"' in response.text
    assert not _login_rows()


def test_a_cross_site_request_is_refused(portal):
    invited("invited@example.com")
    assert _ask(portal.client, "invited@example.com", {"origin": "https://evil.example"}).status_code == 403
    assert not _login_rows()


def test_requests_are_limited_per_address(db, db_path):
    invited("ada@example.com")
    for portal in make_portal(db_path, address_limit="2/hour", client_limit="100/hour"):
        clients = [portal.new_client(client=(f"198.51.100.{n}", 4000)) for n in range(3)]
        try:
            assert [_ask(c, "ada@example.com").status_code for c in clients] == [200, 200, 429]
            limited = _ask(clients[2], "ADA@example.com")  # the same address, written otherwise
            assert limited.status_code == 429 and "Too many requests" in limited.text
            assert int(limited.headers["retry-after"]) > 0
            assert _ask(clients[2], "grace@example.com").status_code == 200  # another address is not limited
            unknown = [_ask(c, "nobody@example.com").status_code for c in clients]
            assert unknown == [200, 200, 429]  # the same limit whether or not the address is a contact
        finally:
            for c in clients:
                c.close()


def test_requests_are_limited_per_client_address(db, db_path):
    for portal in make_portal(db_path, address_limit="100/hour", client_limit="3/hour"):
        with portal.new_client(client=("198.51.100.1", 4000)) as one, \
                portal.new_client(client=("198.51.100.2", 4000)) as other:
            assert [_ask(one, f"user{n}@example.com").status_code for n in range(4)] == [200, 200, 200, 429]
            assert _ask(other, "user9@example.com").status_code == 200


def test_a_requested_link_arrives_through_smtp_and_works(db, db_path, smtp_server, tmp_path):
    """The whole loop inside one service: ask, the sender thread sends at once, the emailed link signs in."""
    invited("ada@example.com")
    config = smtp_server.config(tmp_path / "Maildir")
    for portal in make_portal(db_path, run_sender=True, mail_config=config):
        assert _ask(portal.client, "ada@example.com").status_code == 200
        # The invitation queued earlier goes too; the login email is the one asked for here.
        assert smtp_server.handler.wait_for(2, timeout=30), "the sender thread did not send the requested link"
        [message] = [m.message for m in smtp_server.handler.messages if m.message["Subject"].startswith("Your sign-in")]
        assert message["To"].addresses[0].addr_spec == "ada@example.com"
        text = message.get_body(("plain",)).get_content()
        assert "ask for a new one at any time\nat https://portal.example.com/login\n" in text
        url = re.search(r"https://portal\.example\.com/login/([A-Za-z0-9_-]{43})", text)
        assert url, text
        response = press_button(portal.client, url.group(1))
        assert response.status_code == 200 and "You are signed in" in response.text
    assert contacts.find_contact("ada@example.com").status == "joined"
    assert outbox.outbox_counts()["sent"] == 2


def test_the_sender_thread_records_a_heartbeat_and_stops_with_the_app(db, db_path, smtp_server, tmp_path):
    from models import heartbeat

    assert heartbeat.last_beat() is None and not heartbeat.sender_running()
    for portal in make_portal(db_path, run_sender=True, mail_config=smtp_server.config(tmp_path / "Maildir")):
        sender = portal.app.state.portal.sender
        assert sender is not None and sender.is_alive()
        deadline = time.monotonic() + 20
        while heartbeat.last_beat() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert heartbeat.sender_running()
    assert not sender.is_alive(), "the sender thread outlived the app"


def test_portal_fixture_has_no_sender(portal: Portal):
    assert portal.app.state.portal.sender is None
