"""The long-running sender (`mail.outbox.run_forever`, inside `serve` and `outbox send --watch`): it outlives a mail
server that is down, sends once the server is back, wakes at once when asked, and records a heartbeat."""

from __future__ import annotations

import threading
import time

from mail.outbox import SenderThread, run_forever
from models import heartbeat, outbox
from tests.fixtures_smtp import HOST, RecordingHandler, _Controller
from tests.portal_support import invited


def test_the_loop_outlives_a_mail_server_that_is_down_and_sends_when_it_is_back(db, closed_port, smtp_server, tmp_path):
    invited("ada@example.com")  # queues the invitation
    config = smtp_server.config(tmp_path / "Maildir", port=closed_port)
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(config, stop),
                              kwargs={"poll": 0.1, "trouble_wait": 0.3}, daemon=True)
    thread.start()
    try:
        time.sleep(1.0)  # a few refused connections
        assert thread.is_alive()
        counts = outbox.outbox_counts()  # still waiting (or claimed for the next attempt at this very moment)
        assert counts["queued"] + counts["sending"] == 1 and counts["sent"] == counts["failed"] == 0, counts
        handler = RecordingHandler()
        controller = _Controller(handler, hostname=HOST, port=closed_port, ready_timeout=10, server_hostname="mx.test")
        controller.start()
        try:
            assert handler.wait_for(1, timeout=20), "the loop did not send once the server was back"
        finally:
            controller.stop()
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert outbox.outbox_counts()["sent"] == 1
    assert heartbeat.sender_running()


def test_wake_sends_at_once_without_waiting_for_the_poll(db, smtp_server, tmp_path):
    sender = SenderThread(smtp_server.config(tmp_path / "Maildir"), poll=60)
    sender.start()
    try:
        deadline = time.monotonic() + 10
        while heartbeat.last_beat() is None and time.monotonic() < deadline:
            time.sleep(0.02)  # the first look at the (empty) queue is done; the next is a minute away
        assert heartbeat.last_beat() is not None
        time.sleep(0.3)  # past its look at the queue, into the wait
        invited("ada@example.com")
        sender.wake()
        assert smtp_server.handler.wait_for(1, timeout=20), "wake() did not make the sender look at the queue"
    finally:
        sender.stop(timeout=10)
    assert not sender.is_alive()


def test_stop_ends_the_loop_promptly_while_it_waits(db, smtp_server, tmp_path):
    sender = SenderThread(smtp_server.config(tmp_path / "Maildir"), poll=600)
    sender.start()
    time.sleep(0.3)
    started = time.monotonic()
    sender.stop(timeout=10)
    assert not sender.is_alive() and time.monotonic() - started < 5
