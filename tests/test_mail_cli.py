"""The mail commands, run through the real `client-portal` click group: login-email, outbox, templates."""

from __future__ import annotations

import json
import mailbox

from models import contacts, outbox
from models.entities import OutboxMessage


def _add(*addresses: str) -> None:
    for address in addresses:
        contacts.add_contact(address, address.split("@")[0].title())


def test_login_email_queues_given_addresses_and_reports_the_unknown(db, cli):
    _add("ada@example.com", "bob@example.com")
    result = cli("login-email", "ada@example.com", "nobody@example.com", "BOB@example.com")
    assert result.exit_code == 0, result.output
    assert "queued 2 login emails" in result.stdout
    assert "skipped nobody@example.com: nobody@example.com is not a contact" in result.stderr
    assert OutboxMessage.select().where(OutboxMessage.kind == "login").count() == 2


def test_login_email_by_status_as_json(db, cli):
    _add("ada@example.com", "bob@example.com", "cy@example.com")
    cli("invite", "ada@example.com", "bob@example.com")
    result = cli("login-email", "--status", "invited", "--json")
    data = json.loads(result.stdout)
    assert sorted(data["queued"]) == ["ada@example.com", "bob@example.com"]
    assert len(data["batch"]) == 12


def test_login_email_needs_addresses_or_a_status(db, cli):
    assert cli("login-email").exit_code == 2
    assert cli("login-email", "a@example.com", "--status", "joined").exit_code == 2
    result = cli("login-email", "nobody@example.com")
    assert result.exit_code == 1


def test_outbox_send_without_smtp_fills_the_maildir_and_lists_the_rows(db, db_path, cli):
    cli("invite", "ada@example.com", "bob@example.com")
    listed = cli("outbox")
    assert listed.exit_code == 0
    assert listed.stdout.count("queued") == 2 and "2 queued" in listed.stderr

    sent = cli("outbox", "send")

    assert sent.exit_code == 0, sent.output
    assert f"sending through local Maildir {db_path.parent / 'Maildir'}" in sent.stderr
    assert "sent 2, failed 0, skipped 0" in sent.stdout
    assert len(mailbox.Maildir(db_path.parent / "Maildir", create=False)) == 2
    data = json.loads(cli("outbox", "list", "--json").stdout)
    assert data["counts"]["sent"] == 2 and {m["status"] for m in data["messages"]} == {"sent"}


def test_outbox_send_over_smtp_reports_failures_and_retry_requeues(db, cli, smtp_server, monkeypatch):
    for key, value in smtp_server.env().items():
        monkeypatch.setenv(key, value)
    cli("invite", "ada@example.com", "bad@example.com", "cy@example.com")
    smtp_server.handler.reject("bad@example.com", "550 5.1.1 no such mailbox")

    result = cli("outbox", "send", "--rate", "0")

    assert result.exit_code == 3, result.output  # a message failed for good
    assert f"sending through SMTP 127.0.0.1:{smtp_server.port} (unencrypted)" in result.stderr
    assert "failed bad@example.com: 550 5.1.1 no such mailbox" in result.stderr
    assert "sent 2, failed 1, skipped 0" in result.stdout
    assert smtp_server.handler.connections == 1
    failed_line = [line for line in cli("outbox", "list", "--status", "failed").stdout.splitlines()]
    assert len(failed_line) == 1 and "550 5.1.1 no such mailbox" in failed_line[0]

    smtp_server.handler.accept("bad@example.com")  # the mailbox exists now
    assert "1 failed email queued again" in cli("outbox", "retry").stdout
    again = cli("outbox", "send", "--once", "--json")
    assert json.loads(again.stdout)["sent"] == 1
    (received,) = smtp_server.handler.by_recipient()["bad@example.com"]
    row = OutboxMessage.get(OutboxMessage.contact == contacts.find_contact("bad@example.com").id)
    assert row.status == "sent" and received.message["Message-ID"] == row.message_id  # the same email


def test_outbox_send_to_a_dead_server_exits_non_zero_and_keeps_the_mail(db, cli, closed_port, monkeypatch):
    monkeypatch.setenv("CLIENT_PORTAL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CLIENT_PORTAL_SMTP_PORT", str(closed_port))
    monkeypatch.setenv("CLIENT_PORTAL_SMTP_SECURITY", "none")
    cli("invite", "ada@example.com")
    result = cli("outbox", "send")
    assert result.exit_code == 4  # deferred: nothing lost, send again later
    assert f"error: cannot connect to the SMTP server 127.0.0.1:{closed_port}" in result.stderr
    assert "the mail stays queued" in result.stderr
    assert outbox.outbox_counts()["queued"] == 1


def test_bad_mail_settings_are_one_line_errors(db, cli, monkeypatch):
    monkeypatch.setenv("CLIENT_PORTAL_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("CLIENT_PORTAL_SMTP_SECURITY", "tls")
    result = cli("outbox", "send")
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: CLIENT_PORTAL_SMTP_SECURITY must be one of")
    assert len(result.stderr.strip().splitlines()) == 1


def test_templates_list_show_set_preview_reset(db, cli, tmp_path):
    listed = cli("templates")
    assert listed.exit_code == 0
    assert "invite   default" in listed.stdout and "contact.first_name" in listed.stdout

    assert cli("templates", "show", "login", "--part", "subject").stdout == (
        "Your sign-in link for {{ agency.name }}'s client portal\n")

    body = tmp_path / "body.txt"
    body.write_text("Hi {{ contact.nickname }}\n{{ link.url }}\n")
    refused = cli("templates", "set", "login", "--body-file", str(body))
    assert refused.exit_code == 1
    assert "error: the login text body, line 1: unknown value {{ contact.nickname }}" in refused.stderr

    body.write_text("Hi {{ contact.first_name }},\n\n{{ link.url }}\n")
    saved = cli("templates", "set", "login", "--body-file", str(body), "--subject", "Sign in, {{ contact.first_name }}")
    assert saved.exit_code == 0, saved.output
    assert "login    edited   Sign in, {{ contact.first_name }}" in cli("templates", "list").stdout
    shown = json.loads(cli("templates", "show", "login", "--json").stdout)
    assert shown["is_default"] is False and shown["text_body"] == body.read_text()

    contacts.add_contact("ada@example.com", "Ada")
    preview = cli("templates", "preview", "login", "ada@example.com")
    assert preview.stdout.startswith("Subject: Sign in, Ada\n\nHi Ada,\n")
    assert "https://portal.example.com/login/<link made when sent>" in preview.stdout

    assert cli("templates", "reset", "login").exit_code == 0
    assert "login    default" in cli("templates").stdout
    assert cli("templates", "show", "welcome").exit_code == 2


def test_templates_set_reads_the_html_from_stdin(db, cli):
    html = '<p>Hello {{ contact.first_name }}</p><a href="{{ link.url }}">Sign in</a>'
    result = cli("templates", "set", "invite", "--html-file", "-", input=html)
    assert result.exit_code == 0, result.output
    assert cli("templates", "show", "invite", "--part", "html").stdout == html + "\n"


def test_outbox_send_exit_codes_tell_sent_failed_and_deferred_apart(db, cli, smtp_server, monkeypatch):
    """0 all sent, 3 a message failed for good, 4 a message waits for a retry: before, each exited 0."""
    for key, value in smtp_server.env().items():
        monkeypatch.setenv(key, value)
    cli("invite", "ada@example.com", "slow@example.com")
    smtp_server.handler.fail_rcpt("slow@example.com", "451 4.3.0 try again later")

    deferred = cli("outbox", "send", "--once", "--rate", "0", "--json")
    assert deferred.exit_code == 4, deferred.output
    data = json.loads(deferred.stdout)
    assert (data["sent"], data["failed"], data["retrying"], data["exit_code"]) == (1, [], 1, 4)
    assert outbox.outbox_counts()["queued"] == 1  # nothing lost

    nothing_due = cli("outbox", "send", "--once", "--rate", "0")  # the retry is not due yet: nothing to do
    assert nothing_due.exit_code == 0 and "sent 0, failed 0, skipped 0" in nothing_due.stdout

    assert "--once" in cli("outbox", "send", "--help").stdout
    assert "4    mail is still queued" in cli("outbox", "send", "--help").stdout
