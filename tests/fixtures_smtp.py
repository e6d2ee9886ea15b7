"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1 that records what it receives and misbehaves on cue.

Mail tests send through this server, never through a mock, and then check what arrived, parsed with `email`.
The handler can refuse a recipient (550), answer 421/451 a number of times, drop the connection in the middle
of DATA, hang, or hold one message while a test kills the sender. The port is picked first by binding a socket
to port 0 and closing it: aiosmtpd's Controller, given `port=0`, cannot find its own port for its start-up
check.
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from mail.config import MailConfig

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (bound to port 0, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Received:
    """One message the server accepted: the envelope, the parsed message and which connection carried it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes
    connection: int


def _parse(raw: bytes) -> EmailMessage:
    """A received message as a mail store would keep it: line ends as \n, UTF-8 headers (RFC 6532) decoded."""
    raw = raw.replace(b"\r\n", b"\n")
    try:
        return email.message_from_string(raw.decode("utf-8"), policy=policy.default)
    except UnicodeDecodeError:
        return email.message_from_bytes(raw, policy=policy.default)


class RecordingHandler:
    """aiosmtpd handler: records messages and connections; `reject`, `fail_*`, `drop_*`, `hang` set up faults.

    Hooks run on the server's event loop thread; tests read from theirs, so shared state is under `lock`.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[Received] = []
        self.connections = 0
        self.dropped = 0
        """DATA commands answered by closing the connection."""
        self._rejected: dict[str, str] = {}
        self._rcpt_replies: dict[str, list[str]] = {}
        self._data_replies: dict[str | None, list[str]] = {}
        self._drops = 0
        self._hang = threading.Event()
        self._hold_at: int | None = None
        self.holding = threading.Event()
        """Set while the message number `hold` asked for is received and waits for `release`."""
        self._release = threading.Event()
        self._arrived = threading.Condition(self.lock)

    # --- what tests ask for ---

    def reject(self, address: str, reply: str = "550 5.1.1 Recipient address rejected: user unknown") -> None:
        """Refuse `address` at RCPT, every time."""
        with self.lock:
            self._rejected[address] = reply

    def accept(self, address: str) -> None:
        """Stop refusing `address`."""
        with self.lock:
            self._rejected.pop(address, None)

    def fail_rcpt(self, address: str, *replies: str) -> None:
        """Answer RCPT for `address` with these replies in turn (e.g. 421, 451), then accept it."""
        with self.lock:
            self._rcpt_replies.setdefault(address, []).extend(replies)

    def fail_data(self, *replies: str, rcpt: str | None = None) -> None:
        """Answer the next DATA commands (for `rcpt` only, if given) with these replies; the messages are lost."""
        with self.lock:
            self._data_replies.setdefault(rcpt, []).extend(replies)

    def drop_data(self, times: int = 1) -> None:
        """Close the connection, without a reply, on the next `times` DATA commands (the messages are lost)."""
        with self.lock:
            self._drops += times

    def hang(self) -> None:
        """From now on never answer DATA (until the test ends or `release`)."""
        self._hang.set()

    def hold(self, number: int) -> None:
        """Keep message number `number` (1-based, over the server's life), then wait for `release` to answer."""
        with self.lock:
            self._hold_at = number

    def release(self) -> None:
        """Let a held or hanging DATA answer."""
        self._hang.clear()
        self._release.set()

    def wait_for(self, count: int, timeout: float = 20.0) -> bool:
        """Block until `count` messages were received (or `timeout` seconds passed)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.messages) >= count, timeout)

    def by_recipient(self) -> dict[str, list[Received]]:
        """The messages received for each recipient address."""
        out: dict[str, list[Received]] = {}
        with self.lock:
            for item in self.messages:
                for rcpt in item.rcpt_tos:
                    out.setdefault(rcpt, []).append(item)
        return out

    # --- aiosmtpd hooks ---

    def connection_opened(self) -> int:
        with self.lock:
            self.connections += 1
            return self.connections

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            if address in self._rejected:
                return self._rejected[address]
            replies = self._rcpt_replies.get(address)
            if replies:
                return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            drop = self._drops > 0
            if drop:
                self._drops -= 1
                self.dropped += 1
            reply = None
            if not drop:
                for key in (*envelope.rcpt_tos, None):
                    if self._data_replies.get(key):
                        reply = self._data_replies[key].pop(0)
                        break
        if drop:
            server.transport.close()
            return "421 closing"  # never reaches the client: the transport is closed
        if reply is not None:
            return reply
        while self._hang.is_set():
            await asyncio.sleep(0.02)
        raw = envelope.original_content or envelope.content
        received = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=_parse(raw),
            raw=raw,
            connection=getattr(server, "connection_number", 0),
        )
        with self._arrived:
            self.messages.append(received)
            held = self._hold_at == len(self.messages)
            self._arrived.notify_all()
        if held:
            self.holding.set()
            while not self._release.is_set():
                await asyncio.sleep(0.02)
        return "250 2.0.0 Message accepted for delivery"


class _CountingSMTP(SMTP):
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        # STARTTLS hands the same protocol a second, encrypted transport: still one connection.
        if not hasattr(self, "connection_number"):
            self.connection_number = self.event_handler.connection_opened()


class _Controller(Controller):
    def factory(self):
        return _CountingSMTP(self.handler, **self.SMTP_kwargs)


@dataclass
class SMTPServer:
    """A running server: where it listens and its handler."""

    host: str
    port: int
    handler: RecordingHandler

    def config(self, maildir: Path, timeout: float = 5.0, **changes) -> MailConfig:
        """A `MailConfig` that sends here in plain SMTP with no login."""
        values = dict(host=self.host, port=self.port, user=None, password=None, security="none", mail_from=None,
                      timeout=timeout, maildir=maildir)
        values.update(changes)
        return MailConfig(**values)

    def env(self, timeout: float = 5.0) -> dict[str, str]:
        """The environment variables that point `client-portal` at this server."""
        return {"CLIENT_PORTAL_SMTP_HOST": self.host, "CLIENT_PORTAL_SMTP_PORT": str(self.port),
                "CLIENT_PORTAL_SMTP_SECURITY": "none", "CLIENT_PORTAL_SMTP_TIMEOUT": str(timeout)}


def start_server(handler: RecordingHandler | None = None, **smtp_options) -> tuple[_Controller, SMTPServer]:
    """Start aiosmtpd on a free loopback port; the caller stops the controller.

    Args:
        handler: The handler (a new `RecordingHandler` by default).
        **smtp_options: Passed to aiosmtpd (`tls_context` for STARTTLS, `ssl_context` for implicit TLS,
            `authenticator` and `auth_require_tls` for AUTH).
    """
    handler = handler or RecordingHandler()
    for _ in range(5):  # another xdist worker may grab the port between our probe and the bind
        port = free_port()
        controller = _Controller(handler, hostname=HOST, port=port, ready_timeout=10, server_hostname="mx.test",
                                 **smtp_options)
        try:
            controller.start()
        except Exception:
            time.sleep(0.05)
            continue
        # The controller's start-up check opened one connection of its own: count only the tests' ones.
        deadline = time.monotonic() + 2
        while handler.connections < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        with handler.lock:
            handler.connections = 0
        return controller, SMTPServer(HOST, port, handler)
    raise RuntimeError("could not start the test SMTP server")


@pytest.fixture
def smtp_server():
    """A real aiosmtpd server on 127.0.0.1 for this test, stopped (hanging handlers cancelled) afterwards."""
    controller, server = start_server()
    try:
        yield server
    finally:
        server.handler.release()
        controller.stop()


@pytest.fixture
def silent_listener():
    """A loopback port that accepts TCP connections but never says a word (a hung mail server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        sock.listen(16)
        yield HOST, sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening: connections are refused at once."""
    return free_port()


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for `localhost` and 127.0.0.1, and the files it lives in."""

    cert: Path
    key: Path

    def server_context(self):
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory) -> Certificate:
    """A throwaway certificate made with the openssl command (the TLS tests are skipped without it)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return Certificate(cert, key)


class Authenticator:
    """aiosmtpd authenticator that accepts one user and password and remembers every attempt."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.attempts: list[tuple[str, str]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        self.attempts.append((user, password))
        if (user, password) == (self.user, self.password):
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)  # handled=False: aiosmtpd answers 535 itself
