"""The command line's words: counts and articles said right everywhere (one helper, and a check of the source
that nothing counts any other way), usage errors in one line plus a hint, what the SMTP line means, and
`--json` on url, revoke, settings, contacts add and contacts export. Run through the real command (click's
runner on the test database, or a process of its own)."""

from __future__ import annotations

import ast
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mail.config import MailConfig
from models import links, settings
from models.entities import Contact
from models.words import article, plural

ROOT = Path(__file__).resolve().parent.parent


# --- one helper for counts and articles ---------------------------------------------------------------------


@pytest.mark.parametrize(("count", "noun", "said"), [
    (0, "contact", "0 contacts"), (1, "contact", "1 contact"), (2, "contact", "2 contacts"),
    (1_234, "contact", "1,234 contacts"), (1, "login email", "1 login email"), (3, "login email", "3 login emails"),
    (2, "entry", "2 entries"), (2, "address", "2 addresses"), (1, "attempt", "1 attempt"),
    (5, "attempt", "5 attempts"),
])
def test_plural(count, noun, said):
    assert plural(count, noun) == said


@pytest.mark.parametrize(("word", "said"), [
    ("invite", "an invite"), ("login", "a login"), ("int", "an int"), ("email", "an email"),
    ("URL", "a URL"), ("SMTP", "an SMTP"), ("HTML", "an HTML"), ("user", "a user"), ("unique", "a unique"),
    ("hour", "an hour"), ("one-time", "a one-time"),
])
def test_article(word, said):
    assert article(word) == said


COUNT_EXPRESSION = re.compile(r"\blen\(|count|total|added|skipped|attempts|waiting|size|queued|\bn\b")
"""What an f-string's value looks like when it is a number of things."""

ALWAYS_MANY = re.compile(r"^[A-Z][A-Z0-9_]*(\s*//\s*\d+)?$|^\w+\.[A-Z][A-Z0-9_]*(\s*//\s*\d+)?$")
"""A constant (`MAX_COLUMNS`, `web_server.TOKEN_SECONDS // 60`): a fixed number above one."""


def counted_messages() -> list[str]:
    """Every f-string in the application that says a number of things without the helper."""
    problems = []
    for root in ("tui", "mail", "models", "portal"):
        for path in sorted((ROOT / root).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.JoinedStr):
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                for index, part in enumerate(node.values):
                    if isinstance(part, ast.Constant) and re.search(r"\w\(s\)", str(part.value)):
                        problems.append(f"{where}: '(s)' in {ast.unparse(node)}")
                    if not isinstance(part, ast.FormattedValue) or index + 1 == len(node.values):
                        continue
                    after = node.values[index + 1]
                    expression = ast.unparse(part.value)
                    word = re.match(r" (\w+s)\b", str(getattr(after, "value", "")))
                    if (word and COUNT_EXPRESSION.search(expression) and not ALWAYS_MANY.match(expression)
                            # a length in "is 300 characters long; at most 200": above a maximum, so never one
                            and word.group(1) != "characters"):
                        problems.append(f"{where}: {{{expression}}} {word.group(1)} in {ast.unparse(node)}")
    return problems


def test_no_message_counts_without_the_helper():
    # "of 1 contacts", "imported 1 contact(s)", "gave up after 1 attempts": each number of things goes through
    # `plural` (models.words, handed on by tui.text), so none can say it wrong.
    assert counted_messages() == []


def test_the_scan_finds_what_it_is_for(tmp_path):
    # The check above must be able to fail: the forms it looks for, in a file of the shape it reads.
    source = 'a = f"{len(rows)} contacts"\nb = f"imported {count} contact(s)"\nc = f"{MAX_ROWS} rows"\n'
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            text = ast.unparse(node)
            expression = ast.unparse(node.values[0].value) if isinstance(node.values[0], ast.FormattedValue) else ""
            if re.search(r"\w\(s\)", text) or (COUNT_EXPRESSION.search(expression)
                                                 and not ALWAYS_MANY.match(expression)):
                found.append(text)
    assert found == ['f\'{len(rows)} contacts\'', "f'imported {count} contact(s)'"]


# --- the words, through the real command ----------------------------------------------------------------------


def test_one_contact_is_one_contact(cli, tmp_path):
    assert cli("domains", "add", "portal.example.com").exit_code == 0
    assert cli("contacts", "add", "ada@example.com").exit_code == 0
    listed = cli("contacts", "list")
    assert listed.stderr.strip() == "1 of 1 contact"
    path = tmp_path / "one.csv"
    path.write_text("email\nbob@example.com\n", encoding="utf-8")
    assert cli("contacts", "import", str(path)).stdout.strip() == "imported 1 contact, skipped 0"
    invited = cli("invite", "ada@example.com")
    assert invited.stdout.startswith("invited 1 contact; invitation queued (batch ")
    exported = cli("contacts", "export", str(tmp_path / "out.csv"))
    assert exported.stderr.strip() == "exported 2 contacts"
    again = cli("invite", "ada@example.com", "--json")
    assert json.loads(again.stdout)["skipped"] == [
        {"email": "ada@example.com", "reason": "an invite email is already waiting to be sent"}]
    assert cli("magic-link", "bob@example.com").exit_code == 0
    assert cli("revoke", "--all-links").stdout.strip() == "revoked 1 outstanding link"


def test_the_smtp_line_says_plain_smtp_is_unencrypted(tmp_path):
    # CLIENT_PORTAL_SMTP_SECURITY=none means plain SMTP without TLS (a local relay), not "no SMTP".
    config = MailConfig.from_env(tmp_path, {"CLIENT_PORTAL_SMTP_HOST": "relay.example.com",
                                            "CLIENT_PORTAL_SMTP_PORT": "25", "CLIENT_PORTAL_SMTP_SECURITY": "none"})
    assert config.describe() == "SMTP relay.example.com:25 (unencrypted)"
    tls = MailConfig.from_env(tmp_path, {"CLIENT_PORTAL_SMTP_HOST": "smtp.example.com"})
    assert tls.describe() == "SMTP smtp.example.com:587 (starttls)"


# --- usage errors: one line and a hint ------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "error", "hint"), [
    (["invite"], "error: give email addresses or --expired", "client-portal invite -h"),
    (["stats", "--jsn"], "error: no such option '--jsn'. Did you mean '--json'?", "client-portal stats -h"),
    (["contacts", "list", "--limit", "-1"], "error: invalid value for '--limit': -1 is not in the range x>=0",
     "client-portal contacts list -h"),
    (["nosuch"], "error: no such command 'nosuch'", "client-portal -h"),
    (["contacts", "add"], "error: missing argument 'EMAIL'", "client-portal contacts add -h"),
    (["outbox", "send", "--batch"], "error: option '--batch' requires an argument", "client-portal outbox -h"),
    (["contacts", "export", "-", "--json"], "error: --json needs a file: with '-' the CSV itself goes to standard "
     "output", "client-portal contacts export -h"),
])
def test_usage_errors_are_one_line_and_a_hint(cli, args, error, hint):
    result = cli(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines == [error, f"hint: {hint} shows how to use it"], lines
    assert result.stdout == ""


def test_a_usage_error_in_a_process_of_its_own(db_path):
    command = Path(sys.executable).parent / "client-portal"  # the installed entry point
    result = subprocess.run([str(command), "--db", str(db_path), "revoke", "--jsno"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["error: no such option '--jsno'. Did you mean '--json'?",
                                          "hint: client-portal revoke -h shows how to use it"]


# --- --json where it was missing -------------------------------------------------------------------------------


def test_url_json(cli):
    assert cli("domains", "add", "portal.example.com").exit_code == 0
    assert json.loads(cli("url", "--json").stdout) == {"url": "https://portal.example.com/"}


def test_contacts_add_json_reports_the_row_and_the_warnings(cli, db):
    result = cli("contacts", "add", "ada@example.com", "--first-name", "Ada", "--json")
    assert result.exit_code == 0
    added = json.loads(result.stdout)
    assert added["added"]["email"] == "ada@example.com" and added["added"]["first_name"] == "Ada"
    assert added["added"]["id"] == Contact.get(Contact.email == "ada@example.com").id
    assert added["warnings"] == []
    lookalike = json.loads(cli("contacts", "add", "аda@example.com", "--json").stdout)  # a Cyrillic а
    assert lookalike["warnings"] and "ada@example.com" in lookalike["warnings"][0]


def test_export_json_is_a_summary(cli, tmp_path):
    for email in ("ada@example.com", "bob@example.com", "cy@example.com"):
        assert cli("contacts", "add", email).exit_code == 0
    target = tmp_path / "contacts.csv"
    result = cli("contacts", "export", str(target), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"path": str(target.resolve()), "count": 3}
    with open(target, encoding="utf-8-sig", newline="") as handle:
        assert sorted(row["email"] for row in csv.DictReader(handle)) == [
            "ada@example.com", "bob@example.com", "cy@example.com"]


def test_revoke_json(cli, db):
    for email in ("ada@example.com", "bob@example.com"):
        assert cli("contacts", "add", email).exit_code == 0
    assert cli("magic-link", "bob@example.com").exit_code == 0
    result = cli("revoke", "ada@example.com", "--json")
    assert json.loads(result.stdout) == {"revoked": ["ada@example.com"], "skipped": []}
    assert Contact.get(Contact.email == "ada@example.com").status == "revoked"
    assert json.loads(cli("revoke", "--all-links", "--json").stdout) == {"links_revoked": 1}
    assert links.revoke_all_links() == 0


def test_settings_json(cli, db):
    shown = json.loads(cli("settings", "--json").stdout)
    assert set(shown) == set(settings.SPECS)
    assert shown["login_ttl_hours"] == 24 and shown["agency_name"] == "Your agency"
    changed = json.loads(cli("settings", "set", "login_ttl_hours", "12", "--json").stdout)
    assert changed == {"key": "login_ttl_hours", "value": 12}
    assert settings.get("login_ttl_hours") == 12
    refused = cli("settings", "set", "login_ttl_hours", "abc", "--json")
    assert refused.exit_code == 1 and refused.stdout == ""
    assert refused.stderr.strip() == "error: login_ttl_hours must be a whole number from 1 to 720, got 'abc'"
