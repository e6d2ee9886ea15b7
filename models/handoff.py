"""What the portal service does with a magic link, in model terms: look at it, confirm it, hand the contact over.

The web side (`portal/`) calls only these functions, so the rules live beside the link rules they extend:
- `peek` says whether a token could be redeemed now and whom it is for, and writes nothing: mail scanners fetch
  every link before the person does, so looking at a link must never use it up;
- `confirm` redeems the link through `models.links.redeem` (the one redeem path: atomic, single use) and, in the
  same transaction, issues the one-time handoff code for the agency's portal (the OAuth authorization-code shape
  that WorkOS and Stytch use): 32 random bytes, only the SHA-256 stored, good once for `CODE_TTL`, bound to the
  contact, the link's purpose and when it was redeemed;
- `exchange` trades a code for the contact once, for a portal holding an API key (`models.api_keys`);
- `csrf_token` binds the confirm form to the link: an HMAC of the token's hash under a secret kept in the
  database (made on first use, never printed), so a form cannot be forged without having seen the page.
Refusals raise with the real reason; `record_refusal` puts that reason in the audit log, which is the only place
it goes (the visitor sees one page for every bad link).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from models import api_keys, audit, clock, links
from models.base import to_db_time
from models.contacts import ContactRow, to_row
from models.db import database, write_transaction
from models.entities import (
    PURPOSE_LOGIN,
    STATUS_INVITED,
    STATUS_JOINED,
    STATUS_REVOKED,
    Contact,
    HandoffCode,
    MagicLink,
    Setting,
)
from models.errors import PortalError, RedeemFailed
from models.outbox import queue_for_contacts

CODE_TTL = timedelta(seconds=60)
"""How long a handoff code can be exchanged: the browser follows the redirect at once, the portal exchanges the
code as soon as it arrives; a minute leaves room for a slow network and little for anything else."""

CODE_BYTES = 32

SECRET_KEY = "portal_secret"
"""The `setting` row holding the CSRF secret. Not a setting in `settings.SPECS`: it is never listed or printed."""

_CODE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")

_INSERT_CODE = (
    'INSERT INTO "handoff_code" ("code_hash", "contact_id", "purpose", "redeemed_at", "created_at", "expires_at") '
    "VALUES (?, ?, ?, ?, ?, ?)"
)
"""SQL text: this runs once per confirmation, where building the statement with Peewee cost more than running it."""


class ExchangeRefused(PortalError):
    """A handoff code cannot be exchanged. `reason`: `malformed`, `unknown`, `used`, `expired` or `revoked`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class KeyRefused(PortalError):
    """The API key presented is wrong, malformed or revoked."""


@dataclass(frozen=True)
class LinkView:
    """What the confirm page may know about a token, read without changing anything."""

    valid: bool
    reason: str
    """Why it is not valid (a `RedeemFailed` reason), or ''. For the audit log, never for the visitor."""
    first_name: str = ""
    purpose: str = ""


@dataclass(frozen=True)
class Confirmed:
    """A link just redeemed. `code` (when asked for) is the only copy of the handoff code there will ever be."""

    contact: ContactRow
    purpose: str
    redeemed_at: datetime
    first_login: bool
    code: str | None


@dataclass(frozen=True)
class Exchanged:
    """What a portal learns for a good code: who confirmed which kind of link, and when."""

    contact: ContactRow
    purpose: str
    redeemed_at: datetime

    def as_json(self) -> dict:
        """The exchange API's answer (the contract in the README)."""
        c = self.contact
        return {
            "contact": {"id": c.id, "email": c.email, "first_name": c.first_name, "last_name": c.last_name,
                        "company": c.company},
            "purpose": self.purpose,
            "redeemed_at": self.redeemed_at.isoformat(),
        }


# --- the CSRF secret --------------------------------------------------------------------------------------------

_secrets: dict[str, bytes] = {}
_secrets_lock = threading.Lock()


def _secret() -> bytes:
    """This database's secret: read once per process and file, made (32 random bytes) the first time it is needed.
    Two services starting at once on one file agree: the INSERT keeps the first value written."""
    path = str(database.database)
    with _secrets_lock:
        cached = _secrets.get(path)
        if cached is not None:
            return cached
        row = database.execute_sql('SELECT "value" FROM "setting" WHERE "key" = ?', (SECRET_KEY,)).fetchone()
        if row is None:
            _store_secret(secrets.token_hex(32))
            row = database.execute_sql('SELECT "value" FROM "setting" WHERE "key" = ?', (SECRET_KEY,)).fetchone()
        _secrets[path] = bytes.fromhex(row[0])
        return _secrets[path]


@write_transaction
def _store_secret(value: str) -> None:
    Setting.insert(key=SECRET_KEY, value=value).on_conflict_ignore().execute()


def csrf_token(token: str) -> str:
    """The confirm form's hidden field for `token`: HMAC-SHA256 of the token's hash under the database's secret."""
    return hmac.new(_secret(), links.hash_token(token).encode("ascii"), hashlib.sha256).hexdigest()


def csrf_ok(token: str, value: str | None) -> bool:
    """Whether a submitted form field is the one `csrf_token` makes for `token` (compared in constant time)."""
    if not isinstance(value, str) or len(value) != 64:
        return False
    return hmac.compare_digest(csrf_token(token), value)


# --- links -------------------------------------------------------------------------------------------------------


def _path_token(token: str) -> str:
    """A token as it stands in a link's path: the bare token, not a URL (which `links.extract_token` would also
    read, so `/login/x/<token>` would have worked as well as `/login/<token>`)."""
    if not isinstance(token, str) or "/" in token or "?" in token:
        raise RedeemFailed("malformed", "that is not a magic link: the token is malformed")
    return token


def peek(token: str) -> LinkView:
    """Whether `token` could be redeemed now, and the contact's first name if so. Writes nothing."""
    try:
        link = links.check_link(_path_token(token))
    except RedeemFailed as exc:
        return LinkView(valid=False, reason=exc.reason)
    return LinkView(valid=True, reason="", first_name=link.contact.first_name, purpose=link.purpose)


@write_transaction
def confirm(token: str, *, issue_code: bool, client: str = "") -> Confirmed:
    """Redeem `token` (the contact joins or logs in) and, with `issue_code`, issue a handoff code, atomically.

    Args:
        token: The token from the link's path.
        issue_code: Whether a portal waits for the contact (a callback URL is set).
        client: The visitor's address, for the audit log.

    Raises:
        RedeemFailed: the link cannot be used (nothing is changed); `record_refusal` logs why.
    """
    redeemed = links.redeem(_path_token(token))
    redeemed_at = redeemed.redeemed_at
    code = None
    if issue_code:
        code = secrets.token_urlsafe(CODE_BYTES)
        stamp = to_db_time(redeemed_at)
        database.execute_sql(_INSERT_CODE, (_hash(code), redeemed.contact.id, redeemed.purpose, stamp, stamp,
                                            to_db_time(redeemed_at + CODE_TTL)))
    detail = f"{redeemed.purpose} link confirmed on the portal" + (f" from {client}" if client else "")
    audit.record("portal.confirm", redeemed.contact, detail=detail + ("; handoff code issued" if code else ""))
    return Confirmed(contact=redeemed.contact, purpose=redeemed.purpose, redeemed_at=redeemed_at,
                     first_login=redeemed.first_login, code=code)


def _link_contact(token: str) -> Contact | None:
    """The contact a token's link belongs to, if the token names a stored link at all."""
    try:
        digest = links.hash_token(links.extract_token(_path_token(token)))
    except RedeemFailed:
        return None
    link = MagicLink.select(MagicLink.contact).where(MagicLink.token_hash == digest).first()
    return Contact.get_or_none(Contact.id == link.contact_id) if link is not None else None


@write_transaction
def record_refusal(token: str, reason: str, *, client: str = "", method: str = "GET") -> None:
    """Audit a bad link with its real reason (the visitor is told only that the link no longer works)."""
    contact = _link_contact(token)
    detail = f"{reason} link refused ({method})" + (f" from {client}" if client else "")
    audit.record("portal.refused", contact, detail=detail, subject=None if contact is not None else "(no such link)")


# --- asking for a new link ---------------------------------------------------------------------------------------


@write_transaction
def request_login_link(address: str, *, client: str = "") -> bool:
    """Someone asked the portal for a sign-in link for `address` (already normalised): queue a login email if the
    address is an invited or joined contact, and audit the request either way. The visitor is told the same
    whatever happens here.

    Returns:
        Whether a login email was queued (a second request while one waits queues nothing).
    """
    contact = Contact.get_or_none(Contact.email == address)
    origin = f"; asked from {client}" if client else ""  # not "contact is revoked from 10.0.0.7"
    if contact is None or contact.status not in (STATUS_INVITED, STATUS_JOINED):
        why = "not a contact" if contact is None else f"contact is {contact.status.replace('_', ' ')}"
        audit.record("portal.link_request", contact, subject=address, detail=f"nothing sent: {why}{origin}")
        return False
    result = queue_for_contacts([contact], PURPOSE_LOGIN)
    detail = "login email queued" if result.queued else f"nothing sent: {result.skipped[0][1]}"
    audit.record("portal.link_request", contact, detail=detail + origin)
    return bool(result.queued)


# --- the handoff to the agency's portal ----------------------------------------------------------------------


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


@write_transaction
def exchange(code: str, key_name: str) -> Exchanged:
    """Trade a handoff code for the contact, once, for the portal holding API key `key_name`.

    Raises:
        KeyRefused: the key was revoked since it was checked.
        ExchangeRefused: the code is malformed, unknown, already exchanged or expired, or the contact's access
            was revoked since (nothing is changed).
    """
    if not api_keys.mark_used(key_name):
        raise KeyRefused("the API key was revoked")
    if not isinstance(code, str) or not _CODE_SHAPE.match(code):
        raise ExchangeRefused("malformed", "the code is malformed")
    digest = _hash(code)
    row = HandoffCode.get_or_none(HandoffCode.code_hash == digest)
    if row is None or not hmac.compare_digest(row.code_hash, digest):
        raise ExchangeRefused("unknown", "the code was never issued")
    now = clock.now()
    if row.exchanged_at is not None:
        raise ExchangeRefused("used", "the code was already exchanged")
    if row.expires_at <= now:
        raise ExchangeRefused("expired", "the code expired")
    contact = row.contact
    if contact.status == STATUS_REVOKED:
        raise ExchangeRefused("revoked", "the contact's access was revoked")
    claimed = (
        HandoffCode.update(exchanged_at=now, exchanged_by=key_name)
        .where((HandoffCode.id == row.id) & HandoffCode.exchanged_at.is_null())
        .execute()
    )
    if claimed != 1:
        raise ExchangeRefused("used", "the code was already exchanged")
    audit.record("portal.exchange", contact, detail=f"handoff code exchanged by API key {key_name}")
    return Exchanged(contact=to_row(contact), purpose=row.purpose, redeemed_at=row.redeemed_at)


@write_transaction
def record_exchange_refusal(code: str, reason: str, key_name: str) -> None:
    """Audit a refused exchange with its reason and the key that tried."""
    contact = None
    if isinstance(code, str) and _CODE_SHAPE.match(code):
        row = HandoffCode.select(HandoffCode.contact).where(HandoffCode.code_hash == _hash(code)).first()
        contact = Contact.get_or_none(Contact.id == row.contact_id) if row is not None else None
    audit.record("portal.exchange_refused", contact, detail=f"{reason} code, API key {key_name}",
                 subject=None if contact is not None else "(no such code)")


@write_transaction
def purge_codes(older_than: timedelta = timedelta(days=1)) -> int:
    """Delete handoff codes that lapsed more than `older_than` ago (they can never be exchanged); returns how many."""
    return HandoffCode.delete().where(HandoffCode.expires_at < clock.now() - older_than).execute()


__all__ = [
    "CODE_TTL",
    "Confirmed",
    "ExchangeRefused",
    "Exchanged",
    "KeyRefused",
    "LinkView",
    "confirm",
    "csrf_ok",
    "csrf_token",
    "exchange",
    "peek",
    "purge_codes",
    "record_exchange_refusal",
    "record_refusal",
    "request_login_link",
]
