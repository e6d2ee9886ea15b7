"""The portal's database thread and its group commit: confirmations waiting together share one COMMIT, and each
stays atomic and single use on its own (a real app, a real SQLite file; the thread is held up on purpose so that
the jobs are queued together, which is what a burst of clicks does)."""

from __future__ import annotations

import asyncio
import threading

from models import audit, contacts, links
from models.db import database
from models.entities import MagicLink
from portal.app import DatabaseThread
from tests.portal_support import csrf_of, invited, portal  # noqa: F401 -- fixture


def _queued_together(pool: DatabaseThread, jobs: list) -> list:
    """Run `jobs` ((func, grouped) pairs) queued behind a job that holds the thread up, so that they are taken from
    the queue together; the answers (or the exceptions) in order."""
    release = threading.Event()

    async def main() -> list:
        blocker = pool.run(lambda: release.wait(10))
        futures = [pool.run(func, grouped=grouped) for func, grouped in jobs]
        release.set()
        await blocker
        return await asyncio.gather(*futures, return_exceptions=True)

    return asyncio.run(main())


def _confirm_job(portal, token: str, csrf: str):
    return lambda: portal.app.state.portal._confirm(token, csrf, "127.0.0.1")


def _used(token: str) -> bool:
    return MagicLink.get(MagicLink.token_hash == links.hash_token(token)).used_at is not None


def test_confirmations_queued_together_share_a_commit_and_a_bad_one_undoes_only_itself(portal):
    good = [invited(f"c{i}@example.com", first_name=f"C{i}") for i in range(3)]
    revoked = invited("gone@example.com", first_name="Gone")
    forms = {link.token: csrf_of(portal.client.get(f"/login/{link.token}").text) for link in [*good, revoked]}
    # The link stays open but its contact is revoked: that confirmation fails after its claim, inside the group.
    database.execute_sql("UPDATE contact SET status = 'revoked' WHERE email = 'gone@example.com'")
    order = [good[0], revoked, good[1], good[0], good[2]]  # good[0] twice: single use inside one group too
    pool = portal.app.state.portal.pool
    answers = _queued_together(pool, [(_confirm_job(portal, link.token, forms[link.token]), True) for link in order])
    assert [answer[0] for answer in answers] == ["signed_in", "bad", "signed_in", "bad", "signed_in"]
    assert answers[1][2] == "revoked" and answers[3][2] == "used"
    assert all(_used(link.token) for link in good) and not _used(revoked.token)
    assert [contacts.find_contact(f"c{i}@example.com").status for i in range(3)] == ["joined"] * 3
    assert contacts.find_contact("gone@example.com").joined_at is None
    confirmed = sorted(row.subject for row in audit.recent(1000) if row.action == "portal.confirm")
    assert confirmed == ["c0@example.com", "c1@example.com", "c2@example.com"]


def test_a_group_whose_transaction_is_lost_runs_each_job_again_on_its_own(portal):
    # One job ends the group's transaction behind its back (as SQLite does on a full disk): nothing of the group
    # landed, so every job runs again through its own transaction, and the confirmations still land, once each.
    first, second = invited("a@example.com", first_name="A"), invited("b@example.com", first_name="B")
    forms = {link.token: csrf_of(portal.client.get(f"/login/{link.token}").text) for link in (first, second)}

    def ends_the_transaction():
        database.execute_sql("ROLLBACK")
        return "rolled back"

    pool = portal.app.state.portal.pool
    answers = _queued_together(pool, [(_confirm_job(portal, first.token, forms[first.token]), True),
                                      (ends_the_transaction, True),
                                      (_confirm_job(portal, second.token, forms[second.token]), True)])
    assert answers[0][0] == "signed_in" and answers[2][0] == "signed_in"
    assert isinstance(answers[1], Exception) and "no transaction is active" in str(answers[1])
    assert _used(first.token) and _used(second.token)
    assert sum(row.action == "portal.confirm" for row in audit.recent(1000)) == 2
    assert not database.in_transaction()


def test_jobs_of_other_loops_and_threads_get_their_own_answers(portal):
    # The test client runs the app on a loop of its own; a second one here, and a plain thread: each gets its own.
    pool = portal.app.state.portal.pool
    assert pool.call(lambda: 6 * 7) == 42
    assert _queued_together(pool, [(lambda: "a", False), (lambda: 1 / 0, False), (lambda: "c", False)])[::2] == [
        "a", "c"]
    assert portal.client.get("/healthz").text == "ok"
