"""Mail configuration from the environment, the message builder, and the mail layer's own hygiene."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mail.config import MailConfig
from mail.message import build_message, header_text, recipient_address, sender_address
from mail.templates import RenderedEmail
from models import settings
from models.errors import InvalidInput

ROOT = Path(__file__).resolve().parent.parent


def test_no_host_means_the_maildir_beside_the_database(tmp_path):
    config = MailConfig.from_env(tmp_path, {})
    assert not config.uses_smtp
    assert config.maildir == tmp_path / "Maildir"
    assert config.describe() == f"local Maildir {tmp_path / 'Maildir'}"
    assert config.timeout == 30.0


@pytest.mark.parametrize(
    "env,port,security",
    [
        ({}, 587, "starttls"),
        ({"CLIENT_PORTAL_SMTP_PORT": "465"}, 465, "ssl"),
        ({"CLIENT_PORTAL_SMTP_SECURITY": "ssl"}, 465, "ssl"),
        ({"CLIENT_PORTAL_SMTP_SECURITY": "NONE"}, 25, "none"),
        ({"CLIENT_PORTAL_SMTP_SECURITY": "starttls", "CLIENT_PORTAL_SMTP_PORT": "2525"}, 2525, "starttls"),
    ],
)
def test_ports_and_security_follow_each_other(tmp_path, env, port, security):
    config = MailConfig.from_env(tmp_path, {"CLIENT_PORTAL_SMTP_HOST": "smtp.example.com", **env})
    assert (config.port, config.security) == (port, security)
    assert config.describe() == f"SMTP smtp.example.com:{port} ({'unencrypted' if security == 'none' else security})"


def test_user_password_from_and_timeout(tmp_path):
    config = MailConfig.from_env(tmp_path, {
        "CLIENT_PORTAL_SMTP_HOST": " smtp.example.com ",
        "CLIENT_PORTAL_SMTP_USER": "mailer@example.com",
        "CLIENT_PORTAL_SMTP_PASSWORD": " s3cret with spaces ",
        "CLIENT_PORTAL_MAIL_FROM": "Agency <hello@agency.example>",
        "CLIENT_PORTAL_SMTP_TIMEOUT": "7.5",
    })
    assert config.host == "smtp.example.com" and config.user == "mailer@example.com"
    assert config.password == " s3cret with spaces "
    assert config.mail_from == "Agency <hello@agency.example>" and config.timeout == 7.5
    assert "s3cret" not in repr(config) and "s3cret" not in config.describe()
    assert config.describe().endswith("as mailer@example.com")


@pytest.mark.parametrize(
    "env,message",
    [
        ({"CLIENT_PORTAL_SMTP_PORT": "smtp"}, "CLIENT_PORTAL_SMTP_PORT must be a port number (1-65535), got 'smtp'"),
        ({"CLIENT_PORTAL_SMTP_PORT": "70000"}, "CLIENT_PORTAL_SMTP_PORT must be a port number"),
        ({"CLIENT_PORTAL_SMTP_SECURITY": "tls"}, "must be one of none, starttls, ssl, got 'tls'"),
        ({"CLIENT_PORTAL_SMTP_TIMEOUT": "0"}, "CLIENT_PORTAL_SMTP_TIMEOUT must be a number of seconds"),
        ({"CLIENT_PORTAL_SMTP_TIMEOUT": "nan"}, "CLIENT_PORTAL_SMTP_TIMEOUT must be a number of seconds"),
        ({"CLIENT_PORTAL_MAIL_FROM": "not an address"}, "CLIENT_PORTAL_MAIL_FROM must be one address"),
        ({"CLIENT_PORTAL_MAIL_FROM": "a@x.com, b@x.com"}, "CLIENT_PORTAL_MAIL_FROM must be one address"),
        ({"CLIENT_PORTAL_MAIL_FROM": "a@x.com\r\nBcc: c@x.com"}, "control characters"),
        ({"CLIENT_PORTAL_SMTP_HOST": "smtp.example.com/path"}, "CLIENT_PORTAL_SMTP_HOST must be a host name"),
    ],
)
def test_bad_values_are_refused_with_what_was_expected(tmp_path, env, message):
    with pytest.raises(InvalidInput) as info:
        MailConfig.from_env(tmp_path, {"CLIENT_PORTAL_SMTP_HOST": "smtp.example.com", **env})
    assert message in str(info.value)


def test_the_message_has_a_text_part_an_html_part_and_the_row_message_id(db):
    config = MailConfig.from_env(Path("/tmp"), {})
    settings.set_value("agency_name", "Ada & Co: \"the\" agency")
    msg = build_message(
        RenderedEmail(subject="Sign in", text="Hello\nhttps://x/login/t\n", html="<p>Hello</p>"),
        sender=sender_address(config),
        to=recipient_address("ada@example.com", "Ada\r\nBcc: evil@example.com"),
        message_id="<abc@portal.example.com>",
        date=datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
        kind="login",
    )
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Message-ID"] == "<abc@portal.example.com>"
    assert msg["Date"] == "Tue, 24 Nov 2026 09:30:00 +0000"
    assert msg["From"].addresses[0].display_name == 'Ada & Co: "the" agency'
    assert msg["From"].addresses[0].addr_spec == "portal@portal.example.com"
    assert msg["To"].addresses[0].display_name == "Ada Bcc: evil@example.com"
    assert msg["Bcc"] is None
    flat = msg.as_string()
    assert "\nBcc:" not in flat
    assert msg["X-Client-Portal-Kind"] == "login"


def test_header_text_is_one_clean_line():
    assert header_text("a\r\nb\tc\x1b[31m  d\x00") == "a b c[31m d"


def test_mail_writes_no_sql_and_no_terminal_output():
    """mail/ leaves SQL to models/ and the screen to tui/: no peewee, sqlite3, print or click in it."""
    for path in sorted((ROOT / "mail").rglob("*.py")):
        tree = ast.parse(path.read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert not imported & {"peewee", "sqlite3", "click", "textual"}, path
        calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Name)}
        assert "print" not in calls, path
        assert "execute_sql" not in path.read_text(), path
