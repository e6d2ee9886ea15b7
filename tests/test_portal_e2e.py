"""The whole loop, end to end, with nothing stood in for: an invitation read from the Maildir, a mail scanner
fetching the link first, a real Chromium opening it and clicking the button, and an agency portal exchanging the
code.

`client-portal serve` runs as its own process on a real uvicorn (a free loopback port), the fake agency portal
(`tests/portal_fake.py`) on another, and every admin step is the real `client-portal` command. Links point at
the served address because the database's selected domain is the loopback `127.0.0.1:<port>`, which
`models.domains` serves as plain http (tested here too).
"""

from __future__ import annotations

import email
import json
import mailbox
import os
import re
import signal
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import httpx
import pytest

from models import domains
from models.errors import InvalidInput
from portal.app import BAD_LINK_STATUS
from tests.fixtures_browser import free_port
from tests.portal_fake import CALLBACK_PATH, create_fake_portal, serve_in_thread

ROOT = Path(__file__).resolve().parent.parent
NO_LONGER_WORKS = "no longer works"
"""What the one page for every bad link says."""


# --- links on a loopback address (no browser needed) ------------------------------------------------------------


@pytest.mark.parametrize(
    "given,expected",
    [("127.0.0.1:8080", "127.0.0.1:8080"), ("http://127.0.0.1:8080/", "127.0.0.1:8080"),
     ("LOCALHOST:9000", "localhost:9000"), ("[::1]:8443", "[::1]:8443"), ("127.1.2.3:08080", "127.1.2.3:8080")],
)
def test_loopback_address_with_port_is_a_domain(given, expected):
    assert domains.normalize_domain(given) == expected
    assert domains.is_loopback(expected)


@pytest.mark.parametrize("bad", ["127.0.0.1:0", "127.0.0.1:65536", "127.0.0.256:80", "10.0.0.1:80",
                                 "evil.com:8080", "localhost", "127.0.0.1", "localhost:80/x", "user@127.0.0.1:80",
                                 "127.0.0.1:80\r\nX: y"])
def test_other_hosts_with_ports_are_still_refused(bad):
    with pytest.raises(InvalidInput):
        domains.normalize_domain(bad)


def test_links_on_a_selected_loopback_domain_are_http(db):
    domains.add_domain("127.0.0.1:8080", select=True)
    assert domains.portal_url() == "http://127.0.0.1:8080/"
    from models.links import issue_link

    from models import contacts

    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    assert re.fullmatch(r"http://127\.0\.0\.1:8080/login/[A-Za-z0-9_-]{43}", issue_link("ada@example.com").url)
    domains.select_domain(None)
    assert domains.portal_url() == "https://portal.example.com/"


def test_a_loopback_address_never_becomes_the_default_domain(db_path):
    # Mail is sent from the default domain: `portal@127.0.0.1:8080` is no address, so refuse it with the fix.
    with pytest.raises(InvalidInput, match="add your real domain first"):
        domains.add_domain("127.0.0.1:8080")
    assert domains.list_domains() == []
    domains.add_domain("portal.example.com")
    with pytest.raises(InvalidInput, match="loopback"):
        domains.add_domain("127.0.0.1:8080", default=True)
    domains.add_domain("127.0.0.1:8080")
    with pytest.raises(InvalidInput, match="loopback"):
        domains.set_default("127.0.0.1:8080")
    assert domains.default_domain() == "portal.example.com"


def test_demo_links_point_at_the_local_portal_service(db_path):
    # An older demo database (only its default domain) gets the local address selected when the demo opens it.
    from models import demo

    demo.seed(5)
    demo.ensure_demo()
    assert domains.portal_url() == f"http://{demo.DEMO_PORTAL}/"
    assert domains.default_domain() == demo.DEMO_DOMAIN
    # A choice made later in the demo is left alone.
    domains.select_domain(None)
    demo.ensure_demo()
    assert domains.portal_url() == f"https://{demo.DEMO_DOMAIN}/"


def test_demo_command_prints_local_links(tmp_path, monkeypatch):
    # The demo's own folder, wherever it lives, is under tmp_path here: never the real user's.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("CLIENT_PORTAL_DB", raising=False)

    def demo(*args: str) -> str:
        out = subprocess.run([sys.executable, "-c", "from tui.cli import main; main()", "--demo", *args],
                             capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert demo("url").strip() == "http://127.0.0.1:8080/"
    invited = json.loads(demo("contacts", "list", "--status", "invited", "--json", "--limit", "1"))["contacts"][0]
    link = json.loads(demo("magic-link", invited["email"], "--json"))["url"]
    assert re.fullmatch(r"http://127\.0\.0\.1:8080/login/[A-Za-z0-9_-]{43}", link)


# --- the browser fixture --------------------------------------------------------------------------------------------


def test_asyncio_works_in_the_next_module_after_a_browser_test(tmp_path):
    # Playwright's sync API makes its loop the thread's running loop while the browser lives: a browser kept
    # for the whole session broke every later asyncio.run (Textual's snapshot and pilot tests) in that worker.
    from tests.fixtures_browser import _missing_browser_reason

    reason = _missing_browser_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.fixtures_browser"]\n')
    (tmp_path / "test_a_browser.py").write_text(
        "def test_page(browser_page):\n"
        "    browser_page.set_content('<p id=x>hello</p>')\n"
        "    assert browser_page.inner_text('#x') == 'hello'\n"
    )
    (tmp_path / "test_b_asyncio.py").write_text(
        "import asyncio\n\n"
        "def test_loop():\n"
        "    assert asyncio.run(asyncio.sleep(0, result=7)) == 7\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                          "-o", "addopts=", "test_a_browser.py", "test_b_asyncio.py"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0 and "2 passed" in out.stdout, out.stdout + out.stderr


# --- the real service, a real browser -----------------------------------------------------------------------------


def _cli(db_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The real `client-portal` command in its own process, as an admin or a cron job runs it."""
    out = subprocess.run([sys.executable, "-c", "from tui.cli import main; main()", "--db", str(db_path), *args],
                         capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    if check and out.returncode:
        raise AssertionError(f"client-portal {' '.join(args)} exited {out.returncode}: {out.stderr}")
    return out


class PortalService:
    """`client-portal serve` in its own process; its log goes to a file the test reads afterwards."""

    def __init__(self, db_path: Path, port: int, log: Path) -> None:
        self.origin = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from tui.cli import main; main()", "--db", str(db_path), "serve",
             "--host", "127.0.0.1", "--port", str(port), "--no-sender"],
            cwd=ROOT, stdout=self._log_file, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"client-portal serve exited {self.process.returncode}: {self.log_text()}")
            try:
                if httpx.get(self.origin + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"client-portal serve did not answer /healthz in 30 s: {self.log_text()}")
            time.sleep(0.1)

    def log_text(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        return self.process.returncode


def _contact(db_path: Path, email_address: str) -> dict:
    listed = json.loads(_cli(db_path, "contacts", "list", "--json", "--search", email_address).stdout)
    [row] = [row for row in listed["contacts"] if row["email"] == email_address]
    return row


def _invitation_link(maildir: Path, to: str, origin: str) -> tuple[str, email.message.EmailMessage]:
    """The link in the text part of the one invitation to `to` in the Maildir, parsed as a mail reader would."""
    box = mailbox.Maildir(maildir, factory=None, create=False)
    messages = [email.message_from_bytes(box.get_bytes(key), policy=policy.default) for key in box.keys()]
    mine = [m for m in messages if to in str(m["To"])]
    assert len(mine) == 1, f"expected one message to {to}, found {len(mine)} of {len(messages)}"
    text = mine[0].get_body(preferencelist=("plain",)).get_content()
    links = re.findall(re.escape(origin) + r"/login/[A-Za-z0-9_-]{43}", text)
    assert len(set(links)) == 1, f"expected one magic link to {origin} in the text part:\n{text}"
    return links[0], mine[0]


def test_invitation_to_agency_portal_in_a_real_browser(db, db_path, tmp_path, browser_page):
    page = browser_page
    port, portal_port = free_port(), free_port()
    origin = f"http://127.0.0.1:{port}"
    fake_origin = f"http://127.0.0.1:{portal_port}"

    # The admin's side, all through the real command: links on the served address, an invitation, the outbox
    # sent with no SMTP server configured (the db_path fixture clears CLIENT_PORTAL_SMTP_*), so it lands in the
    # Maildir beside the database.
    db.close()
    _cli(db_path, "domains", "add", f"127.0.0.1:{port}", "--select")
    assert _cli(db_path, "url").stdout.strip() == origin + "/"
    _cli(db_path, "invite", "ada@example.com", "--first-name", "Ada", "--last-name", "Lovelace")
    sent = _cli(db_path, "outbox", "send")
    assert "Maildir" in sent.stderr, sent.stderr
    link, message = _invitation_link(tmp_path / "Maildir", "ada@example.com", origin)
    assert message["Subject"] and "Ada" in message.get_body(preferencelist=("plain",)).get_content()
    token = link.rsplit("/", 1)[1]
    key = _cli(db_path, "api-keys", "create", "fake-portal").stdout.strip().splitlines()[-1].strip()
    _cli(db_path, "settings", "set", "portal_callback_url", fake_origin + CALLBACK_PATH)
    assert _contact(db_path, "ada@example.com")["status"] == "invited"

    service = PortalService(db_path, port, tmp_path / "serve.log")
    fake = create_fake_portal(origin, key)
    try:
        with serve_in_thread(fake, portal_port):
            # A mail scanner (Safe Links, Proofpoint, a chat preview) fetches the link before the person does.
            with httpx.Client(timeout=10, follow_redirects=False) as scanner:
                for _ in range(5):
                    got = scanner.get(link)
                    assert got.status_code == 200 and "Ada" in got.text
                    assert scanner.head(link).status_code == 200
            assert _contact(db_path, "ada@example.com")["status"] == "invited"

            # The person opens it: their first name and one button.
            page.goto(link)
            text = page.inner_text("body")
            assert "Hello Ada" in text and NO_LONGER_WORKS not in text.lower()
            assert not re.search(r"[a-z][.!?][A-Z]", text), f"words run together on the confirm page: {text!r}"
            form_fields = page.eval_on_selector_all("form input", "els => els.map(e => [e.name, e.value])")
            confirm_shot = page.shot("portal_confirm")
            with page.expect_navigation(url=re.compile(re.escape(fake_origin + CALLBACK_PATH) + r"\?code=")):
                page.get_by_role("button").click()

            # The agency portal exchanged the code with its key and shows who signed in.
            assert page.inner_text("#email") == "ada@example.com"
            portal_shot = page.shot("portal_landed")
            [(status, answer)] = fake.state.exchanges
            assert status == 200
            assert answer["contact"]["email"] == "ada@example.com"
            assert answer["contact"]["first_name"] == "Ada" and answer["purpose"] == "invite"
            code = page.url.split("code=", 1)[1]

            # The code works once; a wrong key is refused.
            again = httpx.post(origin + "/api/v1/exchange", json={"code": code},
                               headers={"Authorization": f"Bearer {key}"})
            assert 400 <= again.status_code < 500 and again.status_code != 401
            wrong = httpx.post(origin + "/api/v1/exchange", json={"code": code},
                               headers={"Authorization": "Bearer not-a-key"})
            assert wrong.status_code == 401

            # The dashboard's data says joined.
            row = _contact(db_path, "ada@example.com")
            assert row["status"] == "joined"
            stats = json.loads(_cli(db_path, "stats", "--json").stdout)
            assert stats["joined"] == 1 and stats["pending"] == 0  # "invited" counts everyone invited, joined too

            # A second click (the same form posted again) and a second visit get the one bad-link page.
            second = httpx.post(link, data=dict(form_fields), headers={"Origin": origin}, follow_redirects=False)
            assert second.status_code == BAD_LINK_STATUS and NO_LONGER_WORKS in second.text.lower()
            assert "code=" not in second.headers.get("location", "")
            page.goto(link)
            assert NO_LONGER_WORKS in page.inner_text("body").lower()
            assert "Ada" not in page.inner_text("body")
    finally:
        exit_code = service.stop()
    log = service.log_text()
    assert token not in log, "the service logged a token"
    assert exit_code in (0, -signal.SIGTERM), log
    for shot in (confirm_shot, portal_shot):
        assert shot.stat().st_size > 1000
    target = os.environ.get("CLIENT_PORTAL_E2E_SHOTS")
    if target:  # for people: `CLIENT_PORTAL_E2E_SHOTS=/some/dir pytest tests/test_portal_e2e.py` keeps them
        for shot in (confirm_shot, portal_shot):
            (Path(target) / shot.name).write_bytes(shot.read_bytes())


HOSTILE_FIRST = "<img src=x onerror=alert(1)>[/x]\x1b[31m"
"""A first name that is markup in HTML, in Rich and in a terminal: it must reach the page as text."""


def test_without_a_callback_the_browser_shows_signed_in_and_names_stay_text(db, db_path, tmp_path, browser_page):
    page = browser_page
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    db.close()
    _cli(db_path, "domains", "add", f"127.0.0.1:{port}", "--select")
    _cli(db_path, "contacts", "add", "mal@example.com", "--first-name", HOSTILE_FIRST)
    link = _cli(db_path, "magic-link", "mal@example.com").stdout.strip()
    assert link.startswith(origin + "/login/")
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))

    service = PortalService(db_path, port, tmp_path / "serve.log")
    try:
        page.goto(link)
        assert page.locator("img").count() == 0
        assert "<img src=x onerror=alert(1)>[/x]" in page.inner_text("h1")
        page.get_by_role("button").click()
        page.wait_for_load_state()
        assert page.url == link  # no callback set: the answer is a page, not a redirect
        heading = page.inner_text("h1")
        assert "signed in" in heading.lower() and "<img src=x onerror=alert(1)>[/x]" in heading
        assert page.locator("img").count() == 0 and alerts == []
        assert _contact(db_path, "mal@example.com")["status"] == "joined"
        # Reloading posts the form again (headless Chromium resubmits without asking): the one bad-link page.
        with page.expect_response(lambda r: r.request.method == "POST" and "/login/" in r.url) as again:
            page.reload()
        assert again.value.status == BAD_LINK_STATUS
        assert NO_LONGER_WORKS in page.inner_text("body").lower()
    finally:
        service.stop()
    assert link.rsplit("/", 1)[1] not in service.log_text()
