"""SMTP security and credentials against a real server: STARTTLS, implicit TLS, AUTH, certificate checks.

The server is aiosmtpd on 127.0.0.1 with a throwaway certificate; the client trusts it only because the test
points `SSL_CERT_FILE` at it, so the same code that refuses an unknown certificate is the one that succeeds.
"""

from __future__ import annotations

import sys
import types

import pytest

from mail.config import MailConfig
from mail.outbox import OutboxSender
from models import contacts, outbox
from tests.fixtures_smtp import Authenticator, start_server

USER, PASSWORD = "mailer@agency.example", "s3cret pass"


@pytest.fixture
def served():
    """Start servers with options inside a test; all are stopped at the end."""
    controllers = []

    def serve(**options):
        controller, server = start_server(**options)
        controllers.append(controller)
        return server

    yield serve
    for controller in controllers:
        controller.stop()


def _queue(n: int = 2) -> str:
    ids = [contacts.add_contact(f"c{i}@example.com").id for i in range(n)]
    return outbox.queue_login_emails(ids).batch


def _config(tmp_path, port: int, security: str, **env) -> MailConfig:
    values = {"CLIENT_PORTAL_SMTP_HOST": "127.0.0.1", "CLIENT_PORTAL_SMTP_PORT": str(port),
              "CLIENT_PORTAL_SMTP_SECURITY": security, "CLIENT_PORTAL_SMTP_TIMEOUT": "5", **env}
    return MailConfig.from_env(tmp_path, values)


def test_starttls_and_login_with_the_password_from_the_environment(db, tmp_path, served, tls_certificate,
                                                                   monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate.cert))
    auth = Authenticator(USER, PASSWORD)
    server = served(tls_context=tls_certificate.server_context(), authenticator=auth, auth_require_tls=True)
    batch = _queue(3)
    config = _config(tmp_path, server.port, "starttls", CLIENT_PORTAL_SMTP_USER=USER,
                     CLIENT_PORTAL_SMTP_PASSWORD=PASSWORD)

    summary = OutboxSender(config, rate=0).send(batch)

    assert summary.sent == 3 and summary.error == ""
    assert auth.attempts == [(USER, PASSWORD)]  # one login for the whole batch
    assert server.handler.connections == 1 and len(server.handler.messages) == 3


def test_implicit_tls(db, tmp_path, served, tls_certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate.cert))
    server = served(ssl_context=tls_certificate.server_context())
    batch = _queue()
    summary = OutboxSender(_config(tmp_path, server.port, "ssl"), rate=0).send(batch)
    assert summary.sent == 2 and len(server.handler.messages) == 2


def test_an_untrusted_certificate_is_refused_and_nothing_is_sent(db, tmp_path, served, tls_certificate,
                                                                  monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    server = served(tls_context=tls_certificate.server_context())
    batch = _queue()
    summary = OutboxSender(_config(tmp_path, server.port, "starttls"), rate=0).send(batch)
    assert summary.sent == 0 and "TLS with 127.0.0.1" in summary.error
    assert "CERTIFICATE_VERIFY_FAILED" in summary.error
    assert server.handler.messages == []
    assert outbox.outbox_counts()["queued"] == 2


def test_a_refused_login_stops_the_run_and_keeps_the_mail(db, tmp_path, served, tls_certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate.cert))
    server = served(tls_context=tls_certificate.server_context(), authenticator=Authenticator(USER, PASSWORD))
    batch = _queue()
    config = _config(tmp_path, server.port, "starttls", CLIENT_PORTAL_SMTP_USER=USER,
                     CLIENT_PORTAL_SMTP_PASSWORD="wrong")
    summary = OutboxSender(config, rate=0).send(batch)
    assert summary.error.startswith(f"127.0.0.1:{server.port} refused the login of {USER}: 535")
    assert {m.status for m in outbox.list_outbox()} == {"queued"}
    assert all(m.attempts == 0 for m in outbox.list_outbox())


def test_starttls_on_a_server_without_it_says_what_to_set(db, tmp_path, served):
    server = served()
    batch = _queue(1)
    summary = OutboxSender(_config(tmp_path, server.port, "starttls"), rate=0).send(batch)
    assert "STARTTLS extension not supported by server; set CLIENT_PORTAL_SMTP_SECURITY=none" in summary.error


def test_the_password_comes_from_the_keyring_when_the_environment_has_none(db, tmp_path, served, tls_certificate,
                                                                          monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate.cert))
    auth = Authenticator(USER, PASSWORD)
    server = served(tls_context=tls_certificate.server_context(), authenticator=auth)
    asked = []
    fake_keyring = types.ModuleType("keyring")  # the credential store only; sending stays real
    fake_keyring.get_password = lambda service, user: asked.append((service, user)) or (
        PASSWORD if service == "client-portal" else None)
    monkeypatch.setitem(sys.modules, "keyring", fake_keyring)
    batch = _queue(1)

    summary = OutboxSender(_config(tmp_path, server.port, "starttls", CLIENT_PORTAL_SMTP_USER=USER),
                           rate=0).send(batch)

    assert summary.sent == 1 and asked == [("client-portal", USER)] and auth.attempts == [(USER, PASSWORD)]


def test_no_password_anywhere_is_an_error_not_a_prompt(db, tmp_path, served, monkeypatch):
    server = served()
    monkeypatch.setitem(sys.modules, "keyring", None)  # keyring not installed
    monkeypatch.setattr("sys.stdin", None)  # a prompt would crash here rather than hang
    batch = _queue(1)
    summary = OutboxSender(_config(tmp_path, server.port, "none", CLIENT_PORTAL_SMTP_USER=USER),
                           rate=0).send(batch)
    assert summary.error.startswith(f"no SMTP password for {USER}: set CLIENT_PORTAL_SMTP_PASSWORD")
    assert server.handler.connections == 0
