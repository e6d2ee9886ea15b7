"""The command-line contract of DESIGN.md, run as the real click command against a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import DATA

ROOT = Path(__file__).resolve().parent.parent


def test_domains_url_and_stats_json(cli):
    assert cli("url").exit_code == 1
    assert "domains add" in cli("url").stderr
    assert cli("domains", "add", "portal.example.com").exit_code == 0
    assert cli("url").stdout.strip() == "https://portal.example.com/"
    assert cli("domains", "add", "clients.agency.io", "--select").exit_code == 0
    assert cli("url").stdout.strip() == "https://clients.agency.io/"
    listed = json.loads(cli("domains", "list", "--json").stdout)
    assert {d["name"]: (d["is_default"], d["is_selected"]) for d in listed} == {
        "portal.example.com": (True, False),
        "clients.agency.io": (False, True),
    }
    stats = json.loads(cli("stats", "--json").stdout)
    for key in ("contacts", "invited", "joined", "pending", "expired", "outbox_queued", "outbox_failed"):
        assert stats[key] == 0


def test_import_invite_magic_link_redeem_flow(cli):
    cli("domains", "add", "portal.example.com")
    result = cli("contacts", "import", str(DATA / "contacts_google.csv"))
    assert result.exit_code == 0, result.output
    assert "imported 3 contacts, skipped 1" in result.stdout
    assert "line 5: skipped: no email address" in result.stderr

    result = cli("invite", "marie@example.fr", "new.person@example.org", "--json")
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["invited"] == ["marie@example.fr", "new.person@example.org"]
    assert body["created"] == ["new.person@example.org"]

    result = cli("magic-link", "niels@example.dk")
    url = result.stdout.strip()
    assert url.startswith("https://portal.example.com/login/") and "expires" in result.stderr

    result = cli("redeem", url, "--json")
    assert json.loads(result.stdout) == {"ok": True, "email": "niels@example.dk", "first_login": True,
                                         "purpose": "login"}
    again = cli("redeem", url, "--json")
    assert again.exit_code == 1 and json.loads(again.stdout)["reason"] == "used"

    stats = json.loads(cli("stats", "--json").stdout)
    assert (stats["contacts"], stats["invited"], stats["joined"], stats["pending"]) == (4, 2, 1, 2)
    assert stats["invited_total"] == 3
    assert stats["outbox_queued"] == 2


def test_bad_input_is_one_line_without_traceback(cli, tmp_path):
    cli("domains", "add", "portal.example.com")
    cases = [
        ("contacts", "add", "not-an-email"),
        ("contacts", "import", str(tmp_path / "missing.csv")),
        ("magic-link", "nobody@example.com"),
        ("redeem", "garbage"),
        ("domains", "add", "http://evil.com/x"),
        ("settings", "set", "login_ttl_hours", "soon"),
    ]
    for args in cases:
        result = cli(*args)
        assert result.exit_code == 1, args
        assert "Traceback" not in result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)


def test_revoke_and_revoke_all_links(cli):
    cli("domains", "add", "portal.example.com")
    cli("contacts", "add", "ada@example.com", "--first-name", "Ada")
    cli("contacts", "add", "grace@example.com")
    ada = cli("magic-link", "ada@example.com").stdout.strip()
    grace = cli("magic-link", "grace@example.com").stdout.strip()
    assert cli("revoke", "ada@example.com").exit_code == 0
    assert "revoked" in cli("redeem", ada).stderr
    assert cli("revoke", "--all-links").stdout.strip() == "revoked 1 outstanding link"
    assert "revoked" in cli("redeem", grace).stderr
    assert cli("revoke").exit_code == 2


def test_export_to_stdout_and_contacts_list_json(cli):
    cli("contacts", "add", "ada@example.com", "--first-name", "=1+1")
    out = cli("contacts", "export", "-")
    assert out.stdout.splitlines()[1].startswith("ada@example.com,'=1+1")
    listed = json.loads(cli("contacts", "list", "--json").stdout)
    assert listed["total"] == 1 and listed["contacts"][0]["email"] == "ada@example.com"


def test_hostile_values_are_printed_visibly(cli):
    cli("contacts", "add", "ada@example.com", "--first-name", "\x1b]52;c;aGk=\x07Ada")
    out = cli("contacts", "list").stdout
    assert "\x1b" not in out and "\\x1b" in out


def test_installed_console_script_runs_in_a_subprocess(tmp_path):
    env = {**os.environ, "CLIENT_PORTAL_DB": str(tmp_path / "sub.db")}
    exe = Path(sys.executable).with_name("client-portal")
    subprocess.run([exe, "domains", "add", "portal.example.com"], env=env, check=True, capture_output=True)
    out = subprocess.run([exe, "stats", "--json"], env=env, check=True, capture_output=True, text=True)
    assert json.loads(out.stdout)["contacts"] == 0
    bad = subprocess.run([exe, "contacts", "add", "x"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
    assert (tmp_path / "sub.db").stat().st_mode & 0o777 == 0o600
