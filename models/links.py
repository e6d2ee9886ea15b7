"""Magic links: password-less login links, treated as the secrets they are.

Following OWASP's forgot-password cheat sheet, NIST SP 800-63B and Phoenix's `phx.gen.auth`:
- the token is 32 bytes from `secrets` (256 bits; at a billion guesses a second, finding one live token among
  a million takes about 10^54 years), URL-safe base64, shown once and never stored: only its SHA-256 is kept;
- a link is single use, expires (7 days for an invitation, 24 hours for a login link, both settings),
  and only the newest link of a contact for a purpose *and channel* is valid;
- a link has a channel: `email` (issued by the outbox sender for the email it is about to send) or `shown`
  (issued for an admin to copy or read: `m` in the dashboard, `client-portal magic-link`). A new link supersedes
  only the older open links of its own purpose and channel, so looking at a link never silently kills the one in
  the email a contact is about to click, and a new email still ends the older emails' links. Revoking ends the
  links of every channel;
- the link is built from the portal domain in the settings, never from anything a request supplies.
Looking a token up by its hash leaks nothing about the token through timing; the final comparison is done
with `hmac.compare_digest` all the same.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from peewee import fn

from models import audit, clock, settings
from models.base import to_db_time
from models.contacts import ContactRow, _get_model, get_model, to_row
from models.backends import NewLink
from models.db import backend, database, retry_busy, sender_transaction, write_transaction
from models.domains import portal_url
from models.entities import (
    CHANNEL_EMAIL,
    CHANNEL_SHOWN,
    CHANNELS,
    DELIVERY_QUEUED,
    PURPOSE_INVITE,
    PURPOSE_LOGIN,
    PURPOSES,
    STATUS_INVITED,
    STATUS_JOINED,
    STATUS_NOT_INVITED,
    STATUS_REVOKED,
    Contact,
    MagicLink,
)
from models.errors import AccessRevoked, InvalidInput, PortalError, RedeemFailed
from models.words import plural

TOKEN_BYTES = 32
"""Entropy of a token: 256 bits."""

LINK_PATH = "login/"
"""Where on the portal a magic link points: `https://<domain>/login/<token>`."""

_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class IssuedLink:
    """A freshly made link. `url` holds the only copy of the token there will ever be."""

    url: str
    token: str
    contact: ContactRow
    purpose: str
    expires_at: datetime
    channel: str
    """`email` or `shown`: which older links it superseded (only those of the same purpose and channel)."""


@dataclass(frozen=True)
class LinkInfo:
    """What is known about a contact's current link of a purpose (no token: it is not stored)."""

    purpose: str
    created_at: datetime
    expires_at: datetime
    state: str
    """`open`, `expired`, `used`, `revoked` or `superseded`."""
    channel: str
    """`email` or `shown`."""


@dataclass(frozen=True)
class Redeemed:
    """The result of a good redeem: who logged in, and whether this was their first time."""

    contact: ContactRow
    first_login: bool
    purpose: str
    redeemed_at: datetime | None = None
    """When it was redeemed (the link's `used_at`)."""


def hash_token(token: str) -> str:
    """The SHA-256 hex digest stored in place of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def ttl(purpose: str) -> timedelta:
    """How long a link of this purpose stays valid (from the settings)."""
    key = "invite_ttl_hours" if purpose == PURPOSE_INVITE else "login_ttl_hours"
    return timedelta(hours=settings.get(key))


_INVITE_EXPIRES = (
    'UPDATE "contact" SET "invite_expires_at" = (SELECT MAX("expires_at") FROM "magic_link" '
    """WHERE "contact_id" = "contact"."id" AND "purpose" = 'invite' AND "used_at" IS NULL AND "revoked_at" IS NULL """
    'AND "superseded_at" IS NULL) WHERE "id" = ?'
)
"""The contact's invitation lapses with the last of their open invitation links (one per channel at most)."""


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise InvalidInput(f"unknown link channel {channel!r}; use one of {', '.join(CHANNELS)}")


def _issued_detail(channel: str, expires: datetime) -> str:
    """The audit's words for a new link: which channel, and so which older link it replaced."""
    return f"{'emailed' if channel == CHANNEL_EMAIL else 'shown'} link, expires {expires:%Y-%m-%d %H:%M} UTC"


Statements = Sequence[tuple[str, Sequence[Any]]]
"""SQL statements with their parameters, for a transaction to run as well (their results unread)."""


class LinkIssuer:
    """The one way a magic link is made: `issue_link` (a link for one contact) and the outbox sender (one per email,
    many in a row; its links are of the `email` channel unless told otherwise) both issue through it.

    The portal address, the link lifetime and the actor are read once, when the issuer is made (the sender
    makes one per chunk of mail, so a changed setting applies from the next chunk on), and `issue` trusts the
    contact the caller has just read instead of reading it again. That trust is checked, not assumed: the new link is
    inserted only if the contact's row still has the status and the address the caller saw, in the same
    statement. When it does not (revoked, deleted, readdressed, joined or never invited since), the stored contact
    is read and decided on, in the same transaction.
    """

    def __init__(self, purpose: str, channel: str = CHANNEL_EMAIL) -> None:
        """Read what every link of `purpose` shares; call inside a database connection.

        Raises:
            InvalidInput: `purpose` is not a link purpose, or `channel` not a channel.
            PortalError: no portal domain is set up.
        """
        if purpose not in PURPOSES:
            raise InvalidInput(f"unknown link purpose {purpose!r}")
        _check_channel(channel)
        self.purpose = purpose
        self.channel = channel
        self.url_base = portal_url(LINK_PATH)
        self.valid_for = ttl(purpose)
        self.actor = audit.current_actor()

    @write_transaction
    def issue(self, contact: ContactRow) -> IssuedLink:
        """A new link for `contact`, superseding their older open link of this purpose and channel.

        `contact` is the row as the caller read it: if the stored one still matches it (status and address), it is
        not read again. Otherwise it is: a login link for a contact never invited marks them invited (they now hold
        a way in), and the link goes to the stored address.

        Raises:
            NotFound: the contact no longer exists.
            AccessRevoked: their portal access is revoked. Nothing is written in either case.
        """
        # The outbox sender issues beside other senders (`sender_transaction`): the contact's row is held first,
        # so two links for one contact are issued one after the other, the second superseding the first.
        backend().lock_row("contact", contact.id)
        link = self._insert(contact)
        if link is not None:
            return link
        stored = get_model(contact.id)
        if stored.status == STATUS_REVOKED:
            raise AccessRevoked(f"{stored.email}'s portal access is revoked; invite them again to give it back")
        if self.purpose == PURPOSE_LOGIN and stored.status == STATUS_NOT_INVITED:
            _mark_invited(stored, self.channel)
        link = self._insert(to_row(stored))
        if link is None:  # cannot be: the row was just read (and written) in this transaction
            raise PortalError(f"could not issue a link to {stored.email}; try again")
        return link

    def issue_at_once(self, contact: ContactRow, also: Statements = ()) -> IssuedLink | None:
        """`issue` for the outbox sender, as one sender transaction of its own that also runs the statements
        `also` (the record of the email before as sent, which is written whatever becomes of this link). On a
        server that transaction is one round trip: the contact's row locked, the link inserted (if the stored
        contact still has the status and address the caller read), the older one superseded, the audit entry and
        `also`, all sent at once (`Backend.insert_link_transaction`).

        Returns:
            The link, or None when none was issued (nothing written but `also`): the stored contact is no longer
            as the caller read it, or as read it cannot have one. The caller then calls `issue`, which reads it.
        """
        if self._refused(contact):
            if also:
                _run_statements(also)
            return None
        row, link = self._new(contact)

        def attempt() -> int | None:
            return backend().insert_link_transaction(row, also)

        # Retried while busy only as a transaction of its own: inside the caller's, the caller's retry decides.
        link_id = attempt() if database.in_transaction() else retry_busy(attempt)
        return link if link_id is not None else None

    def _refused(self, contact: ContactRow) -> bool:
        """Whether `contact`, as given, cannot have a link of this purpose without reading it again."""
        return contact.status == STATUS_REVOKED or (
            self.purpose == PURPOSE_LOGIN and contact.status == STATUS_NOT_INVITED)

    def _new(self, contact: ContactRow) -> tuple[NewLink, IssuedLink]:
        """A new token for `contact`: the row to store (its hash, and the audit entry) and the link to hand out."""
        now = clock.now()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires = now + self.valid_for
        # The entry names the id and the address, which the insert matches against the stored row.
        entry = audit.entry_values(f"link.{self.purpose}", contact, detail=_issued_detail(self.channel, expires))
        row = NewLink(contact_id=contact.id, status=contact.status, email=contact.email, purpose=self.purpose,
                      token_hash=hash_token(token), created_at=to_db_time(now), created_by=self.actor,
                      expires_at=to_db_time(expires), channel=self.channel, audit=entry)
        return row, IssuedLink(url=self.url_base + token, token=token, contact=contact, purpose=self.purpose,
                               expires_at=expires, channel=self.channel)

    def _insert(self, contact: ContactRow) -> IssuedLink | None:
        """The link for `contact` as given, or None (nothing written) when the stored contact no longer has its
        status and address, or it is revoked, or it was never invited and this is a login link."""
        if self._refused(contact):
            return None
        row, link = self._new(contact)
        return link if backend().insert_link(row) is not None else None


@sender_transaction
def _run_statements(statements: Statements) -> None:
    for sql, params in statements:
        database.execute_sql(sql, params)


@write_transaction
def issue_link(email_or_id: str | int, purpose: str = PURPOSE_LOGIN, channel: str = CHANNEL_SHOWN) -> IssuedLink:
    """Make a new link for a contact, superseding their older open link of the same purpose and channel.

    The default channel is `shown`: a link made to be copied or printed replaces only the last link shown, never
    one that was emailed. The outbox sender passes `email`.

    A login link for a contact who was never invited marks them invited: they now hold a way in.
    """
    contact = _contact(email_or_id)
    return LinkIssuer(purpose, channel).issue(to_row(contact))


def _contact(email_or_id: str | int) -> Contact:
    if isinstance(email_or_id, int):
        return get_model(email_or_id)
    return _get_model(email_or_id)


def _mark_invited(contact: Contact, channel: str) -> None:
    now = clock.now()
    contact.status = STATUS_INVITED
    contact.invited_at = now
    contact.invited_by = audit.current_actor()
    contact.invite_count = contact.invite_count + 1
    contact.revoked_at = None
    contact.revoked_by = None
    # A shown link is their way in, with no email; an emailed one is on its way (the sender records its outcome).
    contact.invite_delivery = DELIVERY_QUEUED if channel == CHANNEL_EMAIL else None
    contact.updated_at = now
    contact.save()


def extract_token(token_or_url: str) -> str:
    """The token from a bare token or a full link (`.../login/<token>` or `...?token=<token>`)."""
    text = (token_or_url or "").strip()
    if "/" in text or "?" in text:
        parts = urlsplit(text)
        query = parse_qs(parts.query).get("token")
        text = query[0] if query else parts.path.rstrip("/").rsplit("/", 1)[-1]
    if not _TOKEN_SHAPE.match(text):
        raise RedeemFailed("malformed", "that is not a magic link: the token is malformed")
    return text


def check_link(token_or_url: str, now: datetime | None = None) -> MagicLink:
    """The stored link a token names, if it could be redeemed now; reads only (the portal's GET page uses it).

    Raises:
        RedeemFailed: the link is malformed, unknown, used, revoked, superseded or expired, checked in that
            order (the same checks, in the same order, as `redeem`).
    """
    token = extract_token(token_or_url)
    digest = hash_token(token)
    link = next(iter(MagicLink.raw(_LINK_BY_HASH, digest)), None)
    if link is None or not hmac.compare_digest(link.token_hash, digest):
        raise RedeemFailed("unknown", "this link is not valid: it was never issued")
    now = now or clock.now()
    contact = link.contact = get_model(link.contact_id)
    if link.used_at is not None:
        raise RedeemFailed("used", f"this link was already used on {link.used_at:%Y-%m-%d %H:%M} UTC")
    if link.revoked_at is not None or contact.status == STATUS_REVOKED:
        raise RedeemFailed("revoked", "this link was revoked")
    if link.superseded_at is not None:
        newer = "sent" if link.channel == CHANNEL_EMAIL else "made"
        raise RedeemFailed("superseded", f"a newer link was {newer} since this one; use the newest link")
    if link.expires_at <= now:
        raise RedeemFailed("expired", f"this link expired on {link.expires_at:%Y-%m-%d %H:%M} UTC")
    return link


@write_transaction
def redeem(token_or_url: str) -> Redeemed:
    """Use a link: log the contact in, marking them joined the first time.

    The claim is one statement: an UPDATE that sets `used_at` only on a link that is still open (unused, not
    revoked, not superseded, not expired) and returns it, so two redeems at once cannot both win and a good link
    costs no separate read. Only when the claim finds nothing is the link read again, by `check_link`, to name the
    reason (the same checks in the same order as ever).

    Raises:
        RedeemFailed: the link is unknown, expired, revoked, used or superseded (nothing is changed).
    """
    now = clock.now()
    digest = hash_token(extract_token(token_or_url))
    stamp = to_db_time(now)
    claimed = database.execute_sql(_CLAIM_OPEN_LINK, (stamp, digest, stamp)).fetchone()
    if claimed is None or not hmac.compare_digest(claimed[4], digest):
        check_link(token_or_url, now)  # raises with the real reason
        raise RedeemFailed("used", "this link was already used")
    _, contact_id, purpose, channel, _ = claimed
    row = database.execute_sql(_CONTACT_ROW, (contact_id,)).fetchone()
    if row is None:
        raise RedeemFailed("unknown", "this link is not valid: it was never issued")
    contact = _contact_row(row)
    if contact.status == STATUS_REVOKED:
        raise RedeemFailed("revoked", "this link was revoked")  # the claim above is rolled back with the transaction
    first = contact.status != STATUS_JOINED
    # Only the columns that change: a full save() rewrote the names too, which re-indexed the contact for search;
    # and the status only when it changes, so the status-count trigger runs only then.
    if first:
        database.execute_sql(_JOINED, (STATUS_JOINED, stamp, stamp, stamp, contact_id))
        contact = replace(contact, status=STATUS_JOINED, joined_at=now, last_login_at=now)
    else:
        database.execute_sql(_LOGGED_IN, (stamp, stamp, contact_id))
        contact = replace(contact, last_login_at=now)
    via = "emailed" if channel == CHANNEL_EMAIL else "shown"
    audit.record("redeem", contact, detail=f"{purpose} link ({via})" + (", joined" if first else ""))
    return Redeemed(contact=contact, first_login=first, purpose=purpose, redeemed_at=now)


_LINK_BY_HASH = 'SELECT * FROM "magic_link" WHERE "token_hash" = ?'
_CLAIM_OPEN_LINK = (
    'UPDATE "magic_link" SET "used_at" = ? WHERE "token_hash" = ? AND "used_at" IS NULL AND "revoked_at" IS NULL '
    'AND "superseded_at" IS NULL AND "expires_at" > ? RETURNING "id", "contact_id", "purpose", "channel", "token_hash"'
)
"""The claim (SQLite >= 3.35 for RETURNING): the checks of `check_link` on the link's own row, in the UPDATE."""
_CONTACT_COLUMNS = (
    "id", "email", "first_name", "last_name", "company", "phone", "status", "invited_at", "last_login_at",
    "joined_at", "revoked_at", "invite_count", "invite_delivery", "invite_expires_at",
)
_CONTACT_ROW = f'SELECT {", ".join(f"{chr(34)}{c}{chr(34)}" for c in _CONTACT_COLUMNS)} FROM "contact" WHERE "id" = ?'
_JOINED = (
    'UPDATE "contact" SET "status" = ?, "joined_at" = ?, "last_login_at" = ?, "updated_at" = ? WHERE "id" = ?'
)
_LOGGED_IN = 'UPDATE "contact" SET "last_login_at" = ?, "updated_at" = ? WHERE "id" = ?'


def _contact_row(row: tuple) -> ContactRow:
    """A `ContactRow` from a `_CONTACT_ROW` tuple (timestamps read as the model's fields read them)."""
    values = dict(zip(_CONTACT_COLUMNS, row))
    for name in _TIME_FIELDS:
        if values[name] is not None:
            values[name] = _TIME_FIELDS[name].python_value(values[name])
    return ContactRow(**values)


_TIME_FIELDS = {name: getattr(Contact, name)
                for name in ("invited_at", "last_login_at", "joined_at", "revoked_at", "invite_expires_at")}


def _open_links(contact: Contact | None = None):
    query = MagicLink.update(revoked_at=clock.now()).where(
        MagicLink.used_at.is_null() & MagicLink.revoked_at.is_null() & MagicLink.superseded_at.is_null()
    )
    if contact is not None:
        query = query.where(MagicLink.contact == contact)
    return query


@write_transaction
def revoke_access(email_or_id: str | int) -> ContactRow:
    """End a contact's access at once: status revoked, every outstanding link dead, queued mail skipped."""
    from models.entities import OUTBOX_QUEUED, OUTBOX_SKIPPED, OutboxMessage

    contact = _contact(email_or_id)
    now = clock.now()
    links = _open_links(contact).execute()
    contact.status = STATUS_REVOKED
    contact.revoked_at = now
    contact.revoked_by = audit.current_actor()
    contact.updated_at = now
    contact.save()
    OutboxMessage.update(status=OUTBOX_SKIPPED, last_error="access revoked").where(
        (OutboxMessage.contact == contact) & (OutboxMessage.status == OUTBOX_QUEUED)
    ).execute()
    audit.record("revoke", contact, detail=f"{plural(links, 'open link')} revoked")
    return to_row(contact)


def _invitations_lapse(where) -> None:
    """An invited contact whose invitation link was revoked needs inviting again: count it as expired now."""
    Contact.update(invite_expires_at=clock.now()).where(where & (Contact.status == STATUS_INVITED)).execute()


@write_transaction
def revoke_link(email_or_id: str | int, purpose: str | None = None) -> int:
    """Revoke a contact's outstanding links (of one purpose, or all) without ending their access."""
    contact = _contact(email_or_id)
    query = _open_links(contact)
    if purpose is not None:
        query = query.where(MagicLink.purpose == purpose)
    count = query.execute()
    if purpose in (None, PURPOSE_INVITE):
        _invitations_lapse(Contact.id == contact.id)
    audit.record("link.revoke", contact, detail=plural(count, "link"))
    return count


@write_transaction
def revoke_issued(link: IssuedLink) -> int:
    """Revoke exactly this link, the one just made and shown, leaving the contact's other links (the emailed
    one, above all) as they are. Returns 1, or 0 when it was already used, revoked or superseded."""
    row = MagicLink.get_or_none(MagicLink.token_hash == hash_token(link.token))
    if row is None:
        return 0
    count = _open_links().where(MagicLink.id == row.id).execute()
    if count and row.purpose == PURPOSE_INVITE:
        database.execute_sql(_INVITE_EXPIRES, (row.contact_id,))
        # No open invitation link left and no invitation email on its way: it has lapsed (as in `revoke_link`).
        _invitations_lapse((Contact.id == row.contact_id) & Contact.invite_expires_at.is_null()
                           & (Contact.invite_delivery.is_null() | (Contact.invite_delivery != DELIVERY_QUEUED)))
    audit.record("link.revoke", row.contact, detail=plural(count, f"{row.channel} {row.purpose} link"))
    return count


@write_transaction
def revoke_all_links() -> int:
    """Revoke every outstanding link of every contact (access itself stays as it is)."""
    count = _open_links().execute()
    _invitations_lapse(Contact.invite_expires_at > clock.now())
    audit.record("link.revoke_all", subject="*", detail=plural(count, "link"))
    return count


def current_link(email_or_id: str | int, purpose: str = PURPOSE_LOGIN, channel: str | None = None) -> LinkInfo | None:
    """The newest link of a purpose (and of a channel, if given) for a contact, and what state it is in."""
    contact = _contact(email_or_id)
    where = (MagicLink.contact == contact) & (MagicLink.purpose == purpose)
    if channel is not None:
        _check_channel(channel)
        where &= MagicLink.channel == channel
    link = MagicLink.select().where(where).order_by(MagicLink.created_at.desc(), MagicLink.id.desc()).first()
    if link is None:
        return None
    if link.used_at is not None:
        state = "used"
    elif link.revoked_at is not None:
        state = "revoked"
    elif link.superseded_at is not None:
        state = "superseded"
    elif link.expires_at <= clock.now():
        state = "expired"
    else:
        state = "open"
    return LinkInfo(purpose=link.purpose, created_at=link.created_at, expires_at=link.expires_at, state=state,
                    channel=link.channel)


__all__ = [
    "PURPOSE_INVITE",
    "PURPOSE_LOGIN",
    "STATUS_INVITED",
    "IssuedLink",
    "LinkInfo",
    "LinkIssuer",
    "Redeemed",
    "check_link",
    "current_link",
    "extract_token",
    "hash_token",
    "issue_link",
    "redeem",
    "revoke_access",
    "revoke_all_links",
    "revoke_issued",
    "revoke_link",
]


REVOKE_CHUNK = 200
"""Contacts revoked per write transaction by `revoke_access_many`: other admins' writes wait at most one chunk."""


@dataclass(frozen=True)
class RevokePlan:
    """What revoking the access of some contacts would do, for a confirmation before it is done."""

    contacts: int
    """Contacts whose access would end (those not revoked already)."""
    already_revoked: int
    """Contacts asked for whose access is already revoked: left as they are."""
    missing: int
    """Contacts asked for that no longer exist (deleted elsewhere)."""
    open_links: int
    """Their links that work now (not used, revoked, superseded or expired): they stop working."""
    queued_messages: int
    """Their emails waiting to be sent: they are skipped."""
    sample: tuple[str, ...]
    """The first few addresses whose access would end (ordered by address), to name them."""


@dataclass(frozen=True)
class RevokeResult:
    revoked: int
    """Contacts whose access ended."""
    links: int
    """Their open links revoked."""
    skipped: int
    """Contacts left as they were: already revoked, or deleted meanwhile."""


def _chunks(ids: list[int]) -> list[list[int]]:
    ordered = sorted(set(ids))
    return [ordered[i:i + REVOKE_CHUNK] for i in range(0, len(ordered), REVOKE_CHUNK)]


def plan_revoke(contact_ids: list[int], sample_size: int = 3) -> RevokePlan:
    """What `revoke_access_many(contact_ids)` would do now (reads only)."""
    from models.entities import OUTBOX_QUEUED, OutboxMessage

    now = clock.now()
    found = revoked = open_links = queued = 0
    sample: list[str] = []
    for chunk in _chunks(contact_ids):
        rows = list(Contact.select(Contact.id, Contact.email, Contact.status).where(Contact.id.in_(chunk)).tuples())
        found += len(rows)
        active = [cid for cid, _email, status in rows if status != STATUS_REVOKED]
        revoked += len(rows) - len(active)
        if not active:
            continue
        open_links += _working_links(active, now).count()
        queued += OutboxMessage.select().where(
            OutboxMessage.contact.in_(active) & (OutboxMessage.status == OUTBOX_QUEUED)
        ).count()
        sample = sorted(sample + [email for _cid, email, status in rows if status != STATUS_REVOKED])[:sample_size]
    unique = len(set(contact_ids))
    return RevokePlan(found - revoked, revoked, unique - found, open_links, queued, tuple(sample))


def revoke_access_many(contact_ids: list[int]) -> RevokeResult:
    """End the access of several contacts, as `revoke_access` does for each; those already revoked (or deleted
    meanwhile) are left as they are. Runs in chunks of `REVOKE_CHUNK` contacts, each one write transaction."""
    revoked = links = skipped = 0
    for chunk in _chunks(contact_ids):
        done, opened, left = _revoke_chunk(chunk)
        revoked, links, skipped = revoked + done, links + opened, skipped + left
    return RevokeResult(revoked, links, skipped)


@write_transaction
def _revoke_chunk(chunk: list[int]) -> tuple[int, int, int]:
    """`revoke_access` for each contact of `chunk` not revoked yet, set-based: a statement per table, not per
    contact (10,000 contacts one by one took 50 s), and the same audit entry per contact."""
    from models.entities import OUTBOX_QUEUED, OUTBOX_SKIPPED, OutboxMessage

    rows = list(Contact.select(Contact.id, Contact.email).where(
        Contact.id.in_(chunk) & (Contact.status != STATUS_REVOKED)).tuples())
    if not rows:
        return 0, 0, len(chunk)
    active = [contact_id for contact_id, _email in rows]
    now = clock.now()
    working = _working_links(active, now).count()
    open_per_contact = dict(
        MagicLink.select(MagicLink.contact, fn.COUNT(MagicLink.id)).where(
            MagicLink.contact.in_(active) & MagicLink.used_at.is_null() & MagicLink.revoked_at.is_null()
            & MagicLink.superseded_at.is_null()
        ).group_by(MagicLink.contact).tuples()
    )
    _open_links().where(MagicLink.contact.in_(active)).execute()
    Contact.update(status=STATUS_REVOKED, revoked_at=now, revoked_by=audit.current_actor(), updated_at=now).where(
        Contact.id.in_(active)).execute()
    OutboxMessage.update(status=OUTBOX_SKIPPED, last_error="access revoked").where(
        OutboxMessage.contact.in_(active) & (OutboxMessage.status == OUTBOX_QUEUED)
    ).execute()
    for contact_id, email in rows:
        audit.record("revoke", Contact(id=contact_id, email=email),
                     detail=f"{plural(open_per_contact.get(contact_id, 0), 'open link')} revoked")
    return len(active), working, len(chunk) - len(active)


def _working_links(contact_ids: list[int], now: datetime):
    """The links of these contacts that work now: not used, revoked, superseded or expired."""
    return MagicLink.select().where(
        MagicLink.contact.in_(contact_ids) & MagicLink.used_at.is_null() & MagicLink.revoked_at.is_null()
        & MagicLink.superseded_at.is_null() & (MagicLink.expires_at > now)
    )
