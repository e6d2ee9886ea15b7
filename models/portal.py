"""The portal-level operations: inviting people and the numbers the stats header shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import peewee

from models import audit, clock, lookalike
from models.contacts import ContactRow, clean_field, expired_condition, normalize_email, to_row
from models.db import database, write_lock, write_transaction
from models.domains import default_domain
from models.entities import (
    DELIVERY_FAILED,
    DELIVERY_NO_MAIL,
    DELIVERY_QUEUED,
    DELIVERY_SENT,
    OUTBOX_FAILED,
    OUTBOX_QUEUED,
    OUTBOX_SENDING,
    PURPOSE_INVITE,
    STATUS_INVITED,
    STATUS_JOINED,
    STATUS_NOT_INVITED,
    STATUS_REVOKED,
    Contact,
    OutboxMessage,
)
from models.errors import InvalidInput, PortalError
from models.outbox import QueueResult, queue_for_contacts, queue_login_emails


@dataclass(frozen=True)
class InviteResult:
    """What an invite did: who got an invitation queued, who was new, who was skipped and why."""

    batch: str
    invited: list[ContactRow] = field(default_factory=list)
    created: list[ContactRow] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(address as given, reason) for each address that was not invited."""
    warnings: list[str] = field(default_factory=list)
    """About new contacts whose address looks like another contact's or mixes scripts (`models.lookalike`)."""


@write_transaction
def invite(addresses: list[str], first_name: str = "", last_name: str = "", resend: bool = True) -> InviteResult:
    """Invite contacts by address, creating a contact for an address that is new, and queue the invitation mail.

    Joined contacts are skipped (they are in already); a revoked contact is invited again, which gives their
    access back. Invitations are sent from the default domain, so one must be set up.

    Args:
        addresses: Email addresses; malformed ones are reported in `skipped`, the rest go ahead.
        first_name: For a contact created here (only when one address is given).
        last_name: Likewise.
        resend: Whether an already invited (not yet joined) contact gets a new invitation.
    """
    default_domain()  # refuse early, with a message that says how to set one up
    now = clock.now()
    actor = audit.current_actor()
    contacts: list[Contact] = []
    created: list[ContactRow] = []
    skipped: list[tuple[str, str]] = []
    warnings: list[str] = []
    lookalikes = lookalike.Lookalikes()
    seen: set[str] = set()
    for given in addresses:
        try:
            address = normalize_email(given)
        except InvalidInput as exc:
            skipped.append((given, str(exc)))
            continue
        if address in seen:
            continue
        seen.add(address)
        contact = Contact.get_or_none(Contact.email == address)
        if contact is None:
            contact = Contact.create(
                email=address,
                first_name=clean_field(first_name, "first name") if len(addresses) == 1 else "",
                last_name=clean_field(last_name, "last name") if len(addresses) == 1 else "",
                created_at=now,
                updated_at=now,
            )
            audit.record("contact.add", contact)
            created.append(to_row(contact))
            warnings += lookalikes.warnings(address) + lookalikes.imitated(address)
            lookalikes.add(address)
        elif contact.status == STATUS_JOINED:
            skipped.append((address, "already joined the portal"))
            continue
        elif contact.status == STATUS_INVITED and not resend:
            skipped.append((address, "already invited"))
            continue
        _mark_invited(contact, now, actor)
        contacts.append(contact)
    queued = queue_for_contacts(contacts, PURPOSE_INVITE)
    skipped.extend((row.email, reason) for row, reason in queued.skipped)
    return InviteResult(batch=queued.batch, invited=queued.queued, created=created, skipped=skipped,
                        warnings=warnings)


def _mark_invited(contact: Contact, now: datetime, actor: str) -> None:
    """Make `contact` invited as of `now` (a revoked contact gets their access back) and record it."""
    contact.status = STATUS_INVITED
    contact.invited_at = now
    contact.invited_by = actor
    contact.invite_count += 1
    contact.invite_expires_at = None  # the new invitation is on its way; its link is made when it is sent
    contact.revoked_at = None
    contact.revoked_by = None
    contact.updated_at = now
    contact.save()
    audit.record("invite", contact)


@write_transaction
def resend_expired() -> InviteResult:
    """Queue a new invitation for every invited contact whose invitation link lapsed: exactly the contacts the
    header counts as `expired` and `contacts list --status expired` lists, in one transaction.

    Those the outbox will not queue for (an invitation already waiting, say) are in `skipped` with the reason.
    """
    default_domain()  # refuse early, with a message that says how to set one up
    now = clock.now()
    actor = audit.current_actor()
    lapsed = list(
        Contact.select()
        .where(expired_condition(now))
        .order_by(Contact.id)
    )
    for contact in lapsed:
        _mark_invited(contact, now, actor)
    queued = queue_for_contacts(lapsed, PURPOSE_INVITE)
    skipped = [(row.email, reason) for row, reason in queued.skipped]
    return InviteResult(batch=queued.batch, invited=queued.queued, skipped=skipped)


def plan_resend_expired() -> InviteResult:
    """Who `resend_expired` would invite again and who it would skip (and why), without changing anything: the
    real operation in a transaction that is rolled back, so the preview gives the confirm's reasons."""
    with write_lock() as txn:
        result = resend_expired()
        txn.rollback()
    return result


def plan_login_emails(contact_ids: list[int]) -> QueueResult:
    """Who `queue_login_emails` would queue and who it would skip (and why), without queueing anything.

    The dashboard shows this before the admin confirms. It runs the real queueing in a transaction that is
    rolled back, so the reasons are exactly the ones the confirm will give (the batch id is not kept).
    """
    with write_lock() as txn:
        result = queue_login_emails(contact_ids)
        txn.rollback()
    return result


@dataclass(frozen=True)
class Stats:
    """The numbers in the stats header and `client-portal stats`.

    Each per-status number counts exactly the contacts of that status, so it equals what
    `contacts list --status S` (and the table's filter) finds: `not_invited + invited + joined + revoked ==
    contacts`, and `invites_queued + invites_sent + invites_failed + invites_no_mail == invited`.
    """

    contacts: int = 0
    not_invited: int = 0
    invited: int = 0
    """Contacts whose status is invited: invited and not joined yet (joined ones are in `joined` only)."""
    invites_queued: int = 0
    """Invited contacts whose invitation email waits in the outbox: not sent yet, or deferred by the server and
    waiting for its retry."""
    invites_sent: int = 0
    """Invited contacts whose invitation email the server accepted."""
    invites_failed: int = 0
    """Invited contacts whose invitation email failed for good (refused, or out of attempts)."""
    invites_no_mail: int = 0
    """Invited contacts with no invitation email: they hold a link an admin showed them."""
    invited_total: int = 0
    """Contacts who hold or held an invitation: `invited + joined`."""
    joined: int = 0
    pending: int = 0
    """Invited, not joined yet, and their invitation is still usable (or on its way)."""
    expired: int = 0
    """Invited, not joined, and their invitation link lapsed: they need inviting again."""
    revoked: int = 0
    outbox_queued: int = 0
    outbox_sending: int = 0
    outbox_failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


def _lapsed_invitations(now: datetime) -> int:
    """Open invitations whose link has lapsed by `now`: those of past hours from the counts per hour that triggers
    keep (schema v5), those of this hour from one short index range."""
    hour = int(now.timestamp()) // 3600
    past = database.execute_sql(
        "SELECT COALESCE(SUM(n), 0) FROM invite_expiry_count WHERE hour < ?", (hour,)
    ).fetchone()[0]
    start = datetime.fromtimestamp(hour * 3600, timezone.utc)
    this_hour = (
        Contact.select()
        .where(
            (Contact.status == STATUS_INVITED)
            & (Contact.invite_expires_at >= start)
            & (Contact.invite_expires_at <= now)
        )
        .count()
    )
    return past + this_hour


def stats() -> Stats:
    """The header's numbers: per-status counts, invitations per delivery state and lapsed invitations per hour
    kept by triggers, and the outbox by status. Cheap at a million contacts, so it can run whenever the database
    changes."""
    by_status = dict(database.execute_sql("SELECT status, n FROM contact_status_count").fetchall())
    delivery = dict(database.execute_sql("SELECT state, n FROM invite_delivery_count").fetchall())
    expired = _lapsed_invitations(clock.now())
    # Only the statuses shown: sent mail (most of the table, in time) is not counted.
    outbox = dict(
        OutboxMessage.select(OutboxMessage.status, peewee.fn.COUNT(OutboxMessage.id))
        .where(OutboxMessage.status.in_([OUTBOX_QUEUED, OUTBOX_SENDING, OUTBOX_FAILED]))
        .group_by(OutboxMessage.status)
        .tuples()
    )
    invited_only = by_status.get(STATUS_INVITED, 0)
    joined = by_status.get(STATUS_JOINED, 0)
    return Stats(
        contacts=sum(by_status.values()),
        not_invited=by_status.get(STATUS_NOT_INVITED, 0),
        invited=invited_only,
        invites_queued=delivery.get(DELIVERY_QUEUED, 0),
        invites_sent=delivery.get(DELIVERY_SENT, 0),
        invites_failed=delivery.get(DELIVERY_FAILED, 0),
        invites_no_mail=delivery.get(DELIVERY_NO_MAIL, 0),
        invited_total=invited_only + joined,
        joined=joined,
        pending=max(0, invited_only - expired),
        expired=expired,
        revoked=by_status.get(STATUS_REVOKED, 0),
        outbox_queued=outbox.get(OUTBOX_QUEUED, 0),
        outbox_sending=outbox.get(OUTBOX_SENDING, 0),
        outbox_failed=outbox.get(OUTBOX_FAILED, 0),
    )


__all__ = ["InviteResult", "PortalError", "Stats", "invite", "plan_login_emails", "plan_resend_expired",
           "resend_expired", "stats"]
