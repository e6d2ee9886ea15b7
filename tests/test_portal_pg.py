"""The portal on PostgreSQL: its database thread's group commit, and the whole service end to end on real uvicorn
(confirm page, one-time code exchanged once, the link's replay refused, a lost link asked for and emailed by the
service's own sender). The rest of the portal's tests that differ by engine run on both through
`tests/conftest.py`'s BOTH_ENGINES_TESTS."""

from __future__ import annotations

import re
import threading
import time

import httpx
import pytest

from models import api_keys, contacts, settings
from models.errors import InvalidInput, NotFound
from portal.app import BAD_LINK_STATUS
from portal.serve import bound_port, build_server
from tests.portal_support import csrf_of, invited, portal  # noqa: F401 -- fixture
from tests.test_portal_dbthread import _queued_together

BOTH = pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
POSTGRES = pytest.mark.parametrize("engine", ["postgres"], indirect=True)


@BOTH
def test_a_failing_job_in_a_group_undoes_only_itself_and_runs_nothing_twice(portal):
    calls: list[str] = []

    def job(name: str, fails: bool = False):
        def run() -> str:
            calls.append(name)
            contacts.add_contact(f"{name}@example.com")  # a write inside the group's transaction
            if fails:
                raise InvalidInput(f"{name} fails after its write")
            return name
        return run

    pool = portal.app.state.portal.pool
    answers = _queued_together(pool, [(job("a"), True), (job("b", fails=True), True), (job("c"), True)])
    assert answers[0] == "a" and answers[2] == "c" and isinstance(answers[1], InvalidInput)
    assert calls == ["a", "b", "c"]  # the group's transaction survived b's failure: nothing ran again
    assert [contacts.find_contact(f"{n}@example.com").email for n in "ac"] == ["a@example.com", "c@example.com"]
    with pytest.raises(NotFound):
        contacts.find_contact("b@example.com")  # b's savepoint undone: its write is gone


def _link_in(message) -> str:
    text = message.get_body(("plain",)).get_content()
    found = re.search(r"https://portal\.example\.com/login/([A-Za-z0-9_-]{43})", text)
    assert found, text
    return found.group(1)


@POSTGRES
def test_the_service_on_real_uvicorn_end_to_end(db, db_path, smtp_server, tmp_path):
    settings.set_value("portal_callback_url", "http://127.0.0.1:9/auth/callback")
    key = api_keys.create_key("agency-portal").key
    link = invited(first_name="Ada")
    server = build_server(db_path, host="127.0.0.1", port=0, run_sender=True,
                          mail_config=smtp_server.config(tmp_path / "Maildir"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        base = f"http://127.0.0.1:{bound_port(server)}"
        with httpx.Client(base_url=base, timeout=15) as client:

            forms: dict[str, str] = {}

            def confirm(token: str) -> str:
                page = client.get(f"/login/{token}")
                assert page.status_code == 200 and "Ada" in page.text
                forms[token] = csrf_of(page.text)
                done = client.post(f"/login/{token}", data={"csrf": forms[token]}, headers={"origin": base})
                assert done.status_code == 303, done.text
                assert token not in done.headers["location"]
                return done.headers["location"].split("?code=")[1]

            def exchange(code: str) -> httpx.Response:
                return client.post("/api/v1/exchange", json={"code": code},
                                   headers={"authorization": f"Bearer {key}"})

            code = confirm(link.token)
            first = exchange(code)
            assert first.status_code == 200, first.text
            assert first.json()["contact"]["email"] == "ada@example.com" and first.json()["purpose"] == "invite"
            again = exchange(code)
            assert again.status_code == 400 and again.json()["error"] == "invalid_grant"  # one time only

            page = client.get(f"/login/{link.token}")  # the used link, opened again
            assert page.status_code == BAD_LINK_STATUS and "This link no longer works" in page.text
            replay = client.post(f"/login/{link.token}", data={"csrf": forms[link.token]}, headers={"origin": base})
            assert replay.status_code == BAD_LINK_STATUS and "location" not in replay.headers  # no second code

            asked = client.post("/login", data={"email": "ada@example.com"}, headers={"origin": base})
            assert asked.status_code == 200
            # The service's own sender sends the invitation queued earlier, then the link asked for, at once.
            assert smtp_server.handler.wait_for(2, timeout=30), "the sender did not send the requested link"
            [mail] = [m.message for m in smtp_server.handler.messages
                      if m.message["Subject"].startswith("Your sign-in")]
            login_code = confirm(_link_in(mail))
            assert exchange(login_code).json()["purpose"] == "login"
    finally:
        server.should_exit = True
        thread.join(30)
    assert not thread.is_alive()
    assert contacts.find_contact("ada@example.com").status == "joined"
