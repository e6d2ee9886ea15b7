"""The outbox sender: takes due rows from the queue, makes each email at send time, sends it, records the outcome.

Why it is shaped this way:
- The magic link is issued, and the email rendered, only when the row is sent: the raw token exists in memory
  for the few milliseconds between issuing and sending, never in the database.
- Rows are claimed atomically in small chunks (`models.outbox.claim_due`) and each is marked sent right after
  the server accepted it, before the next message goes (in the transaction that issues the next message's
  link: one commit per email, and on a PostgreSQL server one round trip, `LinkIssuer.issue_at_once`). Killed
  at any point, a restart finds at most the one row that was in flight still `sending` and sends it again with
  the same Message-ID.
- One SMTP connection carries a whole batch; a dropped connection is reopened and the message tried once more
  at once. A server that stops answering ends the pass after one timeout, rather than once per message.
- Temporary failures (4xx, connection lost, timeout) go back to the queue with exponential backoff until
  `max_attempts`; permanent ones (5xx, bad address) fail at once, keeping the server's reply.
- One row never stops the others. Every step made for one row (its address, its rendering, its link, its
  delivery) fails that row alone: the row is marked failed with the reason in one line and the batch goes on.
  The email is rendered for the contact with a stand-in link *before* their link is issued, so an email that
  cannot be made never supersedes the link a contact already holds; if the real rendering still fails, the
  link just issued is revoked at once. Only trouble with the database or the server ends a pass.
- It runs happily in a Textual thread worker: it opens its own database connection, touches no UI, reports
  through a callback, and checks `cancel` between messages.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

from mail.config import MailConfig
from mail.message import build_message, recipient_address, sender_address
from mail.templates import Renderer, RenderError
from mail.transports import (
    DeliveryError,
    Transport,
    TransportUnavailable,
    open_transport,
)
from models import clock, heartbeat, links, settings
from models import outbox as queue
from models.contacts import ContactRow
from models.db import database, is_database_error, page_cache, sender_transaction
from models.entities import CHANNEL_EMAIL
from models.errors import AccessRevoked, NotFound, PortalError
from models.words import plural

RETRY_BASE_SECONDS = 30.0
"""Wait before the first retry of a temporary failure; doubled for each further attempt."""

RETRY_MAX_SECONDS = 3600.0
"""The longest wait between two attempts."""

MAX_CHUNK = 50
"""Most rows claimed at once. Small, so that several senders share a queue and a crash strands few claims."""

SEND_PAGE_CACHE_KIB = 2048
"""SQLite's page cache on the sender's connection while it sends (the database's own setting is 16 MB). Each
email writes a link and an audit entry that the run never reads again; with the full cache every page written
stayed in memory, about 0.4 kB an email, until 16 MB were used. Sending is no slower with the small cache."""

OUTCOMES = ("sent", "failed", "retry", "skipped")


@dataclass(frozen=True)
class SendProgress:
    """Reported after each message: how far the run is, and what just happened to whom."""

    done: int
    total: int
    sent: int
    failed: int
    email: str
    outcome: str
    """`sent`, `failed` (for good), `retry` (back in the queue for later) or `skipped` (access revoked)."""
    error: str = ""


@dataclass(frozen=True)
class SendSummary:
    """What a run did, for the dashboard's closing message and the CLI's last lines."""

    sent: int
    failed: list[tuple[str, str]]
    """(email, reason) of messages that failed for good in this run."""
    retrying: int
    """Messages that failed temporarily and wait in the queue for a later attempt."""
    skipped: list[tuple[str, str]]
    """(email, reason) of messages not sent on purpose (access revoked); with a batch, also the batch's rows
    that a revocation took out of the queue before this run."""
    cancelled: bool
    error: str = ""
    """Why the run stopped early with mail still queued (the server unreachable or not answering), else ''."""


def backoff(attempt: int, base: float = RETRY_BASE_SECONDS) -> timedelta:
    """How long to wait after failed attempt number `attempt` (1-based): base, 2x base, 4x base..., capped."""
    return timedelta(seconds=min(RETRY_MAX_SECONDS, base * 2 ** max(0, attempt - 1)))


@contextmanager
def _own_connection() -> Iterator[None]:
    """This thread's own database connection: a worker thread opens (and closes) one; the CLI reuses its own."""
    if database.is_closed():
        with database.connection_context():
            yield
    else:
        yield


class _Cancelled(Exception):
    pass


@dataclass(frozen=True)
class _Prepared:
    """A row made ready to send: the built message (its link issued), or why it is not to be sent."""

    msg: EmailMessage | None
    email: str
    skip_reason: str = ""


class _Stop(Exception):
    """The transport cannot go on (unreachable, not answering): end the pass, keep what is left queued."""


class _RowFailed(Exception):
    """This row's email cannot be made or sent, for a reason of its own; `str()` is the reason for the user."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _database_trouble(exc: BaseException) -> bool:
    """Whether `exc` is the database's (locked, full, gone): it ends the pass, where a row's own fault does not.

    The engine says (`models.db.is_database_error`), since `mail/` does not import the ORM or the drivers.
    """
    return is_database_error(exc)


def _stand_in_url(issuer: links.LinkIssuer) -> str:
    """A link of the real shape (the real address, a token of the real length) that opens nothing: what a
    trial rendering uses before the contact's real link is issued."""
    return issuer.url_base + "x" * len(secrets.token_urlsafe(links.TOKEN_BYTES))


class OutboxSender:
    """Sends the outbox through one transport. Make one per run (it holds no connection between runs)."""

    def __init__(
        self,
        config: MailConfig,
        *,
        rate: float | None = None,
        max_attempts: int | None = None,
        retry_base: float = RETRY_BASE_SECONDS,
    ) -> None:
        """Set up a sender; nothing is read or opened until `send`.

        Args:
            config: Where mail goes.
            rate: Messages per second at most over SMTP (`send_rate` setting when None; 0 or inf: no limit).
                Writing to the local Maildir is never slowed down.
            max_attempts: Tries for a temporarily failing message (`max_attempts` setting when None).
            retry_base: Seconds before the first retry; doubles each time.
        """
        self.config = config
        self.rate = rate
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.owner = queue.sender_identity()
        self.connections = 0
        """Connections (or Maildir openings) the last run needed: 1 for a clean batch."""

    def send(
        self,
        batch: str | None = None,
        *,
        progress: Callable[[SendProgress], None] | None = None,
        cancel: threading.Event | None = None,
        once: bool = False,
    ) -> SendSummary:
        """Send due queued messages (of one batch, or all) until none are due.

        Args:
            batch: Only this batch's rows.
            progress: Called after each message (from this thread).
            cancel: When set, the run stops before the next message; held rows go back to the queue.
            once: One pass over what is due when the run starts: rows that become due meanwhile (new ones,
                retries whose backoff ran out) wait for the next run.

        Returns:
            The summary. Server trouble that stops the run is in `error`, not raised.

        Raises:
            PortalError: a problem with the database or the configuration (no default domain, for one).
        """
        with _own_connection(), page_cache(SEND_PAGE_CACHE_KIB):
            run = _Run(self, batch, progress, cancel or threading.Event(), once)
            try:
                return run.go()
            finally:
                self.connections = run.transport.connections


class _Run:
    """One call of `OutboxSender.send`: the state that lives for the run and no longer."""

    def __init__(self, sender: OutboxSender, batch: str | None, progress, cancel: threading.Event, once: bool):
        self.sender = sender
        self.owner = sender.owner
        self.batch = batch
        self.report = progress
        self.cancel = cancel
        self.once = once
        rate = sender.rate if sender.rate is not None else settings.get("send_rate")
        self.max_attempts = sender.max_attempts if sender.max_attempts is not None else settings.get("max_attempts")
        self.transport: Transport = open_transport(sender.config)
        limited = self.transport.rate_limited and rate and rate > 0 and not math.isinf(rate)
        self.interval = 1.0 / rate if limited else 0.0
        self.chunk = max(1, min(MAX_CHUNK, int(rate * 2))) if limited else MAX_CHUNK
        self.next_send = time.monotonic()
        self.sender_addr = sender_address(sender.config)
        self.envelope_from = self.sender_addr.addr_spec
        self.held: list[queue.ClaimedMessage] = []
        self.accepted: int | None = None
        """The row of the last message the server accepted while it is not yet recorded as sent. It is recorded
        in the transaction that issues the next message's link, before that message goes, or on its own when
        there is no next one: one commit per email instead of two, and still only the message in flight can be
        sent twice after a crash. (Progress reports it sent at once: the server has it.)"""
        self.unsent: dict[int, tuple[str, str, str]] = {}
        """row id -> (email, outcome, reason): the last outcome of each row this run touched and did not send.
        Sent rows are only counted, so that what a run holds does not grow with the number of emails."""
        self.done = 0
        self.total = 0
        self.sent = 0
        self.failed = 0
        self.error = ""
        self.cancelled = False

    # --- the loop ---

    def go(self) -> SendSummary:
        started = clock.now()
        self.total = queue.count_due(self.batch, started)
        try:
            while True:
                if self.cancel.is_set():
                    self.cancelled = True
                    break
                claim = queue.claim_due(self.owner, self.chunk, batch=self.batch,
                                        due_by=started if self.once else clock.now(),
                                        max_attempts=self.max_attempts)
                if not claim:
                    break
                self.held = list(claim.messages)
                self.total = max(self.total, self.done + len(self.held) + len(claim.skipped) + len(claim.failed))
                for row_id, email, reason in claim.skipped:
                    self._settled(row_id, email, "skipped", reason)
                for row_id, email, reason in claim.failed:
                    self._settled(row_id, email, "failed", reason)
                self._send_held()
        except (_Cancelled, _Stop):
            pass
        finally:
            # Whatever happened (cancel, server gone, an exception): what the server accepted is recorded, and
            # rows we still hold go back untouched.
            try:
                self._record_accepted()
            finally:
                if self.held:
                    queue.release([m.id for m in self.held], self.owner)
                    self.held = []
                self.transport.close()
        return self._summary()

    def _send_held(self) -> None:
        # Templates and link settings are read once per chunk: an edit saved mid-run applies from the next chunk on.
        kinds = {m.kind for m in self.held}
        renderers = {kind: Renderer(kind) for kind in kinds}
        issuers = {kind: links.LinkIssuer(kind, CHANNEL_EMAIL) for kind in kinds}
        stand_ins = {kind: _stand_in_url(issuer) for kind, issuer in issuers.items()}
        claimed_at = time.monotonic()
        while self.held:
            if self.cancel.is_set():
                self.cancelled = True
                raise _Cancelled
            if time.monotonic() - claimed_at > queue.LEASE.total_seconds() / 4:
                queue.renew([m.id for m in self.held], self.owner)
                claimed_at = time.monotonic()
            row = self.held[0]
            self._wait_for_rate()
            # The link is issued only now, right before this message goes, so a run that stops early never
            # leaves a contact with their older link superseded by one they were not sent.
            try:
                prepared = self._prepare(row, renderers[row.kind], issuers[row.kind], stand_ins[row.kind])
            except _RowFailed as exc:
                queue.mark_failed(row.id, self.owner, str(exc))
                self._settled(row.id, row.contact.email, "failed", str(exc))
                continue
            self._deliver(row, prepared)  # settles the row or leaves it `accepted`, drops it from `held`, or raises
        self._record_accepted()

    def _prepare(self, row: queue.ClaimedMessage, renderer: Renderer, issuer: links.LinkIssuer,
                 stand_in: str) -> _Prepared:
        """Issue the row's magic link and build its message (the token lives only in this message).

        The transaction that issues the link also records the message before as sent (`accepted`).

        Raises:
            _RowFailed: this row's email cannot be made (nothing issued, or the link issued for it revoked).
            PortalError, a database error: the database cannot go on; the pass ends.
        """
        # Everything that can fail for this contact is tried first, with a stand-in link: a failure here issues
        # nothing, so the contact keeps the link they hold and a re-run does not issue another one each time.
        self._build(row, row.contact, renderer, stand_in, clock.now() + issuer.valid_for, trial=True)
        # The link goes to the contact as the claim read it a moment ago; if the stored row changed since
        # (revoked, deleted, readdressed, never invited), the issuer reads it again and decides.
        try:
            link, refused = _record_and_issue(self.accepted, self.owner, issuer, row.contact)
            self.accepted = None
            if link is None:
                return _Prepared(None, row.contact.email, refused)
        except PortalError:
            raise
        except Exception as exc:  # noqa: BLE001 - any other failure to issue this contact's link fails this row
            if _database_trouble(exc):
                raise
            raise _RowFailed(f"cannot issue the link: {_one_line(exc) or type(exc).__name__}") from None
        try:
            msg = self._build(row, link.contact, renderer, link.url, link.expires_at)
        except _RowFailed:
            # Never leave a link open that no email carries (it superseded the contact's older emailed one).
            links.revoke_issued(link)
            raise
        return _Prepared(msg, link.contact.email)

    def _build(self, row: queue.ClaimedMessage, contact: ContactRow, renderer: Renderer, url: str,
               expires_at, *, trial: bool = False) -> EmailMessage | None:
        """`contact`'s email carrying `url`, or `_RowFailed` with the reason in one line.

        A `trial` renders and makes the address only (what depends on the contact), and returns None.
        """
        try:
            rendered = renderer.render(contact, url, expires_at)
            to = recipient_address(contact.email, contact.full_name)
            if trial:
                return None
            return build_message(
                rendered,
                sender=self.sender_addr,
                to=to,
                message_id=row.message_id,
                date=clock.now(),
                kind=row.kind,
            )
        except RenderError as exc:
            raise _RowFailed(_one_line(exc)) from None
        except Exception as exc:  # noqa: BLE001 - an address or header the email library refuses fails this row
            raise _RowFailed(f"cannot build the email: {_one_line(exc) or type(exc).__name__}") from None

    def _wait_for_rate(self) -> None:
        if not self.interval:
            return
        self._record_accepted()  # a throttled run has time to spare: record the message before now, not after
        now = time.monotonic()
        if self.next_send > now and self.cancel.wait(self.next_send - now):
            self.cancelled = True
            raise _Cancelled
        self.next_send = max(self.next_send, time.monotonic()) + self.interval

    # --- one message ---

    def _deliver(self, row: queue.ClaimedMessage, prepared: _Prepared) -> None:
        if prepared.msg is None:
            queue.mark_skipped(row.id, self.owner, prepared.skip_reason)
            self._settled(row.id, prepared.email, "skipped", prepared.skip_reason)
            return
        msg, email = prepared.msg, prepared.email
        try:
            try:
                self.transport.send(msg, self.envelope_from, email)
            except DeliveryError as exc:
                if not (exc.connection_lost and exc.code == 0 and not exc.timed_out):
                    raise
                # The connection dropped under this message: reconnect and try it once more right away (the
                # server may have kept the first copy; it carries the same Message-ID).
                self.transport.send(msg, self.envelope_from, email)
        except TransportUnavailable as exc:
            # Nothing is wrong with this message: it goes back to the queue uncharged with the rest.
            self.error = str(exc)
            raise _Stop from None
        except DeliveryError as exc:
            self._failed(row, exc)
            if exc.timed_out:
                self.error = str(exc)
                raise _Stop from None
            return
        except Exception as exc:  # noqa: BLE001 - a transport fault of this one message fails it, not the batch
            self._failed(row, DeliveryError(f"cannot be sent: {_one_line(exc) or type(exc).__name__}",
                                            permanent=True))
            return
        self.accepted = row.id
        self.sent += 1
        self._settled(row.id, email, "sent", "")

    def _record_accepted(self) -> None:
        """Record the message the server accepted last as sent, if it is not recorded yet."""
        if self.accepted is not None:
            queue.mark_sent(self.accepted, self.owner)
            self.accepted = None

    def _failed(self, row: queue.ClaimedMessage, exc: DeliveryError) -> None:
        reason = str(exc)
        if exc.permanent:
            queue.mark_failed(row.id, self.owner, reason)
            self._settled(row.id, row.contact.email, "failed", reason)
        elif row.attempts >= self.max_attempts:
            reason = f"gave up after {plural(row.attempts, 'attempt')}: {reason}"
            queue.mark_failed(row.id, self.owner, reason)
            self._settled(row.id, row.contact.email, "failed", reason)
        else:
            due = clock.now() + backoff(row.attempts, self.sender.retry_base)
            queue.mark_retry(row.id, self.owner, reason, due)
            self._settled(row.id, row.contact.email, "retry", reason)

    def _settled(self, row_id: int, email: str, outcome: str, reason: str) -> None:
        if outcome == "sent":
            self.unsent.pop(row_id, None)  # it may have had a temporary failure earlier in this run
        else:
            self.unsent[row_id] = (email, outcome, reason)
        self.held = [m for m in self.held if m.id != row_id]
        self.done += 1
        if outcome == "failed":
            self.failed += 1
        self.total = max(self.total, self.done)
        if self.report is not None:
            self.report(SendProgress(done=self.done, total=self.total, sent=self.sent, failed=self.failed,
                                     email=email, outcome=outcome, error=reason))

    def _summary(self) -> SendSummary:
        failed = [(email, reason) for email, outcome, reason in self.unsent.values() if outcome == "failed"]
        skipped = [(email, reason) for email, outcome, reason in self.unsent.values() if outcome == "skipped"]
        if self.batch is not None:
            # A row sent in this run is never `skipped`, so the rows this run touched are all in `unsent`.
            skipped += [(email, reason) for row_id, email, reason in queue.skipped_rows(self.batch)
                        if row_id not in self.unsent]
        return SendSummary(
            sent=self.sent,
            failed=failed,
            retrying=sum(1 for _, outcome, _ in self.unsent.values() if outcome == "retry"),
            skipped=skipped,
            cancelled=self.cancelled,
            error=self.error,
        )


def _record_and_issue(sent_id: int | None, owner: str, issuer: links.LinkIssuer,
                      contact: ContactRow) -> tuple[links.IssuedLink | None, str]:
    """Mark row `sent_id` (if any) sent and issue `contact`'s link, in one transaction
    (`LinkIssuer.issue_at_once`: on a server, one round trip). If the contact changed since the claim read it, the
    link is issued in a second transaction that reads it again (`LinkIssuer.issue`).

    The row is marked last: marking it moves the contact's delivery counters, rows every sender writes, and
    their row locks are held until the commit; taken last, they are held for the shortest time.

    Returns:
        (the link, ''), or (None, why) when the contact cannot have one now (revoked or deleted since the mail was
        queued: not an error, not sent). The row before is recorded as sent either way: issuing wrote nothing.
    """
    also = [queue.mark_sent_statement(sent_id)] if sent_id is not None else []
    link = issuer.issue_at_once(contact, also)
    if link is not None:
        return link, ""
    try:
        return _issue_stored(issuer, contact), ""
    except (AccessRevoked, NotFound) as exc:
        return None, str(exc)


@sender_transaction
def _issue_stored(issuer: links.LinkIssuer, contact: ContactRow) -> links.IssuedLink:
    """`contact`'s link as the stored contact decides (`LinkIssuer.issue`), in a sender transaction."""
    return issuer.issue(contact)


# --- running for good: what `serve` and `outbox send --watch` run ------------------------------------------------

POLL_SECONDS = 2.0
"""How often a long-running sender looks for mail that another process queued (a read of one index)."""

TROUBLE_WAIT_SECONDS = 30.0
"""How long it waits after the mail server or the database failed it, before trying again."""

log = logging.getLogger("mail.outbox")


def run_forever(
    config: MailConfig,
    stop: threading.Event,
    *,
    wake: threading.Event | None = None,
    poll: float = POLL_SECONDS,
    trouble_wait: float = TROUBLE_WAIT_SECONDS,
    report: Callable[[SendSummary], None] | None = None,
) -> None:
    """Send mail as it falls due (new mail, retries whose wait ran out) until `stop` is set.

    Runs on the calling thread with a database connection of its own, and records a heartbeat
    (`models.heartbeat`) so the dashboard can tell that a sender runs. A failure (the mail server down, no domain
    set up, the database busy) is logged and tried again after `trouble_wait`; it never ends the loop.

    Args:
        config: Where mail goes.
        stop: Set it to end the loop; a message being sent is finished, held rows go back to the queue.
        wake: Set it to look at the queue at once (the portal does after queueing a login email); cleared here.
        poll: Seconds between looks at the queue when nothing wakes the loop.
        trouble_wait: Seconds to wait after a failure.
        report: Called with the summary of each pass that sent or settled something.
    """
    wake = wake or stop
    owner = queue.sender_identity()
    last_beat = -math.inf
    with _own_connection():
        while not stop.is_set():
            wait = poll
            trouble = False  # after trouble, mail that is due at once must not make the loop spin
            try:
                if time.monotonic() - last_beat >= heartbeat.BEAT_SECONDS:
                    heartbeat.beat(owner)
                    last_beat = time.monotonic()
                if queue.count_due(None, clock.now()):
                    summary = OutboxSender(config).send(cancel=stop)
                    if report is not None and (summary.sent or summary.failed or summary.skipped or summary.retrying):
                        report(summary)
                    if summary.error:
                        log.warning("mail stays queued: %s", summary.error)
                        wait = trouble_wait
                        trouble = True
                due = None if trouble else queue.next_due_at()
                if due is not None:
                    # A floor, so that a row that stays due without being sendable cannot make the loop spin.
                    wait = min(wait, max(0.05, (due - clock.now()).total_seconds()))
            except Exception as exc:  # noqa: BLE001 -- a sender that runs for good must outlive any one failure
                log.error("the outbox sender failed and tries again in %.0f s: %s", trouble_wait, exc)
                wait = trouble_wait
            if wake.wait(wait) and wake is not stop:
                wake.clear()


class SenderThread(threading.Thread):
    """`run_forever` in a daemon thread, with `wake` and `stop`: the sender inside `client-portal serve`."""

    def __init__(self, config: MailConfig, *, poll: float = POLL_SECONDS,
                 report: Callable[[SendSummary], None] | None = None) -> None:
        super().__init__(name="outbox-sender", daemon=True)
        self.config = config
        self.poll = poll
        self.report = report
        self.stop_event = threading.Event()
        self.wake_event = threading.Event()

    def run(self) -> None:
        run_forever(self.config, self.stop_event, wake=self.wake_event, poll=self.poll, report=self.report)

    def wake(self) -> None:
        """Look at the queue now (something was just queued)."""
        self.wake_event.set()

    def stop(self, timeout: float | None = None) -> None:
        """End the loop after the message being sent, and wait up to `timeout` seconds for it."""
        self.stop_event.set()
        self.wake_event.set()
        if self.is_alive():
            self.join(timeout)


def retry_failed(batch: str | None = None) -> int:
    """Put failed messages (of one batch, or all) back in the queue; returns how many."""
    with _own_connection():
        return queue.retry_failed(batch)


__all__ = ["OutboxSender", "SendProgress", "SendSummary", "SenderThread", "backoff", "retry_failed", "run_forever"]
