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
