"""Where mail goes, read once from the environment: an SMTP server, or a local Maildir when none is set.

Configuration lives in environment variables (not the shared database) because it holds a password and is
specific to the machine the sender runs on. Every value is checked here, so a typo in a port or a security
mode is one clear message at start-up rather than a socket error in the middle of a batch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from pathlib import Path

from models.errors import InvalidInput

SECURITY_MODES = ("none", "starttls", "ssl")
"""`none`: plain SMTP (a local relay); `starttls`: upgrade after connecting (port 587); `ssl`: TLS from the
first byte (port 465)."""

DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}

DEFAULT_TIMEOUT = 30.0
"""Seconds the SMTP server has to answer one command (however slowly its reply trickles in) before it counts as
dead; `CLIENT_PORTAL_SMTP_TIMEOUT`."""

DEADLINE_PER_TIMEOUT = 2
"""Without `CLIENT_PORTAL_SMTP_DEADLINE`, connecting (greeting, TLS, login) and sending one message may each take
this many times the command timeout in all."""

MAX_SECONDS = 600
"""Longest timeout or deadline accepted: a sender stuck longer than ten minutes on one email is stuck."""

ENV_PREFIX = "CLIENT_PORTAL_"


@dataclass(frozen=True)
class MailConfig:
    """How to deliver mail. `host` None means "no SMTP server: write to the Maildir"."""

    host: str | None
    port: int
    user: str | None
    password: str | None = field(repr=False)
    """From `CLIENT_PORTAL_SMTP_PASSWORD`; when None and a user is set, the keyring is asked at login."""
    security: str
    mail_from: str | None
    """`CLIENT_PORTAL_MAIL_FROM` as given (`Name <addr>` or `addr`); None: the agency name on the default domain."""
    timeout: float
    """Seconds for one SMTP command, its whole reply included (not one read: a server answering a byte a second
    is given up on too)."""
    maildir: Path
    deadline: float | None = None
    """Seconds for connecting (greeting, TLS, login) and for sending one message (every command of it), each in
    all; None: `DEADLINE_PER_TIMEOUT` times `timeout`. From `CLIENT_PORTAL_SMTP_DEADLINE`."""
    demo: bool = False
    """The demo's folder (`models.demo`): mail only ever goes to its Maildir, whatever the environment says."""

    @classmethod
    def from_env(cls, data_dir: Path, environ: Mapping[str, str] = os.environ) -> MailConfig:
        """Read the `CLIENT_PORTAL_SMTP_*` and `CLIENT_PORTAL_MAIL_FROM` variables.

        Args:
            data_dir: The folder beside the database (`models.db.data_dir_for`); the Maildir is made in it.
            environ: Where to read the variables (tests pass a dict).

        Raises:
            InvalidInput: a variable has a value that cannot work, with what was expected.
        """
        from models.demo import is_demo_folder

        if is_demo_folder(data_dir):
            # The demo's sample contacts must never be mailed, nor its links land beside real data: no SMTP.
            return cls(host=None, port=DEFAULT_PORTS["none"], user=None, password=None, security="none",
                       mail_from=None, timeout=DEFAULT_TIMEOUT, maildir=Path(data_dir) / "Maildir", demo=True)

        def get(name: str) -> str | None:
            value = environ.get(ENV_PREFIX + name, "").strip()
            return value or None

        host = get("SMTP_HOST")
        if host is not None and (any(ch.isspace() for ch in host) or "/" in host):
            raise InvalidInput(f"CLIENT_PORTAL_SMTP_HOST must be a host name, got {host!r}")

        port_text = get("SMTP_PORT")
        security = (get("SMTP_SECURITY") or "").lower()
        if security and security not in SECURITY_MODES:
            raise InvalidInput(
                f"CLIENT_PORTAL_SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}, got {security!r}"
            )
        if port_text is not None:
            try:
                port = int(port_text)
            except ValueError:
                port = 0
            if not 1 <= port <= 65535:
                raise InvalidInput(f"CLIENT_PORTAL_SMTP_PORT must be a port number (1-65535), got {port_text!r}")
        else:
            port = DEFAULT_PORTS[security or "starttls"]
        if not security:
            # Port 465 speaks TLS from the first byte; everywhere else STARTTLS is the safe default.
            security = "ssl" if port == 465 else "starttls"

        timeout = _seconds("SMTP_TIMEOUT", get("SMTP_TIMEOUT"))
        timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        deadline = _seconds("SMTP_DEADLINE", get("SMTP_DEADLINE"))

        mail_from = get("MAIL_FROM")
        if mail_from is not None:
            parse_mail_from(mail_from)

        user = get("SMTP_USER")
        password = environ.get(ENV_PREFIX + "SMTP_PASSWORD") or None  # spaces may be part of a password
        return cls(
            host=host,
            port=port,
            user=user,
            password=password,
            security=security,
            mail_from=mail_from,
            timeout=timeout,
            maildir=Path(data_dir) / "Maildir",
            deadline=deadline,
        )

    @property
    def operation_deadline(self) -> float:
        """Seconds for connecting, and for sending one message, each in all."""
        return self.deadline if self.deadline is not None else DEADLINE_PER_TIMEOUT * self.timeout

    @property
    def uses_smtp(self) -> bool:
        """Whether mail goes to an SMTP server (else to the local Maildir)."""
        return self.host is not None

    def describe(self) -> str:
        """One line for people: where mail goes (never the password)."""
        if self.demo:
            return f"DEMO (sample data): mail is kept in {self.maildir}, never sent"
        if not self.uses_smtp:
            return f"local Maildir {self.maildir}"
        who = f" as {self.user}" if self.user else ""
        # "(none)" read as "no SMTP": the mode is named by what it means (plain SMTP, nothing encrypted).
        security = "unencrypted" if self.security == "none" else self.security
        return f"SMTP {self.host}:{self.port} ({security}){who}"


def _seconds(name: str, text: str | None) -> float | None:
    """`CLIENT_PORTAL_<name>` as a number of seconds in (0, `MAX_SECONDS`], or None when it is not set."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (0 < value <= MAX_SECONDS) or math.isnan(value):
        raise InvalidInput(
            f"{ENV_PREFIX}{name} must be a number of seconds more than 0 and at most {MAX_SECONDS}, got {text!r}"
        )
    return value


def parse_mail_from(value: str) -> Address:
    """`Name <addr@host>` or `addr@host` as an `Address`.

    Raises:
        InvalidInput: it is not one address.
    """
    from email.headerregistry import HeaderRegistry

    if any(ord(ch) < 32 for ch in value):
        raise InvalidInput("CLIENT_PORTAL_MAIL_FROM contains control characters")
    try:
        header = HeaderRegistry()("From", value)
        addresses = header.addresses
    except Exception:  # the header parser raises several kinds on garbage
        addresses = ()
    if len(addresses) != 1 or not addresses[0].domain or not addresses[0].username or header.defects:
        raise InvalidInput(
            f"CLIENT_PORTAL_MAIL_FROM must be one address such as 'Agency <portal@example.com>', got {value!r}"
        )
    return addresses[0]
