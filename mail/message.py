"""Turning a rendered email into an RFC 5322 message: `multipart/alternative` with a real text part and HTML.

Built with the standard library's `EmailMessage` rather than yagmail's builder, which treats a body that looks
like a file path as an attachment and cannot produce a true `text/plain` part. Every header value that comes
from data (a contact's name, a subject with a name in it) is reduced to one clean line first, so nothing a
contact typed can add a header, and loses its bidirectional-text controls, so nothing a contact typed can make
the To line or the subject read differently from what it says.
"""

from __future__ import annotations

import re
from datetime import datetime
from email import policy
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime

from mail.config import MailConfig, parse_mail_from
from mail.templates import BIDI_CONTROLS, RenderedEmail
from models import settings
from models.domains import default_domain
from models.errors import InvalidInput

SENDER_LOCAL_PART = "portal"
"""Mail goes out as `portal@<default domain>` unless `CLIENT_PORTAL_MAIL_FROM` says otherwise."""

MAX_NAME_CHARS = 200
"""Longest display name put in From or To. A longer agency name is refused (every email would carry it); a
longer contact name is left out of the To line, the address alone is used."""

_CONTROL = re.compile(f"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f{BIDI_CONTROLS}]")


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, except that each header's class is made once.

    `HeaderRegistry.__getitem__` builds a new class (`type(...)`) every time a header is set, read or folded,
    about thirty times per message built and sent; that was a third of the time it took to build and flatten a
    login email. The classes it makes depend on nothing but the header's name, so one per name serves them all.
    """

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


POLICY = policy.default.clone(header_factory=_HeaderClasses())
"""`email.policy.default` with `_HeaderClasses`: what every message we build is made (and sent) with."""


def header_text(value: str) -> str:
    """A value safe in a header: one line (CR, LF and tabs become spaces), other control characters and the
    bidirectional-text controls gone (a name with U+202E cannot reverse the To line or the subject)."""
    return " ".join(_CONTROL.sub("", value or "").split())


def sender_address(config: MailConfig) -> Address:
    """Who the mail is from: `CLIENT_PORTAL_MAIL_FROM`, else `<agency name> <portal@<default domain>>`.

    Reads the database (agency name, default domain), so call it inside a connection.

    Raises:
        InvalidInput: the agency name is longer than `MAX_NAME_CHARS`.
    """
    if config.mail_from:
        return parse_mail_from(config.mail_from)
    name = header_text(settings.get("agency_name"))
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"the agency_name setting is {len(name):,} characters long; an email's sender name "
                           f"can be at most {MAX_NAME_CHARS} (client-portal settings set agency_name ...)")
    return Address(display_name=name, username=SENDER_LOCAL_PART, domain=default_domain())


def recipient_address(email: str, name: str = "") -> Address:
    """The `To` address of a contact; a name that would not survive as a header is left out, never mangled."""
    local, _, domain = email.rpartition("@")
    name = header_text(name)
    return Address(display_name=name if len(name) <= MAX_NAME_CHARS else "", username=local, domain=domain)


def build_message(
    rendered: RenderedEmail,
    *,
    sender: Address,
    to: Address,
    message_id: str,
    date: datetime,
    kind: str = "",
) -> EmailMessage:
    """The message to send.

    Args:
        rendered: Subject, text and HTML from `mail.templates`.
        sender: The `From` address (`sender_address`).
        to: The contact (`recipient_address`).
        message_id: The outbox row's fixed Message-ID (`<...@domain>`): a re-send after a crash reuses it, so
            the receiving side can tell it is the same email.
        date: When it is sent (aware datetime).
        kind: `invite` or `login`, recorded in an `X-Client-Portal-Kind` header for filters and support.

    Returns:
        A `multipart/alternative` `EmailMessage` made with `POLICY` (the default policy, `\\n` line ends; smtplib
        sends it as CRLF).
    """
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = header_text(rendered.subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if kind:
        msg["X-Client-Portal-Kind"] = kind
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return msg
