"""The outbox sender against a real SMTP server on loopback: what arrives, and every fault the issue lists.

Each test queues mail with the model layer, sends with `OutboxSender` through aiosmtpd (tests/fixtures_smtp.py)
and checks both sides: the messages the server parsed, and the rows left in the outbox.
"""

from __future__ import annotations

import mailbox
import stat
import threading
import time
from datetime import timedelta
from email import policy
from email.parser import BytesParser

import pytest

from mail.outbox import OutboxSender, SendProgress, backoff, retry_failed
from mail.templates import save_template
from models import contacts, links, outbox, portal, settings
from models.entities import MagicLink, OutboxMessage
from models.links import redeem

NASTY_NAME = "[/x] <a@b>\x1b[31m"
"""A name that is markup, HTML and a terminal escape at once (STYLE.md: every test suite meets it)."""


def _queue_login(n: int, prefix: str = "client") -> str:
    ids = [contacts.add_contact(f"{prefix}{i}@example.com", f"First{i}", f"Last{i}").id for i in range(n)]
    return outbox.queue_login_emails(ids).batch


def _rows(batch: str | None = None) -> dict[str, OutboxMessage]:
    query = OutboxMessage.select()
    if batch:
        query = query.where(OutboxMessage.batch == batch)
    return {m.contact.email: m for m in query}


def _link_in(text: str) -> str:
    start = text.index("https://portal.example.com/login/")
    return text[start : start + len("https://portal.example.com/login/") + 43]


def test_a_batch_arrives_over_one_connection_with_both_parts_and_the_link(db, smtp_server, tmp_path):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    contacts.add_contact("nasty@example.com", NASTY_NAME, "<script>alert(1)</script>")
    batch = _queue_login(3)
    queued = outbox.queue_login_emails([contacts.find_contact(a).id for a in ("ada@example.com", "nasty@example.com")],
                                       batch=batch)
    assert len(queued.queued) == 2
    seen: list[SendProgress] = []

    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch, progress=seen.append)

    assert (summary.sent, summary.failed, summary.retrying, summary.skipped) == (5, [], 0, [])
    assert not summary.cancelled and summary.error == ""
    assert [p.done for p in seen] == [1, 2, 3, 4, 5] and {p.total for p in seen} == {5}
    assert {p.outcome for p in seen} == {"sent"}
    handler = smtp_server.handler
    assert handler.connections == 1
    assert len(handler.messages) == 5
    rows = _rows(batch)
    for received in handler.messages:
        msg = received.message
        (rcpt,) = received.rcpt_tos
        assert received.mail_from == "portal@portal.example.com"
        assert msg["From"] == "Your agency <portal@portal.example.com>"
        assert msg["To"].addresses[0].addr_spec == rcpt
        assert msg["Message-ID"] == rows[rcpt].message_id
        assert msg["Subject"] == "Your sign-in link for Your agency's client portal"
        assert msg["Date"].datetime is not None
        assert msg.get_content_type() == "multipart/alternative"
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        assert text.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
        link = _link_in(text.get_content())
        assert f'href="{link}"' in html.get_content()
        assert rows[rcpt].status == "sent" and rows[rcpt].attempts == 1 and rows[rcpt].sent_at is not None
    # The links in the mail are real and live: the one sent to Ada logs her in.
    ada = handler.by_recipient()["ada@example.com"][0].message
    assert redeem(_link_in(ada.get_body(("plain",)).get_content())).contact.email == "ada@example.com"
    # The nasty name reached the header as one display name, no control character, nothing added.
    nasty = handler.by_recipient()["nasty@example.com"][0].message
    assert "\x1b" not in nasty.as_string()
    assert nasty["To"].addresses[0].display_name == "[/x] <a@b>[31m <script>alert(1)</script>"


def test_the_raw_token_never_rests_in_the_database(db, db_path, smtp_server, tmp_path):
    batch = _queue_login(2)
    OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)
    tokens = [_link_in(r.message.get_body(("plain",)).get_content()).rsplit("/", 1)[1]
              for r in smtp_server.handler.messages]
    assert len(tokens) == 2
    db.close()
    for path in db_path.parent.glob("portal.db*"):
        raw = path.read_bytes()
        for token in tokens:
            assert token.encode() not in raw


def test_html_escapes_a_contact_name_while_the_text_part_keeps_it(db, smtp_server, tmp_path):
    save_template("login", html_body='<p>Hi {{ contact.full_name }}</p><a href="{{ link.url }}">Sign in</a>',
                  text_body="Hi {{ contact.full_name }}\n{{ link.url }}\n")
    contacts.add_contact("x@example.com", "<script>alert(1)</script>", "O'Neil & Co")
    batch = outbox.queue_login_emails([contacts.find_contact("x@example.com").id]).batch

    OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)

    msg = smtp_server.handler.messages[0].message
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "Hi &lt;script&gt;alert(1)&lt;/script&gt; O&#39;Neil &amp; Co" in html
    assert msg.get_body(("plain",)).get_content().startswith("Hi <script>alert(1)</script> O'Neil & Co\n")


def test_a_refused_recipient_fails_at_once_with_the_reply_and_the_rest_go(db, smtp_server, tmp_path):
    batch = _queue_login(4)
    smtp_server.handler.reject("client2@example.com", "550 5.1.1 <client2@example.com>: no such user")

    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)

    assert summary.sent == 3 and summary.retrying == 0
    assert summary.failed == [("client2@example.com", "550 5.1.1 <client2@example.com>: no such user")]
    assert sorted(smtp_server.handler.by_recipient()) == ["client0@example.com", "client1@example.com",
                                                          "client3@example.com"]
    assert smtp_server.handler.connections == 1  # a refused RCPT does not cost the connection
    row = _rows(batch)["client2@example.com"]
    assert (row.status, row.attempts) == ("failed", 1)
    assert "550 5.1.1" in row.last_error and "no such user" in row.last_error


@pytest.mark.parametrize("where", ["rcpt-421", "rcpt-451", "data-451"])
def test_temporary_failures_back_off_then_succeed(db, smtp_server, tmp_path, frozen_clock, where):
    batch = _queue_login(3)
    handler = smtp_server.handler
    if where == "data-451":
        handler.fail_data("451 4.3.0 try again later", "451 4.3.0 try again later", rcpt="client0@example.com")
    else:
        code = where.split("-")[1]
        handler.fail_rcpt("client0@example.com", f"{code} 4.7.0 busy, try later", f"{code} 4.7.0 busy, try later")
    sender = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0, max_attempts=5)
    start = frozen_clock[0]

    first = sender.send(batch)
    assert first.retrying == 1 and first.sent == 2 and first.failed == []
    row = _rows(batch)["client0@example.com"]
    assert row.status == "queued" and row.attempts == 1 and row.last_error.startswith(where[-3:])
    assert row.next_attempt_at == start + backoff(1) == start + timedelta(seconds=30)

    assert sender.send(batch).sent == 0  # not due yet: nothing happens
    frozen_clock[0] = start + timedelta(seconds=30)
    second = sender.send(batch)
    assert second.retrying == 1
    row = _rows(batch)["client0@example.com"]
    assert row.attempts == 2 and row.next_attempt_at == frozen_clock[0] + timedelta(seconds=60)

    frozen_clock[0] += timedelta(seconds=60)
    third = sender.send(batch)
    assert third.sent == 1 and third.retrying == 0
    row = _rows(batch)["client0@example.com"]
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, "")
    assert {r: len(m) for r, m in handler.by_recipient().items()} == {f"client{i}@example.com": 1 for i in range(3)}


def test_temporary_failures_give_up_after_max_attempts(db, smtp_server, tmp_path, frozen_clock):
    batch = _queue_login(1)
    smtp_server.handler.fail_rcpt("client0@example.com", *["451 4.7.1 greylisted"] * 5)
    sender = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0, max_attempts=3)
    outcomes = []
    for _ in range(3):
        outcomes.append(sender.send(batch))
        frozen_clock[0] += timedelta(hours=1)
    assert [s.retrying for s in outcomes] == [1, 1, 0]
    assert outcomes[-1].failed == [("client0@example.com", "gave up after 3 attempts: 451 4.7.1 greylisted")]
    assert _rows(batch)["client0@example.com"].status == "failed"
    assert smtp_server.handler.messages == []


def test_a_connection_dropped_mid_data_is_reopened_and_the_batch_completes(db, smtp_server, tmp_path):
    batch = _queue_login(5)
    handler = smtp_server.handler
    handler.wait_for(0)
    sender = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0)
    dropped_once = threading.Event()

    def progress(p: SendProgress) -> None:
        if p.done == 2 and not dropped_once.is_set():
            dropped_once.set()
            handler.drop_data(1)  # the third message's DATA gets no answer, the connection just closes

    summary = sender.send(batch, progress=progress)

    assert handler.dropped == 1
    assert summary.sent == 5 and summary.retrying == 0 and summary.failed == []
    assert handler.connections == 2
    assert sorted(len(m) for m in handler.by_recipient().values()) == [1] * 5
    assert {m.status for m in _rows(batch).values()} == {"sent"}


def test_a_connection_dropped_twice_on_one_message_retries_later(db, smtp_server, tmp_path, frozen_clock):
    batch = _queue_login(3)
    smtp_server.handler.drop_data(2)
    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)
    assert summary.sent == 2 and summary.retrying == 1
    (retrying,) = [m for m in _rows(batch).values() if m.status == "queued"]
    assert "connection was lost" in retrying.last_error
    assert retrying.next_attempt_at == frozen_clock[0] + timedelta(seconds=30)


def test_server_not_listening_keeps_everything_queued_and_says_why(db, closed_port, tmp_path, smtp_server):
    batch = _queue_login(3)
    down = smtp_server.config(tmp_path / "Maildir", port=closed_port)

    summary = OutboxSender(down, rate=0).send(batch)

    assert summary.sent == 0 and summary.failed == [] and summary.retrying == 0
    assert f"127.0.0.1:{closed_port}" in summary.error and "refused" in summary.error.lower()
    assert {(m.status, m.attempts) for m in _rows(batch).values()} == {("queued", 0)}
    # When the server is back, everything goes, once.
    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)
    assert summary.sent == 3
    assert sorted(len(m) for m in smtp_server.handler.by_recipient().values()) == [1, 1, 1]


def test_a_server_that_never_greets_costs_one_timeout(db, silent_listener, tmp_path, smtp_server):
    batch = _queue_login(3)
    _, port = silent_listener
    config = smtp_server.config(tmp_path / "Maildir", port=port, timeout=0.5)

    started = time.monotonic()
    summary = OutboxSender(config, rate=0).send(batch)
    elapsed = time.monotonic() - started

    assert "did not answer within 0.5 s" in summary.error
    assert elapsed < 5  # one timeout (0.5 s), not one per message, and never the 18 s yagmail would sleep
    assert {(m.status, m.attempts) for m in _rows(batch).values()} == {("queued", 0)}


def test_a_server_that_hangs_mid_batch_stops_the_run_in_a_worker_thread(db, smtp_server, tmp_path, frozen_clock):
    batch = _queue_login(4)
    handler = smtp_server.handler
    sender = OutboxSender(smtp_server.config(tmp_path / "Maildir", timeout=0.5), rate=0)
    result: list = []

    def progress(p: SendProgress) -> None:
        if p.done == 1:
            handler.hang()

    # As the dashboard does: the sender in a thread, the main thread free the whole time.
    worker = threading.Thread(target=lambda: result.append(sender.send(batch, progress=progress)))
    worker.start()
    ticks = 0
    while worker.is_alive() and ticks < 200:
        time.sleep(0.05)  # the "UI" keeps running while the worker waits on the server
        ticks += 1
    worker.join(timeout=1)
    assert not worker.is_alive()
    (summary,) = result
    assert summary.sent == 1 and summary.retrying == 1
    assert "did not answer within 0.5 s" in summary.error
    rows = sorted(_rows(batch).values(), key=lambda m: m.id)
    assert [(m.status, m.attempts) for m in rows] == [("sent", 1), ("queued", 1), ("queued", 0), ("queued", 0)]
    assert rows[1].next_attempt_at == frozen_clock[0] + timedelta(seconds=30)
    assert "did not answer" in rows[1].last_error
    # The connection thread-local to the worker was closed; this thread's connection still works.
    assert portal.stats().outbox_queued == 3


def test_cancel_stops_between_messages_and_gives_rows_back(db, smtp_server, tmp_path):
    batch = _queue_login(6)
    cancel = threading.Event()

    def progress(p: SendProgress) -> None:
        if p.done == 2:
            cancel.set()

    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch, progress=progress,
                                                                                   cancel=cancel)

    assert summary.cancelled and summary.sent == 2
    assert len(smtp_server.handler.messages) == 2
    statuses = sorted((m.status, m.attempts) for m in _rows(batch).values())
    assert statuses == [("queued", 0)] * 4 + [("sent", 1)] * 2


def test_the_rate_limit_spaces_messages(db, smtp_server, tmp_path):
    batch = _queue_login(5)
    started = time.monotonic()
    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=20).send(batch)
    assert summary.sent == 5
    assert time.monotonic() - started >= 4 / 20  # five messages at 20/s: at least four gaps of 50 ms


def test_the_rate_and_attempts_default_to_the_settings(db, smtp_server, tmp_path, frozen_clock):
    settings.set_value("send_rate", "1000")
    settings.set_value("max_attempts", "1")
    batch = _queue_login(1)
    smtp_server.handler.fail_rcpt("client0@example.com", "451 4.3.0 later")
    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir")).send(batch)
    assert summary.failed == [("client0@example.com", "gave up after 1 attempt: 451 4.3.0 later")]


def test_revoked_contacts_are_skipped_not_sent(db, smtp_server, tmp_path):
    batch = _queue_login(4)
    links.revoke_access("client1@example.com")  # marks its queued row skipped at once
    # A revocation that lands while the row is being claimed is caught at claim time too.
    contact = contacts.find_contact("client2@example.com")
    from models.entities import Contact

    Contact.update(status="revoked").where(Contact.id == contact.id).execute()

    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)

    assert summary.sent == 2
    assert sorted(summary.skipped) == [("client1@example.com", "access revoked"),
                                       ("client2@example.com", "access revoked")]
    assert sorted(smtp_server.handler.by_recipient()) == ["client0@example.com", "client3@example.com"]
    assert _rows(batch)["client2@example.com"].status == "skipped"


def test_a_stale_claim_of_a_dead_sender_is_resent_with_the_same_message_id(db, smtp_server, tmp_path, frozen_clock):
    import subprocess
    import sys

    batch = _queue_login(3)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid is free, exactly what a kill -9 leaves behind
    rows = sorted(_rows(batch).values(), key=lambda m: m.id)
    host = outbox.sender_identity().rsplit(":", 1)[0]
    OutboxMessage.update(status="sending", claimed_by=f"{host}:{dead.pid}", claimed_at=frozen_clock[0],
                         attempts=1).where(OutboxMessage.id == rows[0].id).execute()
    # Another, living sender's fresh claim is left alone until its lease runs out.
    OutboxMessage.update(status="sending", claimed_by="elsewhere.example:4242", claimed_at=frozen_clock[0],
                         attempts=1).where(OutboxMessage.id == rows[1].id).execute()
    sender = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0)

    first = sender.send(batch)
    assert first.sent == 2
    received = smtp_server.handler.by_recipient()
    assert received[rows[0].contact.email][0].message["Message-ID"] == rows[0].message_id
    assert rows[1].contact.email not in received

    frozen_clock[0] += outbox.LEASE + timedelta(seconds=1)
    assert sender.send(batch).sent == 1
    again = smtp_server.handler.by_recipient()[rows[1].contact.email]
    assert [r.message["Message-ID"] for r in again] == [rows[1].message_id]
    assert OutboxMessage.get_by_id(rows[1].id).attempts == 2


def test_a_message_that_keeps_killing_its_sender_fails_after_max_attempts(db, smtp_server, tmp_path, frozen_clock):
    batch = _queue_login(1)
    OutboxMessage.update(status="sending", claimed_by="elsewhere.example:1", claimed_at=frozen_clock[0] - outbox.LEASE,
                         attempts=3).execute()
    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0, max_attempts=3).send(batch)
    assert summary.failed and "gave up after 3 attempts" in summary.failed[0][1]
    assert smtp_server.handler.messages == []


def test_two_senders_at_once_never_send_a_row_twice(db, smtp_server, tmp_path):
    batch = _queue_login(80)
    config = smtp_server.config(tmp_path / "Maildir")
    results: list = []
    errors: list = []

    def run() -> None:
        try:
            results.append(OutboxSender(config, rate=0).send(batch))
        except Exception as exc:  # surfaced below: a "database is locked" would land here
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sum(r.sent for r in results) == 80
    counts = {rcpt: len(m) for rcpt, m in smtp_server.handler.by_recipient().items()}
    assert len(counts) == 80 and set(counts.values()) == {1}
    assert {m.status for m in _rows(batch).values()} == {"sent"}


def test_retry_failed_requeues_with_the_same_message_id(db, smtp_server, tmp_path):
    batch = _queue_login(2)
    smtp_server.handler.fail_rcpt("client1@example.com", "554 5.7.1 blocked for now")
    sender = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0)
    assert sender.send(batch).failed
    failed = _rows(batch)["client1@example.com"]

    assert retry_failed(batch) == 1
    row = _rows(batch)["client1@example.com"]
    assert (row.status, row.attempts) == ("queued", 0)
    assert sender.send(batch).sent == 1
    (received,) = smtp_server.handler.by_recipient()["client1@example.com"]
    assert received.message["Message-ID"] == failed.message_id
    assert retry_failed() == 0


def test_once_sends_only_what_was_due_when_it_started(db, smtp_server, tmp_path):
    batch = _queue_login(3)
    late: list[str] = []

    def progress(p: SendProgress) -> None:
        if not late:
            late.append(outbox.queue_login_emails([contacts.add_contact("late@example.com").id], batch=batch).batch)

    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch, progress=progress,
                                                                                   once=True)
    assert summary.sent == 3
    assert _rows(batch)["late@example.com"].status == "queued"


def test_a_stored_template_is_used_when_sending(db, smtp_server, tmp_path):
    save_template("invite", subject="Welcome aboard, {{ contact.first_name }}")
    result = portal.invite(["grace@example.com"], first_name="Grace")
    OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(result.batch)
    (received,) = smtp_server.handler.messages
    assert received.message["Subject"] == "Welcome aboard, Grace"
    assert "invited you" in received.message.get_body(("plain",)).get_content()
    link = MagicLink.get()
    assert link.purpose == "invite"


def test_mail_from_setting_and_agency_name(db, smtp_server, tmp_path):
    settings.set_value("agency_name", "Hopper & Co")
    batch = _queue_login(1)
    OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)
    sender = smtp_server.handler.messages[0].message["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Hopper & Co", "portal@portal.example.com")

    batch = _queue_login(1, prefix="other")
    config = smtp_server.config(tmp_path / "Maildir", mail_from="Support <help@agency.example>")
    OutboxSender(config, rate=0).send(batch)
    last = smtp_server.handler.messages[-1]
    assert last.message["From"] == "Support <help@agency.example>" and last.mail_from == "help@agency.example"


def test_nothing_reaches_the_terminal_while_sending(db, smtp_server, tmp_path, closed_port, capfd):
    batch = _queue_login(2)
    OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)
    OutboxSender(smtp_server.config(tmp_path / "Maildir", port=closed_port), rate=0).send()
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_without_smtp_mail_lands_in_a_private_maildir(db, tmp_path, frozen_clock):
    from mail.config import MailConfig

    batch = _queue_login(3)
    config = MailConfig.from_env(tmp_path, {})
    assert not config.uses_smtp

    summary = OutboxSender(config).send(batch)

    assert summary.sent == 3
    assert stat.S_IMODE(config.maildir.stat().st_mode) == 0o700
    box = mailbox.Maildir(config.maildir, create=False)
    parsed = [BytesParser(policy=policy.default).parsebytes(box.get_bytes(key)) for key in box.keys()]  # noqa: SIM118 (a Maildir, not a dict)
    assert sorted(m["To"].addresses[0].addr_spec for m in parsed) == [f"client{i}@example.com" for i in range(3)]
    rows = _rows(batch)
    for msg in parsed:
        assert msg["Message-ID"] == rows[msg["To"].addresses[0].addr_spec].message_id
        link = _link_in(msg.get_body(("plain",)).get_content())
        assert link in msg.get_body(("html",)).get_content()


def test_an_internationalised_address_needs_smtputf8_or_fails_for_good(db, smtp_server, tmp_path):
    from tests.fixtures_smtp import start_server

    jose = contacts.add_contact("josé@example.com", "José")
    batch = outbox.queue_login_emails([jose.id]).batch
    assert OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch).sent == 1
    (received,) = smtp_server.handler.messages
    assert received.rcpt_tos == ("josé@example.com",)
    assert received.message["To"].addresses[0].addr_spec == "josé@example.com"

    controller, plain = start_server(enable_SMTPUTF8=False)
    try:
        zoe = contacts.add_contact("zoë@example.com")
        batch = outbox.queue_login_emails([zoe.id]).batch
        summary = OutboxSender(plain.config(tmp_path / "Maildir"), rate=0).send(batch)
    finally:
        controller.stop()
    ((address, reason),) = summary.failed
    assert address == "zoë@example.com" and "SMTPUTF8" in reason
    assert _rows(batch)["zoë@example.com"].status == "failed"
