"""Several outbox senders at once on one PostgreSQL server, each on a connection of its own.

The sender's transactions take the write lock in shared mode (`models.db.sender_transaction`), so senders no
longer wait for one another; every other write still takes it exclusively. These tests hold that to its promises
against a real server and a real aiosmtpd: four senders send every message exactly once, a revoke racing them
wins (no link is issued to a revoked contact after the revoke, and every email that reached them carries a dead
link), the counts the triggers keep equal a recount afterwards; and, step by step, the three places where two
senders could meet: a revoke waits for a sender's transaction (and the senders not for each other), an abandoned
row taken over by one sender is not taken by another at the same time, and two links for one contact are issued
one after the other.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from mail.outbox import OutboxSender
from models import links, outbox, portal
from models.backends.postgres import PostgresBackend, schema
from models.backends.postgres.database import take_write_lock
from models.db import backend, database, open_database
from models.entities import OUTBOX_SENDING, AuditEntry, Contact, MagicLink, OutboxMessage
from tests.fixtures_pg import in_thread

SENDERS = 4
MESSAGES = 80
CHUNK = 5
"""Rows a sender claims at once here (50 in use): small, so the four senders claim again and again side by side."""


@pytest.fixture
def pg_db(pg_url: str, monkeypatch):
    """A fresh database on the tests' server, opened as the shared database, with a portal domain."""
    from models import domains

    monkeypatch.setattr("mail.outbox.MAX_CHUNK", CHUNK)
    monkeypatch.setenv("CLIENT_PORTAL_DB", pg_url)
    open_database(pg_url)
    domains.add_domain("portal.example.com")
    yield pg_url
    engine = backend()
    if isinstance(engine, PostgresBackend):
        engine.close()
    database.close()


def _joined(*pairs: tuple[threading.Thread, dict]) -> list:
    values = []
    for thread, box in pairs:
        thread.join(120)
        assert not thread.is_alive(), "a thread did not finish"
        assert "error" not in box, repr(box.get("error"))
        values.append(box.get("value"))
    return values


def _invite(n: int) -> list[str]:
    """`n` contacts invited, one invitation email each queued; one of them with a name that is markup."""
    addresses = [f"client{i}@example.com" for i in range(n)]
    portal.invite(addresses)
    Contact.update(first_name="[/x] <a@b>\x1b[31m").where(Contact.email == addresses[0]).execute()
    return addresses


def _send(config, name: str, start: threading.Barrier):
    """One sender on this thread: waits for the others, then sends until nothing is due."""
    sender = OutboxSender(config, rate=0)
    sender.owner = f"{sender.owner}-{name}"  # a claimer of its own, as a process on another host would be
    start.wait(60)
    return sender.send()


def _count_tables() -> dict[str, dict]:
    tables = {}
    for table in ("contact_status_count", "invite_expiry_count", "invite_delivery_count"):
        rows = database.execute_sql(f"SELECT * FROM {table}").fetchall()
        tables[table] = {key: n for key, n in rows if n}
    return tables


def _assert_counts_are_a_recount() -> None:
    kept = _count_tables()
    with database.atomic() as txn:
        schema.recount(database)
        recounted = _count_tables()
        txn.rollback()
    assert kept == recounted


def _token(message) -> str:
    body = message.get_body(("plain",)).get_content()
    url = re.search(r"https?://\S+/login/\S+", body).group(0)
    return links.extract_token(url)


def _one_open_link_each() -> None:
    """No contact holds two open links of one purpose and channel (each new one superseded the one before)."""
    rows = database.execute_sql(
        "SELECT contact_id, purpose, channel, COUNT(*) FROM magic_link WHERE used_at IS NULL AND revoked_at IS NULL "
        "AND superseded_at IS NULL GROUP BY contact_id, purpose, channel HAVING COUNT(*) > 1").fetchall()
    assert rows == []


def test_four_senders_send_every_message_exactly_once(pg_db, smtp_server, tmp_path):
    addresses = _invite(MESSAGES)
    config = smtp_server.config(tmp_path / "Maildir")
    start = threading.Barrier(SENDERS)
    summaries = _joined(*(in_thread(_send, config, f"s{n}", start) for n in range(SENDERS)))

    received = smtp_server.handler.messages
    ids = [item.message["Message-ID"] for item in received]
    assert len(ids) == MESSAGES and len(set(ids)) == MESSAGES
    assert set(ids) == {m.message_id for m in OutboxMessage.select()}
    assert sorted(rcpt for item in received for rcpt in item.rcpt_tos) == sorted(addresses)
    assert sum(summary.sent for summary in summaries) == MESSAGES
    assert all(not summary.failed and not summary.error for summary in summaries)
    assert {m.status for m in OutboxMessage.select()} == {"sent"}
    # Each email carries the contact's one open invitation link.
    for item in received:
        link = MagicLink.get(MagicLink.token_hash == links.hash_token(_token(item.message)))
        assert link.contact.email == item.rcpt_tos[0]
        assert link.revoked_at is None and link.superseded_at is None
    _one_open_link_each()
    _assert_counts_are_a_recount()
    assert portal.stats().as_dict()["outbox_queued"] == 0


def test_a_revoke_racing_the_senders_wins(pg_db, smtp_server, tmp_path):
    addresses = _invite(MESSAGES)
    revoked = addresses[MESSAGES // 2:]  # the later half: sent last, so the revokes meet mail queued and in flight
    config = smtp_server.config(tmp_path / "Maildir")
    start = threading.Barrier(SENDERS + 1)

    def revoker() -> None:
        start.wait(60)
        assert smtp_server.handler.wait_for(5, timeout=60)  # the senders are under way
        for address in reversed(revoked):
            links.revoke_access(address)

    pairs = [in_thread(_send, config, f"s{n}", start) for n in range(SENDERS)]
    _joined(in_thread(revoker), *pairs)

    received = smtp_server.handler.messages
    ids = [item.message["Message-ID"] for item in received]
    assert len(ids) == len(set(ids))  # nothing twice
    by_address = smtp_server.handler.by_recipient()
    for address in addresses[: MESSAGES // 2]:
        assert len(by_address.get(address, [])) == 1, address
    for address in revoked:
        contact = Contact.get(Contact.email == address)
        assert contact.status == "revoked"
        # No link was issued to them after their revoke committed: every one is audited before it.
        revoke_entry = AuditEntry.get((AuditEntry.contact == contact) & (AuditEntry.action == "revoke"))
        issued = AuditEntry.select().where((AuditEntry.contact == contact) & AuditEntry.action.startswith("link."))
        assert all(entry.id < revoke_entry.id for entry in issued)
        # Every email that reached them carries a link the revoke killed.
        for item in by_address.get(address, []):
            link = MagicLink.get(MagicLink.token_hash == links.hash_token(_token(item.message)))
            assert link.contact_id == contact.id and link.revoked_at is not None
        assert not MagicLink.select().where((MagicLink.contact == contact) & MagicLink.revoked_at.is_null()
                                            & MagicLink.superseded_at.is_null() & MagicLink.used_at.is_null()).exists()
        rows = list(OutboxMessage.select().where(OutboxMessage.contact == contact))
        assert len(rows) == 1 and rows[0].status in ("sent", "skipped")
        assert (rows[0].status == "sent") == bool(by_address.get(address))
    assert {m.status for m in OutboxMessage.select()} <= {"sent", "skipped"}
    _one_open_link_each()
    _assert_counts_are_a_recount()


def _waiting_for_a_lock(pid: int) -> bool:
    row = database.execute_sql("SELECT wait_event_type FROM pg_stat_activity WHERE pid = ?", (pid,)).fetchone()
    return row is not None and row[0] == "Lock"


def _wait_until(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def _held_sender_transaction(work, holding: threading.Event, release: threading.Event):
    """A thread's sender transaction that runs `work`, then holds its locks until `release`."""

    def run():
        with database.atomic():
            take_write_lock(database, shared=True)
            value = work()
            holding.set()
            assert release.wait(60)
            return value

    return in_thread(run)


def test_senders_do_not_wait_for_each_other_and_a_revoke_waits_for_them(pg_db):
    addresses = _invite(4)
    holding, release = threading.Event(), threading.Event()
    first = _held_sender_transaction(lambda: outbox.claim_due("a:1", 2, batch=None, due_by=_now(), max_attempts=5),
                                     holding, release)
    assert holding.wait(60)
    second = in_thread(lambda: outbox.claim_due("b:2", 2, batch=None, due_by=_now(), max_attempts=5))
    second[0].join(60)
    finished_while_held = not second[0].is_alive()

    pid: dict = {}

    def revoke():
        pid["value"] = database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        return links.revoke_access(addresses[0])

    revoker = in_thread(revoke)
    waited = _wait_until(lambda: "value" in pid and _waiting_for_a_lock(pid["value"]))
    revoked_while_held = not revoker[0].is_alive()
    release.set()
    first_claim, second_claim_value, _ = _joined(first, second, revoker)
    assert finished_while_held  # the second sender's claim did not wait for the first's transaction
    assert waited and not revoked_while_held  # the revoke did wait for it
    assert {m.id for m in first_claim.messages}.isdisjoint(m.id for m in second_claim_value.messages)
    assert len(first_claim.messages) == len(second_claim_value.messages) == 2


def _now():
    from models import clock

    return clock.now()


def test_a_row_abandoned_by_a_dead_sender_is_taken_over_by_one_sender_only(pg_db):
    from models import clock

    _invite(1)
    row = OutboxMessage.get()
    # Claimed by a sender on another host whose lease ran out long ago: whoever claims next takes it over.
    OutboxMessage.update(status=OUTBOX_SENDING, claimed_by="gone-host:1", claimed_at=clock.now() - outbox.LEASE * 3,
                         attempts=1).where(OutboxMessage.id == row.id).execute()
    holding, release = threading.Event(), threading.Event()
    first = _held_sender_transaction(lambda: outbox.claim_due("a:1", 5, batch=None, due_by=_now(), max_attempts=5),
                                     holding, release)
    assert holding.wait(60)
    second = in_thread(lambda: outbox.claim_due("b:2", 5, batch=None, due_by=_now(), max_attempts=5))
    second[0].join(60)
    release.set()
    first_claim, second_claim = _joined(first, second)
    assert [m.id for m in first_claim.messages] == [row.id] and first_claim.messages[0].reclaimed
    assert not second_claim  # it passed the row over while the first held it
    third = outbox.claim_due("c:3", 5, batch=None, due_by=_now(), max_attempts=5)
    assert not third  # and, once the first committed, saw it taken
    assert OutboxMessage.get_by_id(row.id).claimed_by == "a:1"


def test_two_senders_issuing_links_to_one_contact_supersede_in_turn(pg_db):
    from mail.outbox import _record_and_issue
    from models.contacts import to_row

    _invite(1)
    contact = to_row(Contact.get())
    issuer = links.LinkIssuer("invite")
    holding, release = threading.Event(), threading.Event()
    first = _held_sender_transaction(lambda: issuer.issue(contact), holding, release)
    assert holding.wait(60)
    pid: dict = {}

    def second_issue():
        pid["value"] = database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        return _record_and_issue(None, "b:2", links.LinkIssuer("invite"), contact)

    second = in_thread(second_issue)
    # The second waits for the contact's row (or, without that lock, finishes at once with a second open link).
    assert _wait_until(lambda: not second[0].is_alive() or ("value" in pid and _waiting_for_a_lock(pid["value"])))
    release.set()
    first_link, (second_link, reason) = _joined(first, second)
    assert reason == "" and second_link is not None
    stored = {row.token_hash: row for row in MagicLink.select().where(MagicLink.contact == contact.id)}
    assert stored[links.hash_token(first_link.token)].superseded_at is not None
    assert stored[links.hash_token(second_link.token)].superseded_at is None
    _one_open_link_each()
    _assert_counts_are_a_recount()
