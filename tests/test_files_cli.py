"""Issue 11, the command line and what it records: `redeem` takes a token that starts with '-' and reads one from
standard input; every setting has a range checked when it is set; the audit records the real account."""

from __future__ import annotations

import json
import os
import pwd

import pytest

from mail.config import MailConfig
from mail.outbox import OutboxSender
from models import audit, contacts, links, outbox, portal, settings
from models.actor import current_actor, current_host
from models.db import data_dir_for, database
from models.errors import InvalidInput

# --- redeem ---------------------------------------------------------------------------------------------------


def _dashed_token(email: str) -> str:
    """A real token that starts with '-' (one in 64 do): issue links until one does."""
    for _ in range(5000):
        token = links.issue_link(email, "login").token
        if token.startswith("-"):
            return token
    raise AssertionError("no token starting with '-' in 5000 links")


@pytest.mark.parametrize("order", ["token-only", "token-then-json", "json-then-token"])
def test_redeem_takes_a_bare_token_that_starts_with_a_dash(cli, db, order):
    contacts.add_contact("ada@example.com")
    token = _dashed_token("ada@example.com")
    database.close()
    args = {"token-only": [token], "token-then-json": [token, "--json"], "json-then-token": ["--json", token]}[order]
    result = cli("redeem", *args)
    assert result.exit_code == 0, result.output
    assert "No such option" not in result.output
    if "--json" in args:
        assert json.loads(result.stdout)["email"] == "ada@example.com"
    else:
        assert result.stdout == "ada@example.com logged in (joined the portal)\n"


@pytest.mark.parametrize("how", ["no-argument", "dash"])
def test_redeem_reads_the_token_from_standard_input(cli, db, how):
    contacts.add_contact("ada@example.com")
    token = _dashed_token("ada@example.com")
    database.close()
    args = [] if how == "no-argument" else ["-"]
    result = cli("redeem", *args, "--json", input=token + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["email"] == "ada@example.com"
    # A whole URL works the same way.
    url = links.issue_link("ada@example.com", "login").url
    database.close()
    result = cli("redeem", *args, input=url + "\n")
    assert result.exit_code == 0 and "ada@example.com logged in" in result.stdout


def test_redeem_with_nothing_on_standard_input_is_a_usage_error(cli, db):
    database.close()
    result = cli("redeem", input="")
    assert result.exit_code == 2 and "standard input" in result.stderr


def test_a_mistyped_option_is_still_an_error_not_a_token(cli, db):
    database.close()
    result = cli("redeem", "--jsn", "whatever")
    assert result.exit_code == 2 and "no such option" in result.stderr


# --- settings ranges ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("invite_ttl_hours", "99999999999", "from 1 to 8760"),
        ("invite_ttl_hours", "0", "from 1 to 8760"),
        ("login_ttl_hours", "-5", "from 1 to 720"),
        ("login_ttl_hours", "9" * 5000, "from 1 to 720"),
        ("send_rate", "1e-300", "from 0.01 to 1000"),
        ("send_rate", "inf", "from 0.01 to 1000"),
        ("send_rate", "nan", "from 0.01 to 1000"),
        ("send_rate", "1e309", "from 0.01 to 1000"),
        ("max_attempts", "1000000", "from 1 to 100"),
        ("agency_name", "A" * 101, "1 to 100 characters"),
        ("agency_name", "Evil\u202eCorp", "U+202E"),
        ("agency_name", "Two\nlines", "U+000A"),
        ("agency_name", "Iso\u2066late", "U+2066"),
    ],
)
def test_every_setting_is_checked_against_its_range_when_set(cli, db, key, value, words):
    before = settings.get(key)
    database.close()
    result = cli("settings", "set", key, value)
    assert result.exit_code == 1
    assert words in result.stderr and result.stderr.count("\n") == 1 and len(result.stderr) < 200
    database.close()
    from models.db import open_database

    open_database(os.environ["CLIENT_PORTAL_DB"])
    assert settings.get(key) == before


def test_values_in_range_are_stored_normalised(db):
    settings.set_value("invite_ttl_hours", " 8760 ")
    settings.set_value("send_rate", "0.01")
    settings.set_value("agency_name", "Ada & Co — Ünïcode")
    assert settings.get("invite_ttl_hours") == 8760 and settings.get("send_rate") == 0.01
    assert settings.get("agency_name") == "Ada & Co — Ünïcode"


def test_values_stored_out_of_range_are_clamped_or_defaulted_and_sending_works(db, db_path):
    stored = {"invite_ttl_hours": "99999999999", "login_ttl_hours": "-3", "send_rate": "1e-300",
              "max_attempts": "1e9", "agency_name": "x" * 120_000}
    for key, value in stored.items():
        database.execute_sql('INSERT OR REPLACE INTO "setting" ("key", "value") VALUES (?, ?)', (key, value))
    assert settings.get("invite_ttl_hours") == 8760
    assert settings.get("login_ttl_hours") == 1
    assert settings.get("send_rate") == 0.01
    assert settings.get("max_attempts") == 5  # not a whole number: the default
    assert settings.get("agency_name") == "Your agency"
    result = portal.invite(["ada@example.com"])  # an invitation link valid for 99999999999 hours overflowed
    assert [r.email for r in result.invited] == ["ada@example.com"]
    summary = OutboxSender(MailConfig.from_env(data_dir_for(db_path))).send(None)
    assert summary.sent == 1 and not summary.failed, summary


# --- who did it -----------------------------------------------------------------------------------------------


def test_the_audit_records_the_real_account_not_the_user_variable(db, monkeypatch):
    monkeypatch.setenv("USER", "the-boss")
    monkeypatch.setenv("LOGNAME", "the-boss")
    monkeypatch.setenv("SSH_CONNECTION", "203.0.113.7 50022 10.0.0.2 22")
    contacts.add_contact("ada@example.com")
    links.revoke_access("ada@example.com")
    real = pwd.getpwuid(os.getuid()).pw_name
    entries = [e for e in audit.recent(10) if e.subject == "ada@example.com"]
    assert len(entries) >= 2 and all(e.actor == real for e in entries)
    assert all(e.host == "ssh:203.0.113.7 (reported)" for e in entries)
    from models.entities import Contact

    assert Contact.get(Contact.email == "ada@example.com").revoked_by == real


@pytest.mark.parametrize(
    "environ, host",
    [
        ({}, None),
        ({"SSH_CLIENT": "2001:db8::1 50022 22"}, "ssh:2001:db8::1 (reported)"),
        ({"SSH_CONNECTION": "203.0.113.7 1 10.0.0.2 22", "SSH_CLIENT": "198.51.100.1 1 22"},
         "ssh:203.0.113.7 (reported)"),
        ({"SSH_CONNECTION": "\x1b[31mevil 1 2 3"}, "ssh:unreadable (reported)"),
    ],
)
def test_the_ssh_address_is_labelled_as_reported(environ, host):
    assert current_host(environ) == host


def test_the_actor_ignores_user_and_logname(monkeypatch):
    monkeypatch.setenv("USER", "someone-else")
    monkeypatch.setenv("LOGNAME", "someone-else")
    assert current_actor() == pwd.getpwuid(os.getuid()).pw_name


def test_the_audit_command_shows_where_a_change_was_reported_from(cli, db, monkeypatch):
    monkeypatch.setenv("SSH_CONNECTION", "203.0.113.7 50022 10.0.0.2 22")
    contacts.add_contact("ada@example.com")
    database.close()
    result = cli("audit")
    assert "from ssh:203.0.113.7 (reported)" in result.stdout


def test_an_unknown_setting_and_a_wrong_kind_still_say_what_is_expected(db):
    with pytest.raises(InvalidInput, match="unknown setting"):
        settings.set_value("colour", "blue")
    with pytest.raises(InvalidInput, match="a whole number from 1 to 100, got 'five'"):
        settings.set_value("max_attempts", "five")
