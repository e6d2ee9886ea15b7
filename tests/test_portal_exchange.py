"""The handoff to the agency's portal: a code from the callback redirect is exchanged once, with an API key, for
the contact; reused, expired or forged codes and wrong keys are refused. And the commands that manage keys."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from models import api_keys, audit, contacts, links, settings
from models.db import open_database
from models.entities import ApiKey
from models.errors import InvalidInput, NotFound
from tests.portal_support import (
    HOSTILE_NAME,
    invited,
    portal,  # noqa: F401 -- fixture
    press_button,
)

CALLBACK = "https://app.agency.com/auth/callback"


@pytest.fixture
def key(db) -> str:
    return api_keys.create_key("billing-portal").key


def _code(portal, email: str = "ada@example.com", first_name: str = "Ada", purpose: str = "invite") -> str:
    settings.set_value("portal_callback_url", CALLBACK)
    link = invited(email, first_name=first_name, purpose=purpose)
    response = press_button(portal.client, link.token)
    assert response.status_code == 303
    return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]


def _exchange(portal, code, key: str | None, **kwargs):
    headers = {"authorization": f"Bearer {key}"} if key is not None else {}
    return portal.client.post("/api/v1/exchange", json={"code": code}, headers=headers, **kwargs)


def test_a_code_is_exchanged_once_for_the_contact(portal, key, frozen_clock):
    code = _code(portal, first_name=HOSTILE_NAME)
    contact = contacts.find_contact("ada@example.com")
    response = _exchange(portal, code, key)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "contact": {"id": contact.id, "email": "ada@example.com", "first_name": HOSTILE_NAME,
                    "last_name": "Lovelace", "company": "Analytical Engines"},
        "purpose": "invite",
        "redeemed_at": frozen_clock[0].isoformat(),
    }
    again = _exchange(portal, code, key)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert ApiKey.get().last_used_at == frozen_clock[0]
    details = [(r.action, r.detail) for r in audit.recent(50) if r.action.startswith("portal.exchange")]
    assert ("portal.exchange", "handoff code exchanged by API key billing-portal") in details
    assert ("portal.exchange_refused", "used code, API key billing-portal") in details


def test_a_login_link_reports_its_purpose(portal, key):
    assert _exchange(portal, _code(portal, purpose="login"), key).json()["purpose"] == "login"


def test_an_expired_code_is_refused(portal, key, frozen_clock):
    code = _code(portal)
    frozen_clock[0] += timedelta(seconds=61)
    response = _exchange(portal, code, key)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert any(r.detail.startswith("expired code") for r in audit.recent(20))


def test_a_code_is_still_good_just_before_it_expires(portal, key, frozen_clock):
    code = _code(portal)
    frozen_clock[0] += timedelta(seconds=59)
    assert _exchange(portal, code, key).status_code == 200


def test_a_code_whose_contact_was_revoked_since_is_refused(portal, key):
    code = _code(portal)
    links.revoke_access("ada@example.com")
    assert _exchange(portal, code, key).json()["error"] == "invalid_grant"


@pytest.mark.parametrize("code", ["A" * 43, "short", "", "é" * 43])
def test_an_unknown_or_malformed_code_is_refused(portal, key, code):
    response = _exchange(portal, code, key)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "key_value",
    [None, "", "cpk_" + "A" * 43, "not-a-key", "Basic dXNlcjpwYXNz"],
)
def test_a_missing_or_wrong_key_gets_401_and_the_code_stays_good(portal, key, key_value):
    code = _code(portal)
    if key_value is None:
        response = _exchange(portal, code, None)
    elif key_value.startswith("Basic"):
        response = portal.client.post("/api/v1/exchange", json={"code": code}, headers={"authorization": key_value})
    else:
        response = _exchange(portal, code, key_value)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert _exchange(portal, code, key).status_code == 200


def test_a_revoked_key_gets_401(portal, key):
    code = _code(portal)
    api_keys.revoke_key("billing-portal")
    assert _exchange(portal, code, key).status_code == 401
    replacement = api_keys.create_key("billing-portal").key  # the name is free again
    assert _exchange(portal, code, replacement).status_code == 200


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"code": 5}', b"{}", b'{"code": "' + b"x" * 5000 + b'"}'],
)
def test_a_body_that_is_not_the_json_asked_for_is_invalid_request(portal, key, body):
    response = portal.client.post("/api/v1/exchange", content=body,
                                  headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_an_unknown_api_path_answers_json_404(portal):
    response = portal.client.get("/api/v1/nothing")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_keys_are_stored_hashed_and_shown_once(db, db_path):
    new = api_keys.create_key("crm")
    assert new.key.startswith("cpk_") and len(new.key) == 47
    row = ApiKey.get(ApiKey.name == "crm")
    assert row.key_hash == api_keys.hash_key(new.key) and new.key not in row.key_hash
    assert [k.name for k in api_keys.list_keys()] == ["crm"] and api_keys.list_keys()[0].prefix == new.key[:12]
    db.close()
    for path in db_path.parent.glob("portal.db*"):
        assert new.key.encode() not in path.read_bytes()


def test_key_names_are_checked_and_unique_among_keys_in_use(db):
    api_keys.create_key("crm")
    with pytest.raises(InvalidInput, match="already exists"):
        api_keys.create_key("crm")
    for bad in ("", "has space", "-dash-first", "x" * 65, "naïve", "a/b"):
        with pytest.raises(InvalidInput, match="is not a key name"):
            api_keys.create_key(bad)
    with pytest.raises(NotFound):
        api_keys.revoke_key("other")


def test_api_keys_commands(cli):
    created = cli("api-keys", "create", "billing-portal")
    assert created.exit_code == 0
    key = created.stdout.strip()
    assert key.startswith("cpk_") and "shown only now" in created.stderr
    listed = cli("api-keys", "list")
    assert listed.exit_code == 0 and "billing-portal" in listed.stdout and key[:12] in listed.stdout
    assert key not in listed.stdout
    as_json = cli("api-keys", "list", "--json")
    assert '"name": "billing-portal"' in as_json.stdout and key not in as_json.stdout
    duplicate = cli("api-keys", "create", "billing-portal")
    assert duplicate.exit_code == 1 and duplicate.stderr.startswith("error: a key named billing-portal already")
    assert cli("api-keys", "revoke", "billing-portal").exit_code == 0
    again = cli("api-keys", "revoke", "billing-portal")
    assert again.exit_code == 1 and "no API key named billing-portal" in again.stderr
    assert "billing-portal" not in cli("api-keys").stdout


@pytest.mark.parametrize(
    "value",
    ["http://app.agency.com/cb", "ftp://app.agency.com/", "https://", "not a url", "https://user:pw@app.agency.com/",
     "https://app.agency.com/cb#frag", "https://app.agency.com:99999/", "https://app.agency.com/a b",
     "https://app.agency.com/cb?code=1"],
)
def test_a_bad_callback_url_is_refused_with_one_line(cli, value):
    result = cli("settings", "set", "portal_callback_url", value)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: portal_callback_url ") and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "value", [CALLBACK, "https://app.agency.com/cb?tenant=7", "http://127.0.0.1:9000/cb", "http://localhost/cb"]
)
def test_a_good_callback_url_is_kept_and_can_be_unset(cli, db_path, value):
    result = cli("settings", "set", "portal_callback_url", value)
    assert result.exit_code == 0 and f"portal_callback_url = {value}" in result.stdout
    assert cli("settings", "set", "portal_callback_url", "").exit_code == 0
    open_database(db_path)
    assert settings.get("portal_callback_url") == ""


def test_an_older_database_gains_the_portal_tables(db_path):
    """A schema-5 file (before the portal service) is upgraded: the tables, and a key name free again once revoked."""
    from models import db as dbmod
    from models.db import database, schema_version

    database.execute_sql("DROP TABLE handoff_code")
    database.execute_sql("DROP TABLE api_key")
    database.execute_sql("PRAGMA user_version = 5")
    database.close()
    open_database(db_path)
    assert schema_version() == dbmod.SCHEMA_VERSION >= 6
    api_keys.create_key("crm")
    api_keys.revoke_key("crm")
    api_keys.create_key("crm")
    with pytest.raises(Exception, match="UNIQUE"):  # the partial index, not only the check in create_key
        database.execute_sql(
            "INSERT INTO api_key (name, key_hash, prefix, created_at, created_by) VALUES ('crm', 'x', 'x', '', '')"
        )
