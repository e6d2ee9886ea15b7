"""What a demanding user's trial of the command line found (session 21), each kept fixed: run as the real click
command against a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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


def test_settings_list_says_what_each_takes_without_contradiction(cli):
    lines = cli("settings").stdout.splitlines()
    callback = next(line for line in lines if line.startswith("portal_callback_url"))
    # It used to say "(https URL; "" for none) (text of 1 to 2000 characters)": "" is allowed, so not "1 to".
    assert "1 to 2000" not in callback and '"" for none' in callback and "(none)" in callback
    # One column for the values, whatever the key's length.
    starts = {line.index(line.split()[1]) for line in lines}
    assert len(starts) == 1, lines
    too_long = cli("settings", "set", "portal_callback_url", "https://a.example/" + "x" * 2000)
    assert too_long.exit_code == 1 and "1 to 2000" not in too_long.stderr


def test_settings_set_help_names_every_key_and_its_range(cli):
    from models import settings

    shown = cli("settings", "set", "--help").stdout
    for key, spec in settings.SPECS.items():
        assert f"{key}: {spec.help}; {spec.describe_range()}" in shown
    assert "from 1 to 8760" in shown


def test_audit_lines_keep_their_columns_whatever_the_action(cli, db):
    from models import audit
    from models.db import database

    audit.record("portal.exchange_refused", subject="(no such code)", detail="malformed code, API key cb")
    audit.record("setting", subject="agency_name", detail="Acme")
    database.close()
    lines = cli("audit").stdout.splitlines()
    # The subject starts in one column: a fixed 16-character action column let the long name push it along.
    assert [line.index(subject) for line, subject in zip(lines, ("agency_name", "(no such code)"))] == [
        lines[0].index("agency_name")] * 2, lines


def test_a_loopback_host_without_its_port_says_the_port_is_what_is_missing(cli):
    for host in ("127.0.0.1", "localhost", "LOCALHOST"):
        result = cli("domains", "add", host)
        assert result.exit_code == 1
        assert result.stderr.splitlines() == [f"error: {host!r} needs its port to try the portal on this machine: "
                                              f"{host.lower()}:8080 (where client-portal serve listens)"]
    assert cli("domains", "add", "127.0.0.1:8080").exit_code == 1  # taken, but never as the default
    assert cli("domains", "add", "portal.example.com").exit_code == 0
    assert cli("domains", "add", "localhost:8080", "--select").exit_code == 0
    assert cli("url").stdout.strip() == "http://localhost:8080/"


def test_a_name_for_several_new_addresses_is_refused_not_dropped(cli):
    assert cli("domains", "add", "portal.example.com").exit_code == 0
    result = cli("invite", "n1@example.com", "n2@example.com", "--first-name", "Nora")
    # Both were invited nameless, without a word about the name.
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == ("error: --first-name and --last-name are for one new address; add the "
                                             "others' names with contacts add (or contacts import) first")
    assert _statuses(cli) == {}


def test_a_name_for_an_existing_contact_is_said_to_be_left_alone(cli):
    assert cli("domains", "add", "portal.example.com").exit_code == 0
    assert cli("contacts", "add", "ada@example.com", "--first-name", "Ada").exit_code == 0
    result = cli("invite", "ada@example.com", "--first-name", "Augusta")
    assert result.exit_code == 0
    assert ("note: ada@example.com was already a contact: its name is left as it was (change it in the dashboard)"
            in result.stderr.splitlines())
    listed = json.loads(cli("contacts", "list", "--json").stdout)["contacts"]
    assert [row["first_name"] for row in listed] == ["Ada"]
    new = cli("invite", "bo@example.com", "--first-name", "Bo")
    assert "note:" not in new.stderr


def test_a_magic_link_for_a_contact_not_invited_says_it_invites_them(cli):
    assert cli("domains", "add", "portal.example.com").exit_code == 0
    assert cli("contacts", "add", "ada@example.com").exit_code == 0
    first = cli("magic-link", "ada@example.com")
    assert first.exit_code == 0
    # The dashboard says so; the command changed the status without a word.
    assert first.stderr.splitlines()[-1] == ("ada@example.com had not been invited: this link is their invitation "
                                             "(now: invited)")
    assert _statuses(cli) == {"ada@example.com": "invited"}
    again = cli("magic-link", "ada@example.com")
    assert "had not been invited" not in again.stderr


def test_a_login_email_to_contacts_not_invited_says_it_invites_them(cli):
    assert cli("domains", "add", "portal.example.com").exit_code == 0
    for address in ("ada@example.com", "bo@example.com", "cy@example.com"):
        assert cli("contacts", "add", address).exit_code == 0
    assert cli("invite", "cy@example.com").exit_code == 0
    one = cli("login-email", "ada@example.com")
    assert one.stderr.splitlines() == ["note: ada@example.com not invited yet: the login email, once sent, is their "
                                       "invitation"]
    many = cli("login-email", "bo@example.com", "cy@example.com")
    assert many.stderr.splitlines() == ["note: 1 of them was not invited yet: the login email, once sent, is their "
                                        "invitation"]
    again = cli("login-email", "cy@example.com")  # invited: its invitation waits, so this one is skipped
    assert "note:" not in again.stderr


def test_the_command_list_uses_a_wide_terminal():
    # A process of its own: click's test runner forces its own width, the real command reads the terminal's.
    import os
    import subprocess
    import sys

    def help_at(columns: str) -> str:
        env = {**os.environ, "COLUMNS": columns}
        return subprocess.run([sys.executable, "-c", "from tui.cli import main; main()", "--help"], env=env,
                              capture_output=True, text=True, timeout=60, cwd=ROOT).stdout

    commands = help_at("120").split("Commands:", 1)[1].splitlines()
    # At click's default 80 columns most summaries ended in "..." whatever the terminal's width.
    assert [line.split()[0] for line in commands if line.rstrip().endswith("...")] == ["serve"], commands
    assert all(len(line) <= 80 for line in help_at("80").splitlines())
