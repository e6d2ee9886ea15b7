"""What a demanding user's trial of the command line found (session 21), each kept fixed: run as the real click
command against a real SQLite file."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def invited_pair(cli):
    """A domain and two invited contacts, r1 and r2, each with an invitation queued."""
    assert cli("domains", "add", "portal.example.com").exit_code == 0
    assert cli("invite", "r1@example.com", "r2@example.com").exit_code == 0
    return cli


def _statuses(cli) -> dict[str, str]:
    listed = json.loads(cli("contacts", "list", "--json").stdout)
    return {row["email"]: row["status"] for row in listed["contacts"]}


def test_revoke_goes_on_past_an_unknown_address(invited_pair):
    cli = invited_pair
    result = cli("revoke", "r1@example.com", "typo@example.com", "r2@example.com")
    # The typo is named and the command fails, but every leaver on the list lost their access.
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["skipped typo@example.com: typo@example.com is not a contact"]
    assert result.stdout.splitlines() == ["revoked r1@example.com", "revoked r2@example.com"]
    assert _statuses(cli) == {"r1@example.com": "revoked", "r2@example.com": "revoked"}
    # Their queued invitations are not sent.
    queued = json.loads(cli("outbox", "list", "--status", "queued", "--json").stdout)
    assert queued["messages"] == []


def test_revoke_json_names_what_it_skipped(invited_pair):
    cli = invited_pair
    result = cli("revoke", "not-an-address", "r2@example.com", "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["revoked"] == ["r2@example.com"]
    assert [s["email"] for s in body["skipped"]] == ["not-an-address"]
    assert "not a valid email address" in body["skipped"][0]["reason"]
    assert _statuses(cli)["r1@example.com"] == "invited"


@pytest.mark.parametrize(("args", "error"), [
    (["invite"], "error: give email addresses or --expired"),
    (["invite", "a@example.com", "--expired"], "error: give email addresses or --expired, not both"),
    (["login-email"], "error: give email addresses or --status STATUS"),
    (["login-email", "a@example.com", "--status", "joined"],
     "error: give email addresses or --status STATUS, not both"),
    (["revoke"], "error: give email addresses or --all-links"),
    (["revoke", "a@example.com", "--all-links"], "error: give email addresses or --all-links, not both"),
])
def test_neither_and_both_are_told_apart(cli, args, error):
    # "(not both)" when nothing was given sent the user looking for a second thing they had typed.
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == error


def test_an_invite_that_invites_nobody_says_so(invited_pair):
    cli = invited_pair
    # r1's invitation still waits to be sent: inviting again skips it. "invited 0 contacts; invitations queued
    # (batch ...)" named a batch that holds nothing.
    result = cli("invite", "r1@example.com")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["skipped r1@example.com: an invite email is already waiting to be sent"]
    assert result.stdout.splitlines() == ["nobody invited: every address was skipped (above); nothing queued"]


def test_a_login_email_to_nobody_says_so(invited_pair):
    cli = invited_pair
    result = cli("login-email", "typo@example.com")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["no login email queued: every address was skipped (above)"]
    none_joined = cli("login-email", "--status", "joined")
    assert none_joined.exit_code == 0
    assert none_joined.stdout.splitlines() == ["no login email queued: no contact is joined"]
    assert "batch" not in result.stdout + none_joined.stdout
