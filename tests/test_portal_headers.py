"""What every response carries (security headers) and what every request leaves behind (one log line, no token)."""

from __future__ import annotations

import logging

import pytest

from models import api_keys, audit, settings
from portal.middleware import loggable_path
from tests.portal_support import (
    SAME_ORIGIN,
    csrf_of,
    invited,
    portal,  # noqa: F401 -- fixture
    press_button,
)

EXPECTED = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "x-robots-tag": "noindex, nofollow",
    "x-content-type-options": "nosniff",
}


def _check_headers(response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (response.request.method, response.request.url, name)
    csp = response.headers["content-security-policy"]
    for part in ("default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'",
                 "form-action 'self'"):
        assert part in csp, (response.request.url, csp)
    assert "script-src" not in csp and "unsafe" not in csp


def test_every_route_and_every_outcome_carries_the_headers(portal):
    settings.set_value("portal_callback_url", "https://app.agency.com/cb")
    key = api_keys.create_key("crm").key
    good, other = invited(), invited("grace@example.com", first_name="Grace")
    csrf = csrf_of(portal.client.get(f"/login/{other.token}").text)
    responses = [
        portal.client.get("/"),
        portal.client.get("/login"),
        portal.client.head("/login"),
        portal.client.get(f"/login/{good.token}"),
        portal.client.head(f"/login/{good.token}"),
        portal.client.get("/login/" + "A" * 43),
        portal.client.get("/login/"),
        portal.client.get("/login/a/b/c"),
        portal.client.post(f"/login/{good.token}", data={"csrf": "0" * 64}, headers=SAME_ORIGIN),  # 403
        portal.client.post(f"/login/{good.token}", data={"csrf": "x"}, headers={"origin": "https://evil.example"}),
        portal.client.post(f"/login/{other.token}", data={"csrf": csrf}, headers=SAME_ORIGIN),  # 303
        portal.client.post(f"/login/{other.token}", data={"csrf": csrf}, headers=SAME_ORIGIN),  # used
        portal.client.post("/login", data={"email": "ada@example.com"}, headers=SAME_ORIGIN),
        portal.client.post("/login", data={"email": "bad"}, headers=SAME_ORIGIN),
        portal.client.post("/api/v1/exchange", json={"code": "x"}),
        portal.client.post("/api/v1/exchange", json={"code": "A" * 43}, headers={"authorization": f"Bearer {key}"}),
        portal.client.get("/api/v1/exchange"),  # 405
        portal.client.get("/healthz"),
        portal.client.get("/portal.css"),
        portal.client.get("/no/such/page"),
        portal.client.delete("/login"),
    ]
    statuses = sorted({r.status_code for r in responses})
    assert statuses == [200, 303, 400, 401, 403, 404, 405]
    for response in responses:
        _check_headers(response)


def test_the_server_error_page_carries_the_headers_too(portal, db):
    db.execute_sql("DROP TABLE magic_link")  # a real fault: the query behind the page fails
    from tests.portal_support import ORIGIN, TestClient

    with TestClient(portal.app, base_url=ORIGIN, raise_server_exceptions=False) as client:
        response = client.get("/login/" + "A" * 43)
    assert response.status_code == 500 and "Something went wrong" in response.text
    assert "magic_link" not in response.text
    _check_headers(response)


def test_the_stylesheet_is_ours_and_the_pages_have_no_script(portal):
    link = invited()
    css = portal.client.get("/portal.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for path in ("/", "/login", f"/login/{link.token}", "/login/" + "A" * 43):
        text = portal.client.get(path).text
        assert "<script" not in text and " style=" not in text and "<style" not in text
        assert '<link rel="stylesheet" href="/portal.css">' in text


def test_healthz(portal):
    response = portal.client.get("/healthz")
    assert response.status_code == 200 and response.text == "ok"


def test_one_log_line_per_request_and_never_a_token(portal, caplog):
    settings.set_value("portal_callback_url", "https://app.agency.com/cb")
    link = invited()
    bad_token = "B" * 43
    with caplog.at_level(logging.INFO, logger="portal.access"):
        response = press_button(portal.client, link.token)
        portal.client.get(f"/login/{bad_token}?utm=x")
        portal.client.head(f"/login/{link.token}")
        portal.client.get("/healthz")
    code = response.headers["location"].split("code=")[1]
    lines = [r.getMessage() for r in caplog.records if r.name == "portal.access"]
    assert len(lines) == 5
    assert lines[0].startswith('testclient "GET /login/<redacted>" 200 ')
    assert lines[1].startswith('testclient "POST /login/<redacted>" 303 ')
    assert lines[2].startswith('testclient "GET /login/<redacted>" 404 ')
    assert lines[3].startswith('testclient "HEAD /login/<redacted>" 404 ')  # used by now
    assert lines[4].startswith('testclient "GET /healthz" 200 ')
    everything = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (link.token, bad_token, code, "utm"):
        assert secret not in everything
    for row in audit.recent(100):
        assert link.token not in row.detail and code not in row.detail


@pytest.mark.parametrize(
    "path,logged",
    [
        ("/login/abc", "/login/<redacted>"),
        ("/login/", "/login/"),
        ("/healthz", "/healthz"),
        ("/x\n\x1b[31m", "/x\\n\\x1b[31m"),
        ("/" + "a" * 300, "/" + "a" * 199 + "…"),
    ],
)
def test_logged_paths_hide_tokens_and_control_characters(path, logged):
    assert loggable_path(path) == logged
