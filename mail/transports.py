"""Delivering a built message: over SMTP (yagmail for connection and credentials), or into a local Maildir.

SMTP: yagmail opens the connection and logs in (SSL or STARTTLS, the password from the environment or the
keyring, no login when no user is set); we then hand our own `EmailMessage` objects to that one connection
with `smtplib`'s `send_message`. yagmail's `send()` is not used: it rebuilds the message with its own builder,
reconnects for every message and sleeps for seconds when the server drops, and its logger writes to stderr
(over a running dashboard) unless told not to.

Every failure is turned into one of two exceptions the outbox understands:
- `TransportUnavailable`: no message could be tried (cannot connect, TLS or login refused, sender refused).
  The message is not to blame; the pass stops and the queue keeps it.
- `DeliveryError`: this message failed, `permanent` (5xx, bad address) or temporary (4xx, connection lost,
  timeout); `connection_lost` and `timed_out` say whether the connection is gone and whether the server
  stopped answering.

Time is bounded, not only each read. smtplib's timeout applies to one socket read, so a server that answers one
byte a second was never given up on. `_Deadlines` gives each SMTP command `timeout` seconds for its whole reply,
and connecting (greeting, TLS, login) and each message (all its commands) `operation_deadline` seconds in all; a
watchdog thread shuts the socket down when the running deadline passes, which wakes the blocked read at once.
Running out of time is a timeout like any other: the message goes back to the queue and the pass ends.

The Maildir transport needs no server: with no SMTP host configured, everything still works out of the box
and each message lands as a file any mail reader (or `mailbox.Maildir`) can open.
"""

from __future__ import annotations

import functools
import mailbox
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from mail.config import MailConfig
from models.files import UnsafeLocation, private_maildir

KEYRING_SERVICES = ("client-portal", "yagmail")
"""Keyring services asked for the SMTP password, ours first, then the one yagmail's own tools register."""


class TransportUnavailable(Exception):
    """Nothing could be sent: the server is unreachable, refused TLS or the login, or refused our sender."""


class DeliveryError(Exception):
    """One message was not delivered; `str()` is the reason for people (the server's reply when there is one).

    Attributes:
        permanent: Retrying cannot help (5xx reply, malformed or refused address).
        connection_lost: The connection is gone (the next message needs a new one).
        timed_out: The server stopped answering: the next message would only wait as long again.
        code: The SMTP reply code, 0 when there was no reply.
    """

    def __init__(self, reason: str, *, permanent: bool, connection_lost: bool = False, timed_out: bool = False,
                 code: int = 0) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.connection_lost = connection_lost
        self.timed_out = timed_out
        self.code = code


class Transport(Protocol):
    """What the outbox sender needs from a way of delivering mail."""

    rate_limited: bool
    """Whether the send rate setting applies (an SMTP provider throttles; a local folder does not)."""
    connections: int
    """How many connections this transport has opened (one for a whole batch when all goes well)."""

    def send(self, msg: EmailMessage, sender: str, recipient: str) -> None:
        """Deliver `msg` to `recipient` with envelope sender `sender`; raises the errors above."""

    def close(self) -> None:
        """Finish politely (QUIT) if the connection is healthy; never wait on a dead one."""


def open_transport(config: MailConfig) -> Transport:
    """The transport `config` asks for. Nothing connects until the first message."""
    if config.uses_smtp:
        return SMTPTransport(config)
    return MaildirTransport(config.maildir)


class DeadlineExpired(TimeoutError):
    """The server took longer than a command's or an operation's deadline; `str()` says which, for people."""


class _Deadlines:
    """Deadlines for one SMTP connection, enforced by a watchdog thread that shuts the socket down.

    `operation()` bounds connecting, or sending one message, as a whole; `command()` bounds one command's reply
    (and one write) within it. The socket's own timeout still bounds each read. Shutting the socket down from
    the watchdog wakes a read blocked in another thread (plain or TLS, even mid-handshake: the descriptor is the
    same before and after TLS), which then fails and is reported as `DeadlineExpired`.
    """

    def __init__(self, timeout: float, deadline: float) -> None:
        self.timeout = timeout
        self.deadline = deadline
        self.expired = ""
        """Why the watchdog closed the connection ('' while it has not)."""
        self._cond = threading.Condition()
        self._fd: int | None = None
        self._until: float | None = None
        self._until_reason = ""
        self._at: float | None = None
        self._at_reason = ""
        self._thread: threading.Thread | None = None
        self._stopped = False

    def watch(self, fd: int | None) -> None:
        """The socket to shut down when time runs out (None: the connection is closed, nothing to watch)."""
        with self._cond:
            self._fd = fd

    @contextmanager
    def operation(self, what: str) -> Iterator[None]:
        """Bound everything inside (connecting, one message) by `deadline` seconds in all."""
        with self._cond:
            self.expired = ""
            self._until = time.monotonic() + self.deadline
            self._until_reason = f"the server did not finish {what} within {self.deadline:g} s"
            self._arm(self._until, self._until_reason)
        try:
            yield
        finally:
            with self._cond:
                self._until = None
                self._arm(None, "")

    @contextmanager
    def command(self) -> Iterator[None]:
        """Bound one command's reply (or one write) by `timeout` seconds, and by the operation's deadline."""
        with self._cond:
            if self.expired:
                raise DeadlineExpired(self.expired)
            now = time.monotonic()
            at, reason = now + self.timeout, f"the server did not answer within {self.timeout:g} s"
            if self._until is not None and self._until <= at:
                at, reason = self._until, self._until_reason
            if at <= now:
                self.expired = reason
                raise DeadlineExpired(reason)
            self._arm(at, reason)
        try:
            yield
        except OSError as exc:  # smtplib's errors are OSErrors too: a read woken by the watchdog ends here
            if self.expired:
                raise DeadlineExpired(self.expired) from exc
            raise
        finally:
            with self._cond:
                self._arm(self._until, self._until_reason)

    def stop(self) -> None:
        """End the watchdog thread (the transport is closed)."""
        with self._cond:
            self._stopped = True
            self._fd = None
            self._cond.notify()
        self._thread = None

    def _arm(self, at: float | None, reason: str) -> None:
        # Called with the condition held. The watchdog is not woken: it looks every `_tick` seconds, so arming
        # costs a few attribute writes (a message arms about ten times) and a deadline is enforced at most
        # `_tick` late.
        self._at, self._at_reason = at, reason
        if at is not None and (self._thread is None or self._stopped):
            self._stopped = False
            self._thread = threading.Thread(target=self._run, name="smtp-deadline", daemon=True)
            self._thread.start()

    @property
    def _tick(self) -> float:
        return max(0.05, min(1.0, self.timeout / 10, self.deadline / 10))

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                self._cond.wait(self._tick)
                if self._at is not None and time.monotonic() >= self._at:
                    self.expired = self._at_reason
                    self._at = None
                    self._shut()

    def _shut(self) -> None:
        if self._fd is None:
            return
        try:
            sock = socket.socket(fileno=self._fd)
        except OSError:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            sock.detach()  # the descriptor stays smtplib's to close


class _BoundedSMTPMixin:
    """smtplib with `_Deadlines`: every reply read and every write is one bounded command."""

    def __init__(self, *args, deadlines: _Deadlines, **kwargs) -> None:
        self._deadlines = deadlines
        super().__init__(*args, **kwargs)

    def _get_socket(self, host, port, timeout):
        # For SMTP_SSL the TLS handshake runs inside: watch the descriptor before it starts.
        raw = socket.create_connection((host, port), timeout, self.source_address)
        self._deadlines.watch(raw.fileno())
        try:
            with self._deadlines.command():  # the TLS handshake of SMTP_SSL is one command
                return self._wrap(raw)
        except BaseException:
            self._deadlines.watch(None)
            raw.close()
            raise

    def _wrap(self, raw: socket.socket) -> socket.socket:
        return raw

    def getreply(self):
        with self._deadlines.command():
            return super().getreply()

    def send(self, s):
        with self._deadlines.command():
            return super().send(s)

    def starttls(self, *args, **kwargs):
        with self._deadlines.command():
            return super().starttls(*args, **kwargs)

    def close(self) -> None:
        self._deadlines.watch(None)
        super().close()


class _BoundedSMTP(_BoundedSMTPMixin, smtplib.SMTP):
    pass


class _BoundedSMTPSSL(_BoundedSMTPMixin, smtplib.SMTP_SSL):
    def _wrap(self, raw: socket.socket) -> socket.socket:
        return self.context.wrap_socket(raw, server_hostname=self._host)


@functools.cache
def _yagmail_client() -> type:
    """yagmail's client, opening its connection with `_BoundedSMTP` or `_BoundedSMTPSSL` (imported late)."""
    import yagmail

    class Client(yagmail.SMTP):
        deadlines: _Deadlines
        """Set on each instance before `login`."""

        @property
        def connection(self):
            return functools.partial(_BoundedSMTPSSL if self.ssl else _BoundedSMTP, deadlines=self.deadlines)

    return Client


def _reply_text(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}".strip()


class SMTPTransport:
    """One SMTP connection, opened and logged in by yagmail, reused for every message until it drops."""

    rate_limited = True

    def __init__(self, config: MailConfig) -> None:
        self.config = config
        self.connections = 0
        self._yag = None
        self._deadlines = _Deadlines(config.timeout, config.operation_deadline)

    @property
    def connected(self) -> bool:
        return self._yag is not None and getattr(self._yag.smtp, "sock", None) is not None

    def _password(self) -> str | None:
        if self.config.user is None:
            return None
        if self.config.password:
            return self.config.password
        try:
            import keyring
        except Exception:  # noqa: BLE001 - keyring is optional (the `keyring` extra) and can fail to load its backend
            keyring = None
        if keyring is not None:
            for service in KEYRING_SERVICES:
                try:
                    found = keyring.get_password(service, self.config.user)
                except Exception:  # noqa: BLE001 - a locked or missing keyring backend is "no password there"
                    found = None
                if found:
                    return found
        # Never let yagmail prompt on the terminal (it would hang a dashboard or a cron job).
        raise TransportUnavailable(
            f"no SMTP password for {self.config.user}: set CLIENT_PORTAL_SMTP_PASSWORD or store it with "
            f"`keyring set client-portal {self.config.user}`"
        )

    def _connect(self) -> None:
        password = self._password()  # before the clock starts: a keyring may take its time
        with self._deadlines.operation("connecting"):
            self._connect_within_deadline(password)

    def _connect_within_deadline(self, password: str | None) -> None:
        cfg = self.config
        # Only a TLS connection needs a context; making one loads the system's CA certificates (1.5 MB, 20 ms).
        context = ssl.create_default_context() if cfg.security in ("ssl", "starttls") else None
        extra = {"timeout": cfg.timeout}
        if cfg.security == "ssl":
            extra["context"] = context
        yag = _yagmail_client()(  # late: yagmail costs a fifth of a second, and only sending needs it
            user=cfg.user,
            password=password,
            host=cfg.host,
            port=cfg.port,
            smtp_ssl=cfg.security == "ssl",
            smtp_starttls={"context": context} if cfg.security == "starttls" else False,
            smtp_skip_login=cfg.user is None,
            soft_email_validation=False,
            **extra,
        )
        # yagmail's constructor hands its logger a stderr handler; a None level swaps in a NullHandler, so
        # nothing it logs can write over a running dashboard.
        yag.set_logging(None)
        yag.deadlines = self._deadlines
        where = f"{cfg.host}:{cfg.port}"
        try:
            yag.login()
        except smtplib.SMTPAuthenticationError as exc:
            self._abandon(yag)
            raise TransportUnavailable(
                f"{where} refused the login of {cfg.user}: {_reply_text(exc.smtp_code, exc.smtp_error)}"
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            self._abandon(yag)
            hint = "; set CLIENT_PORTAL_SMTP_SECURITY=none for a server without TLS" if "STARTTLS" in str(exc) else ""
            raise TransportUnavailable(f"{where}: {str(exc).rstrip('.')}{hint}") from None
        except smtplib.SMTPResponseException as exc:
            self._abandon(yag)
            raise TransportUnavailable(f"{where} refused the connection: {_reply_text(exc.smtp_code, exc.smtp_error)}") from None
        except ssl.SSLError as exc:
            self._abandon(yag)
            raise TransportUnavailable(f"TLS with {where} failed: {exc.reason or exc}") from None
        except DeadlineExpired as exc:
            self._abandon(yag)
            raise TransportUnavailable(f"{where}: {exc}") from None
        except TimeoutError:
            self._abandon(yag)
            raise TransportUnavailable(f"{where} did not answer within {cfg.timeout:g} s") from None
        except (smtplib.SMTPException, OSError) as exc:
            self._abandon(yag)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__, TimeoutError):
                reason = f"did not answer within {cfg.timeout:g} s"
            raise TransportUnavailable(f"cannot connect to the SMTP server {where}: {reason}") from None
        self._yag = yag
        self.connections += 1

    @staticmethod
    def _abandon(yag) -> None:
        """Drop a connection without a QUIT (the server may not be answering) and stop yagmail's own close."""
        yag.is_closed = True
        smtp = getattr(yag, "smtp", None)
        if smtp is not None:
            try:
                smtp.close()
            except OSError:
                pass

    def _drop(self) -> None:
        if self._yag is not None:
            self._abandon(self._yag)
            self._yag = None

    def send(self, msg: EmailMessage, sender: str, recipient: str) -> None:
        """Send over the open connection, opening it (once) if needed.

        Raises:
            TransportUnavailable: the connection could not be opened, or the server refused the sender.
            DeliveryError: this message failed.
        """
        if not self.connected:
            self._drop()
            self._connect()
        smtp = self._yag.smtp
        try:
            with self._deadlines.operation("this message"):
                smtp.send_message(msg, from_addr=sender, to_addrs=[recipient])
        except DeadlineExpired as exc:
            self._drop()
            raise DeliveryError(str(exc), permanent=False, connection_lost=True, timed_out=True) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (0, b""))
            self._after_reply(code)
            raise DeliveryError(_reply_text(code, reply), permanent=code >= 500, code=code,
                                connection_lost=not self.connected) from None
        except smtplib.SMTPSenderRefused as exc:
            self._after_reply(exc.smtp_code)
            if exc.smtp_code >= 500:
                raise TransportUnavailable(
                    f"the server refused the sender {sender}: {_reply_text(exc.smtp_code, exc.smtp_error)}"
                ) from None
            raise DeliveryError(_reply_text(exc.smtp_code, exc.smtp_error), permanent=False,
                                code=exc.smtp_code, connection_lost=not self.connected) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"{recipient}: {exc}", permanent=True) from None
        except smtplib.SMTPResponseException as exc:  # a refused DATA, or any other reply
            self._after_reply(exc.smtp_code)
            raise DeliveryError(_reply_text(exc.smtp_code, exc.smtp_error), permanent=exc.smtp_code >= 500,
                                code=exc.smtp_code, connection_lost=not self.connected) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # smtplib reports a read timeout as "Connection unexpectedly closed" with the timeout as context.
            timed_out = isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)
            self._drop()
            reason = (f"the server did not answer within {self.config.timeout:g} s" if timed_out
                      else f"the connection was lost: {exc}")
            raise DeliveryError(reason, permanent=False, connection_lost=True, timed_out=timed_out) from None
        except (UnicodeError, ValueError) as exc:  # an address smtplib cannot put in an envelope
            raise DeliveryError(f"{recipient} cannot be sent to: {exc}", permanent=True) from None
        except Exception as exc:  # noqa: BLE001 - a fault of this message only; the session state is unknown
            self._drop()
            raise DeliveryError(f"cannot be sent: {exc or type(exc).__name__}", permanent=True) from None

    def _after_reply(self, code: int) -> None:
        # smtplib closes the socket itself after a 421; forget the connection so the next send reconnects.
        if not self.connected:
            self._drop()

    def close(self) -> None:
        if self._yag is None:
            self._deadlines.stop()
            return
        yag, self._yag = self._yag, None
        if getattr(yag.smtp, "sock", None) is not None:
            try:
                with self._deadlines.operation("closing the connection"):
                    yag.smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
        self._abandon(yag)
        self._deadlines.stop()


class MaildirTransport:
    """Writes each message into a Maildir: the out-of-the-box destination when no SMTP host is set."""

    rate_limited = False

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.connections = 0
        self._box: mailbox.Maildir | None = None

    def _open(self) -> mailbox.Maildir:
        try:
            # The messages carry live magic links: the Maildir and its tmp/new/cur are made 0700, and one that
            # another user owns or can write (they could have swapped in their own) is refused.
            private_maildir(self.path)
            box = mailbox.Maildir(self.path, factory=None, create=False)
        except UnsafeLocation as exc:
            raise TransportUnavailable(str(exc)) from None
        except OSError as exc:
            raise TransportUnavailable(f"cannot use the Maildir {self.path}: {exc.strerror or exc}") from None
        self.connections += 1
        return box

    def send(self, msg: EmailMessage, sender: str, recipient: str) -> None:
        if self._box is None:
            self._box = self._open()
        try:
            self._box.add(msg)
        except OSError as exc:  # disk full, folder removed: a retry later may work
            self._box = None
            raise DeliveryError(f"cannot write to the Maildir {self.path}: {exc.strerror or exc}",
                                permanent=False, connection_lost=True) from None
        except Exception as exc:  # noqa: BLE001 - a message the library cannot write fails alone
            raise DeliveryError(f"cannot be written to the Maildir: {exc or type(exc).__name__}",
                                permanent=True) from None

    def close(self) -> None:
        if self._box is not None:
            self._box.close()
            self._box = None
