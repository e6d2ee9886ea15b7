"""What a demanding user's trial of the portal service found (session 21), kept fixed: the app on a real SQLite
file behind Starlette's TestClient."""

from __future__ import annotations

import pytest

from tests.portal_support import (
    SAME_ORIGIN,
    invited,
    portal,  # noqa: F401 -- fixture
    press_button,
)


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "/login"), ("PUT", "/login"), ("PATCH", "/login/some-token"), ("DELETE", "/login/some-token")])
def test_a_method_not_taken_names_every_method_the_path_takes(portal, method, path):
    # The request form and a link's button are POSTs: the Allow header left POST out.
    response = portal.client.request(method, path)
    assert response.status_code == 405
    assert sorted(m.strip() for m in response.headers["allow"].split(",")) == ["GET", "HEAD", "POST"]
    assert response.headers["cache-control"] == "no-store"


def test_one_route_per_path_still_answers_each_method(portal):
    link = invited()
    assert portal.client.head(f"/login/{link.token}").status_code == 200
    assert portal.client.get("/login").status_code == 200
    asked = portal.client.post("/login", data={"email": "ada@example.com"}, headers=SAME_ORIGIN)
    assert asked.status_code == 200 and "Check your email" in asked.text
    assert press_button(portal.client, link.token).status_code == 200


def test_a_link_request_audit_says_where_it_was_asked_from_apart_from_why(portal):
    from models import audit, contacts, links

    contacts.add_contact("never@example.com")
    invited("revoked@example.com")
    links.revoke_access("revoked@example.com")
    for address in ("never@example.com", "revoked@example.com", "nobody@example.com"):
        assert portal.client.post("/login", data={"email": address}, headers=SAME_ORIGIN).status_code == 200
    details = {row.subject: row.detail for row in audit.recent(20) if row.action == "portal.link_request"}
    # "nothing sent: contact is revoked from testclient" read as if the client had revoked the contact.
    assert details == {"never@example.com": "nothing sent: contact is not invited; asked from testclient",
                       "revoked@example.com": "nothing sent: contact is revoked; asked from testclient",
                       "nobody@example.com": "nothing sent: not a contact; asked from testclient"}
