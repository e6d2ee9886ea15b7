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
