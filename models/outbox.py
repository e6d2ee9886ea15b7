"""The outbox table's side in the model layer: queueing mail, reading the queue, and every state change of a row.

A row names a contact and a kind (invite, login); it never holds rendered text or a token. `mail.outbox`
claims rows, renders and sends them; all the SQL for that lives here, so the sender's promises (two senders
never take the same row, a crash loses nothing) are kept in one place:

- claiming happens in one write transaction (SQLite: `BEGIN IMMEDIATE`; a server: a `sender_transaction`, which
  runs beside other senders'), and the engine selects the due and the abandoned rows so no other sender can take
  them before it commits (`Backend.claim_rows`), so the SELECT of due rows and the UPDATE that marks them
  `sending` cannot interleave with another sender's;
- a claim records who (`host:pid`) and when; a `sending` row whose claimer died (its pid is gone on this
  host) or whose lease ran out is taken again, keeping its Message-ID, so at most that one message is sent
  twice and the copies are recognisably the same email;
- a row is marked sent right after the server accepted it, before the next is sent (`mark_sent`; the sender
  runs its statement, `mark_sent_statement`, in the transaction that issues the next message's link).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

import peewee

from models import audit, clock
from models.contacts import ContactRow, to_row
from models.db import backend, database, sender_transaction, write_transaction
from models.domains import default_domain
from models.entities import (
    OUTBOX_FAILED,
    OUTBOX_QUEUED,
    OUTBOX_SENDING,
    OUTBOX_SENT,
    OUTBOX_SKIPPED,
    PURPOSES,
    STATUS_REVOKED,
    Contact,
    OutboxMessage,
)
from models.errors import InvalidInput, NotFound
from models.words import article, plural


@dataclass(frozen=True)
class OutboxRow:
    """One queued, sent or failed email as the outbox view shows it."""

    id: int
    contact_id: int
    email: str
    kind: str
    batch: str
    status: str
    attempts: int
    last_error: str
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    message_id: str


@dataclass(frozen=True)
class QueueResult:
    """What queueing a batch did: the batch id, who was queued, and who was skipped and why."""

    batch: str
    queued: list[ContactRow] = field(default_factory=list)
    skipped: list[tuple[ContactRow, str]] = field(default_factory=list)


def new_batch_id() -> str:
    return uuid.uuid4().hex[:12]


def new_message_id(domain: str) -> str:
    """A globally unique Message-ID on our default domain, fixed at queue time."""
    return f"<{uuid.uuid4().hex}@{domain}>"


def _skip_reason(contact: Contact, kind: str) -> str | None:
    if contact.status == STATUS_REVOKED:
        return "access revoked"
    pending = OutboxMessage.select().where(
        (OutboxMessage.contact == contact)
        & (OutboxMessage.kind == kind)
        & (OutboxMessage.status.in_([OUTBOX_QUEUED, OUTBOX_SENDING]))
    )
    if pending.exists():
        return f"{article(kind)} email is already waiting to be sent"
    return None


def queue_for_contacts(contacts: list[Contact], kind: str, batch: str | None = None) -> QueueResult:
    """Queue one `kind` email per contact inside the caller's transaction; revoked or already-queued are skipped."""
    if kind not in PURPOSES:
        raise InvalidInput(f"unknown email kind {kind!r}")
    domain = default_domain()
    batch = batch or new_batch_id()
    now = clock.now()
    actor = audit.current_actor()
    result = QueueResult(batch=batch)
    seen: set[int] = set()
    for contact in contacts:
        if contact.id in seen:
            continue
        seen.add(contact.id)
        reason = _skip_reason(contact, kind)
        if reason:
            result.skipped.append((to_row(contact), reason))
            continue
        OutboxMessage.create(
            contact=contact,
            kind=kind,
            batch=batch,
            next_attempt_at=now,
            message_id=new_message_id(domain),
            created_at=now,
            created_by=actor,
        )
        result.queued.append(to_row(contact))
    if result.queued:
        audit.record(f"queue.{kind}", subject=f"batch {batch}", detail=plural(len(result.queued), "email"))
    return result


@write_transaction
def queue_login_emails(contact_ids: list[int], batch: str | None = None) -> QueueResult:
    """Queue a login email to each of these contacts as one batch."""
    contacts: list[Contact] = []
    for start in range(0, len(contact_ids), 500):
        chunk = contact_ids[start : start + 500]
        found = {c.id: c for c in Contact.select().where(Contact.id.in_(chunk))}
        contacts.extend(found[i] for i in chunk if i in found)
    return queue_for_contacts(contacts, "login", batch)


def to_outbox_row(m: OutboxMessage, email: str) -> OutboxRow:
    return OutboxRow(
        id=m.id,
        contact_id=m.contact.id,
        email=email,
        kind=m.kind,
        batch=m.batch,
        status=m.status,
        attempts=m.attempts,
        last_error=m.last_error,
        next_attempt_at=m.next_attempt_at,
        created_at=m.created_at,
        sent_at=m.sent_at,
        message_id=m.message_id,
    )


def list_outbox(status: str | None = None, batch: str | None = None, limit: int = 500) -> list[OutboxRow]:
    """Outbox rows, newest first, optionally of one status or batch."""
    query = OutboxMessage.select(OutboxMessage, Contact.id, Contact.email).join(Contact)
    if status:
        query = query.where(OutboxMessage.status == status)
    if batch:
        query = query.where(OutboxMessage.batch == batch)
    query = query.order_by(OutboxMessage.id.desc()).limit(limit)
    return [to_outbox_row(m, m.contact.email) for m in query]


def outbox_counts() -> dict[str, int]:
    """How many rows are in each outbox status."""
    counts = {s: 0 for s in (OUTBOX_QUEUED, OUTBOX_SENDING, OUTBOX_FAILED, "sent", "skipped")}
    for status, n in OutboxMessage.select(OutboxMessage.status, peewee.fn.COUNT(OutboxMessage.id)).group_by(
        OutboxMessage.status
    ).tuples():
        counts[status] = n
    return counts


# --- sending: claims and outcomes -----------------------------------------------------------------------------

LEASE = timedelta(minutes=2)
"""How long a claim holds without being renewed; after that another sender may take the row."""


def sender_identity() -> str:
    """Who is claiming rows: `host:pid`, so a restart on this host can tell that the claimer died."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else
        return True
    return True


def claim_is_stale(claimed_by: str | None, claimed_at: datetime | None, now: datetime) -> bool:
    """Whether a `sending` row's claim is dead: older than the lease, or its process is gone from this host."""
    if not claimed_by or claimed_at is None or claimed_at <= now - LEASE:
        return True
    host, _, pid_text = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another host's sender: only its lease can tell
    pid = int(pid_text)
    return pid != os.getpid() and not _pid_alive(pid)


@dataclass(frozen=True)
class ClaimedMessage:
    """An outbox row this sender now holds (`sending`), with what is needed to render and send it."""

    id: int
    kind: str
    batch: str
    message_id: str
    attempts: int
    """Attempts including this one."""
    contact: ContactRow
    reclaimed: bool
    """It was `sending` in a sender that died: it may already have reached the server once."""


@dataclass(frozen=True)
class Claim:
    """What one claim did: rows now held, and rows settled on the spot (revoked, out of attempts)."""

    messages: list[ClaimedMessage] = field(default_factory=list)
    skipped: list[tuple[int, str, str]] = field(default_factory=list)
    """(row id, email, reason) of rows marked skipped because the contact's access was revoked."""
    failed: list[tuple[int, str, str]] = field(default_factory=list)
    """(row id, email, reason) of reclaimed rows that had no attempts left."""

    def __bool__(self) -> bool:
        return bool(self.messages or self.skipped or self.failed)


def _scope(query, batch: str | None):
    return query.where(OutboxMessage.batch == batch) if batch is not None else query


# The claim runs once per chunk of mail on the sender's critical path, so its statements are SQL text: Peewee
# building them, and making a model of each joined row, cost more than the rest of the claim together.
_STALE_SQL = 'SELECT "id", "claimed_by", "claimed_at" FROM "outbox_message" WHERE "status" = ?'
_DUE_SQL = 'SELECT "id" FROM "outbox_message" WHERE "status" = ? AND "next_attempt_at" <= ?'
_DUE_ORDER = ' ORDER BY "next_attempt_at", "id" LIMIT ?'
_CONTACT_COLUMNS = tuple(f.name for f in fields(ContactRow) if f.name in Contact._meta.fields)
"""The columns a `ContactRow` is made of (every field of it that is a column of `contact`)."""
_CONTACT_VALUES = tuple(Contact._meta.fields[name].python_value for name in _CONTACT_COLUMNS)
_CLAIMED_SQL = (
    'SELECT o."id", o."kind", o."batch", o."message_id", o."attempts", '
    + ", ".join(f'c."{name}"' for name in _CONTACT_COLUMNS)
    + ' FROM "outbox_message" AS o JOIN "contact" AS c ON c."id" = o."contact_id" WHERE o."id" IN ({})'
)
_TAKE_SQL = (
    'UPDATE "outbox_message" SET "status" = ?, "claimed_by" = ?, "claimed_at" = ?, "attempts" = "attempts" + 1 '
    'WHERE "id" IN ({})'
)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _claimed_contact(values: tuple) -> ContactRow:
    return ContactRow(**{name: convert(v) for name, convert, v in zip(_CONTACT_COLUMNS, _CONTACT_VALUES, values)})


def count_due(batch: str | None, due_by: datetime) -> int:
    """Rows a sender would take now: queued and due by `due_by`, plus `sending` rows whose claim is dead."""
    queued = _scope(OutboxMessage.select(), batch).where(
        (OutboxMessage.status == OUTBOX_QUEUED) & (OutboxMessage.next_attempt_at <= due_by)
    ).count()
    return queued + len(_stale_ids(batch, clock.now()))


def _stale_ids(batch: str | None, now: datetime, *, claim: bool = False) -> list[int]:
    """`sending` rows whose claim is dead. With `claim`, those rows are then locked for this transaction as the
    due rows are (`Backend.claim_rows`) and looked at again: one another sender is taking over right now is
    passed over, and one it took over a moment ago reads as taken."""
    sql = _STALE_SQL + (' AND "batch" = ?' if batch is not None else "") + ' ORDER BY "id"'
    params = (OUTBOX_SENDING, batch) if batch is not None else (OUTBOX_SENDING,)
    claimed_at = OutboxMessage.claimed_at.python_value
    ids = [row_id for row_id, claimed_by, at in database.execute_sql(sql, params)
           if claim_is_stale(claimed_by, claimed_at(at), now)]
    if not claim or not ids:
        return ids
    locked = backend().claim_rows(f'{_STALE_SQL} AND "id" IN ({_marks(len(ids))}) ORDER BY "id"',
                                  (OUTBOX_SENDING, *ids))
    return [row_id for row_id, claimed_by, at in locked if claim_is_stale(claimed_by, claimed_at(at), now)]


@sender_transaction
def claim_due(owner: str, limit: int, *, batch: str | None, due_by: datetime, max_attempts: int) -> Claim:
    """Take up to `limit` rows for sending, atomically (another sender never gets the same row).

    Rows left `sending` by a dead sender come first (they were in flight), then queued rows due by `due_by`,
    oldest first. A row whose contact was revoked meanwhile is marked skipped here; a reclaimed row that
    already used `max_attempts` is marked failed (it crashed its sender every time).
    """
    now = clock.now()
    ids = _stale_ids(batch, now, claim=True)[:limit]
    reclaimed = set(ids)
    if len(ids) < limit:
        sql = _DUE_SQL + (' AND "batch" = ?' if batch is not None else "") + _DUE_ORDER
        due_at = OutboxMessage.next_attempt_at.db_value(due_by)
        params = (OUTBOX_QUEUED, due_at, batch) if batch is not None else (OUTBOX_QUEUED, due_at)
        ids.extend(backend().due_outbox_ids(sql, (*params, limit - len(ids))))
    if not ids:
        return Claim()
    rows = {row[0]: row for row in database.execute_sql(_CLAIMED_SQL.format(_marks(len(ids))), ids)}
    claim = Claim()
    take: list[int] = []
    for row_id in ids:
        row = rows.get(row_id)
        if row is None:
            continue
        _, kind, row_batch, message_id, attempts = row[:5]
        contact = _claimed_contact(row[5:])
        if contact.status == STATUS_REVOKED:
            claim.skipped.append((row_id, contact.email, "access revoked"))
        elif row_id in reclaimed and attempts >= max_attempts:
            claim.failed.append(
                (row_id, contact.email,
                 f"gave up after {plural(attempts, 'attempt')}: the sender stopped while sending it")
            )
        else:
            take.append(row_id)
            claim.messages.append(
                ClaimedMessage(
                    id=row_id,
                    kind=kind,
                    batch=row_batch,
                    message_id=message_id,
                    attempts=attempts + 1,
                    contact=contact,
                    reclaimed=row_id in reclaimed,
                )
            )
    settle = {OUTBOX_SKIPPED: claim.skipped, OUTBOX_FAILED: claim.failed}
    for status, settled in settle.items():
        for row_id, _, reason in settled:
            OutboxMessage.update(status=status, last_error=reason, claimed_by=None, claimed_at=None).where(
                OutboxMessage.id == row_id
            ).execute()
    if take:
        database.execute_sql(_TAKE_SQL.format(_marks(len(take))),
                             (OUTBOX_SENDING, owner, OutboxMessage.claimed_at.db_value(now), *take))
    return claim


def _held(row_id: int, owner: str):
    return (OutboxMessage.id == row_id) & (OutboxMessage.status == OUTBOX_SENDING) & (OutboxMessage.claimed_by == owner)


_MARK_SENT_SQL = (
    "UPDATE outbox_message SET status = ?, sent_at = ?, last_error = '', claimed_by = NULL, claimed_at = NULL "
    "WHERE id = ? AND status <> ?"
)
"""`mark_sent` as plain SQL: it runs once per message between two sends, on the sender's critical path, and
building the same UPDATE through Peewee costs four times as long as running it. It is not guarded by the claim:
if ours was taken over (we stalled past the lease), the mail did go all the same, so it is recorded unless it is
already (one statement, where a guarded UPDATE and then an unguarded one for a lost claim took two)."""


def mark_sent_statement(row_id: int) -> tuple[str, tuple]:
    """`mark_sent`'s statement and parameters, for a transaction that runs it beside its own work (the sender's
    next link: `links.LinkIssuer.issue_at_once`)."""
    return _MARK_SENT_SQL, (OUTBOX_SENT, OutboxMessage.sent_at.db_value(clock.now()), row_id, OUTBOX_SENT)


@sender_transaction
def mark_sent(row_id: int, owner: str) -> None:
    """The server accepted the message: record it before the next one goes, so a crash cannot repeat it. (Whoever
    holds the claim now, `owner` or a sender that took it over: the message went.)"""
    database.execute_sql(*mark_sent_statement(row_id))


@sender_transaction
def mark_retry(row_id: int, owner: str, error: str, next_attempt_at: datetime) -> None:
    """A temporary failure: back in the queue, due again at `next_attempt_at`, with the reason kept."""
    OutboxMessage.update(
        status=OUTBOX_QUEUED, last_error=error, next_attempt_at=next_attempt_at, claimed_by=None, claimed_at=None
    ).where(_held(row_id, owner)).execute()


@sender_transaction
def mark_failed(row_id: int, owner: str, error: str) -> None:
    """A permanent failure (or attempts used up): kept as failed with the server's reply for the user."""
    OutboxMessage.update(status=OUTBOX_FAILED, last_error=error, claimed_by=None, claimed_at=None).where(
        _held(row_id, owner)
    ).execute()


@sender_transaction
def mark_skipped(row_id: int, owner: str, reason: str) -> None:
    """Not sent on purpose (the contact was revoked or deleted while the row waited)."""
    OutboxMessage.update(status=OUTBOX_SKIPPED, last_error=reason, claimed_by=None, claimed_at=None).where(
        _held(row_id, owner)
    ).execute()


@sender_transaction
def release(row_ids: list[int], owner: str) -> int:
    """Give held rows back untouched (cancelled, or the server was unreachable): the attempt is not counted."""
    if not row_ids:
        return 0
    return OutboxMessage.update(
        status=OUTBOX_QUEUED, claimed_by=None, claimed_at=None, attempts=OutboxMessage.attempts - 1
    ).where(
        OutboxMessage.id.in_(row_ids) & (OutboxMessage.status == OUTBOX_SENDING) & (OutboxMessage.claimed_by == owner)
    ).execute()


@sender_transaction
def renew(row_ids: list[int], owner: str) -> None:
    """Extend the lease on rows still held, so a slow server does not make them look abandoned."""
    if row_ids:
        OutboxMessage.update(claimed_at=clock.now()).where(
            OutboxMessage.id.in_(row_ids) & (OutboxMessage.status == OUTBOX_SENDING)
            & (OutboxMessage.claimed_by == owner)
        ).execute()


@write_transaction
def retry_failed(batch: str | None = None) -> int:
    """Put failed rows (of one batch, or all) back in the queue, due now, with a fresh count of attempts.

    Each keeps its Message-ID. Returns how many rows were re-queued.
    """
    now = clock.now()
    count = _scope(
        OutboxMessage.update(status=OUTBOX_QUEUED, attempts=0, next_attempt_at=now, claimed_by=None,
                             claimed_at=None),
        batch,
    ).where(OutboxMessage.status == OUTBOX_FAILED).execute()
    if count:
        audit.record("outbox.retry", subject=f"batch {batch}" if batch else "all", detail=plural(count, "email"))
    return count


def next_due_at(batch: str | None = None) -> datetime | None:
    """When the earliest queued row (of one batch, or all) is due, or None when nothing is queued."""
    value = _scope(OutboxMessage.select(peewee.fn.MIN(OutboxMessage.next_attempt_at)), batch).where(
        OutboxMessage.status == OUTBOX_QUEUED
    ).scalar()
    return OutboxMessage.next_attempt_at.python_value(value) if value is not None else None


def skipped_rows(batch: str) -> list[tuple[int, str, str]]:
    """(row id, email, reason) of a batch's rows that were taken out of the queue (revoked contacts)."""
    query = (
        OutboxMessage.select(OutboxMessage.id, OutboxMessage.last_error, Contact.email)
        .join(Contact)
        .where((OutboxMessage.batch == batch) & (OutboxMessage.status == OUTBOX_SKIPPED))
        .order_by(OutboxMessage.id)
    )
    return [(m.id, m.contact.email, m.last_error) for m in query]


def check_batch(batch: str | None) -> None:
    """Refuse a batch id no mail was ever queued under (a typo sent nothing and said "sent 0" as if all was done).

    Raises:
        NotFound: no outbox row has this batch id.
    """
    if batch is not None and not OutboxMessage.select().where(OutboxMessage.batch == batch).exists():
        raise NotFound(f"no mail was queued in batch {batch!r}; each message's batch is in: "
                       "client-portal outbox list --json")


def queued_count(batch: str | None = None) -> int:
    """How many rows (of one batch, or all) wait in the queue, due or not."""
    return _scope(OutboxMessage.select(), batch).where(OutboxMessage.status == OUTBOX_QUEUED).count()
