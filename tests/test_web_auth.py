"""`client-portal web`: who gets in (one-time URL, session cookie, Host and Origin checks), what the page loads,
and one browser session driven through textual-serve's websocket protocol (resize and stdin packets in, the
terminal's bytes out) against a real server on a loopback port and real dashboard processes.

The helpers here (`WebServer`, `web_server`, `TerminalSession`, `sign_in`) are shared with the other
`test_web_*.py` files.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import getpass
import json
import os
import re
import stat
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from models import audit, contacts
from models.errors import PortalError
from tui import web
from tui.web import COOKIE, DashboardServer

APP_SECONDS = 20
"""How long a dashboard process may take to start and paint (two cores shared by several test runs)."""

_CSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]")
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def screen_text(raw: str) -> str:
    """The text a terminal stream draws: escape sequences dropped, each cursor move a line break."""
    raw = _OSC.sub("", raw)
    return _CSI.sub(lambda m: "\n" if m.group(0).endswith("H") else "", raw)


class WebServer:
    """A `DashboardServer` on its own event loop in a thread (a loopback port the system picks)."""

    def __init__(self, db_path: Path, **options) -> None:
        self.server = DashboardServer(db_path, host="127.0.0.1", port=0, **options)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="web-server", daemon=True)
        self.url = ""
        """The first one-time URL."""

    def call(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self) -> WebServer:
        self.thread.start()
        self.url = self.call(self.server.start())
        return self

    def stop(self) -> None:
        try:
            self.call(self.server.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    @property
    def base(self) -> str:
        """`http://127.0.0.1:PORT`: the server's own origin."""
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/ws"

    def new_url(self) -> str:
        return self.server.new_url()


@pytest.fixture
def web_server(db, db_path: Path):
    """A running web server on the test database (a portal domain set up), stopped after the test."""
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    server = WebServer(db_path).start()
    try:
        yield server
    finally:
        server.stop()


async def sign_in(http: aiohttp.ClientSession, url: str) -> str:
    """Open a one-time URL; returns the session cookie's value."""
    async with http.get(url, allow_redirects=False) as response:
        assert response.status == 200, await response.text()
        return response.cookies[COOKIE].value


class TerminalSession:
    """One browser session spoken in textual-serve's protocol: JSON text frames in, terminal bytes out."""

    def __init__(self, websocket: aiohttp.ClientWebSocketResponse) -> None:
        self.websocket = websocket
        self.raw = ""
        """Everything the dashboard wrote, decoded."""
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.websocket:
            if message.type == aiohttp.WSMsgType.BINARY:
                self.raw += self._decoder.decode(message.data)

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, server: WebServer, cookie: str,
                   size: tuple[int, int] = (100, 30), **headers: str) -> TerminalSession:
        width, height = size
        websocket = await http.ws_connect(
            f"{server.ws_url}?width={width}&height={height}",
            headers={"Cookie": f"{COOKIE}={cookie}", "Origin": server.base, **headers},
        )
        session = cls(websocket)
        await session.send("resize", {"width": width, "height": height})
        return session

    async def send(self, kind: str, data) -> None:
        await self.websocket.send_str(json.dumps([kind, data]))

    async def keys(self, text: str) -> None:
        """Type: each character as the browser's terminal sends it (`\\r` for enter, `\\x1b` for escape)."""
        for char in text:
            await self.send("stdin", char)

    @property
    def text(self) -> str:
        return screen_text(self.raw)

    def mark(self) -> int:
        """A position in the output: `wait_for(..., since=mark)` looks only at what came after it."""
        return len(self.raw)

    async def wait_for(self, *needles: str, since: int = 0, seconds: float = APP_SECONDS) -> str:
        """Wait until every needle is in the drawn text (after `since`); returns that text."""
        deadline = time.monotonic() + seconds
        while True:
            text = screen_text(self.raw[since:])
            if all(needle in text for needle in needles):
                return text
            if self._reader.done() or time.monotonic() > deadline:
                missing = [needle for needle in needles if needle not in text]
                raise AssertionError(f"not drawn within {seconds} s: {missing!r}; last text: {text[-600:]!r}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.websocket.close()
        await self._reader


# --- who gets in ------------------------------------------------------------------------------------------------


async def test_without_a_session_the_page_its_files_and_its_websocket_are_refused(web_server):
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/static/js/textual.js", "/static/fonts/RobotoMono-VariableFont_wght.ttf", "/static/",
                     "/download/anything"):
            async with http.get(web_server.base + path, allow_redirects=False) as response:
                assert response.status == 401, path
                assert COOKIE not in response.cookies
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(web_server.ws_url, headers={"Origin": web_server.base})
        assert refused.value.status == 401
        # A made-up cookie is no session either.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(web_server.ws_url, headers={"Origin": web_server.base,
                                                              "Cookie": f"{COOKIE}=made-up"})
        assert refused.value.status == 401


async def test_the_one_time_url_signs_in_once_with_a_strict_httponly_cookie(web_server):
    assert web_server.url.startswith(web_server.base + "/?token=")
    async with aiohttp.ClientSession() as http:
        async with http.get(web_server.url, allow_redirects=False) as response:
            assert response.status == 200
            set_cookie = response.headers["Set-Cookie"]
            page = await response.text()
        assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Path=/" in set_cookie
        assert "Secure" not in set_cookie  # plain http on loopback: a Secure cookie would never come back
        assert '<meta http-equiv="refresh" content="0; url=/">' in page  # the token leaves the address bar
        assert response.headers["Referrer-Policy"] == "no-referrer"
        cookie = response.cookies[COOKIE].value

        async with http.get(web_server.url, allow_redirects=False) as again:
            assert again.status == 403
            assert COOKIE not in again.cookies
            assert "already used" in await again.text()
        async with http.get(web_server.base + "/?token=" + "x" * 43, allow_redirects=False) as forged:
            assert forged.status == 403

        headers = {"Cookie": f"{COOKIE}={cookie}"}
        async with http.get(web_server.base + "/", headers=headers) as response:
            assert response.status == 200
            assert 'class="textual-terminal"' in await response.text()
        async with http.get(web_server.base + "/static/js/textual.js", headers=headers) as response:
            assert response.status == 200


async def test_a_url_from_print_url_works_once_for_the_running_server(web_server, cli, db_path):
    state = web.state_path(db_path.resolve())
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert web_server.url.split("token=")[1] not in state.read_text()  # only hashes are kept

    result = cli("web", "--print-url")
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert url.startswith(web_server.base + "/?token=") and url != web_server.url
    async with aiohttp.ClientSession() as http:
        await sign_in(http, url)
        async with http.get(url, allow_redirects=False) as again:
            assert again.status == 403
        await sign_in(http, web_server.url)  # the first URL is still good: each is used up on its own


async def test_print_url_without_a_running_server_says_so(cli, db_path):
    result = cli("web", "--print-url")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: no web server is running for portal.db; start one with `client-portal web`"]


async def test_the_state_file_goes_with_the_server_and_a_second_server_is_refused(db, db_path):
    first = WebServer(db_path).start()
    second = WebServer(db_path)
    try:
        with pytest.raises(PortalError, match="already running"):
            second.start()
    finally:
        second.stop()
        first.stop()
    assert not web.state_path(db_path.resolve()).exists()


async def test_a_websocket_from_another_origin_is_refused(web_server):
    async with aiohttp.ClientSession() as http:
        cookie = await sign_in(http, web_server.url)
        for origin in ("http://evil.example", f"http://127.0.0.1:{web_server.server.port + 1}", "null", None):
            headers = {"Cookie": f"{COOKIE}={cookie}"}
            if origin is not None:
                headers["Origin"] = origin
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(web_server.ws_url, headers=headers)
            assert refused.value.status == 403, origin


async def test_a_host_name_the_server_does_not_answer_to_is_refused(web_server):
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 gets nothing, not even the
    sign-in (its Host is evil.example)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(web_server.url, headers={"Host": f"evil.example:{web_server.server.port}"},
                            allow_redirects=False) as response:
            assert response.status == 403
            assert COOKIE not in response.cookies
        await sign_in(http, web_server.url)  # the token was not used up by the refused request


async def test_the_page_loads_nothing_from_elsewhere(web_server):
    async with aiohttp.ClientSession() as http:
        cookie = await sign_in(http, web_server.url)
        async with http.get(web_server.base + "/", headers={"Cookie": f"{COOKIE}={cookie}"}) as response:
            page = await response.text()
            csp = response.headers["Content-Security-Policy"]
    assert not re.search(r"(?i)\b(?:https?|wss?):|//[a-z0-9]", page.replace(web_server.ws_url, "")), page
    assert "fonts.googleapis" not in page
    referenced = re.findall(r"""(?:src|href)=["']([^"']+)["']|url\(["']?([^"')]+)""", page)
    paths = [path for pair in referenced for path in pair if path]
    assert paths and all(path.startswith("/") or path == "data:," for path in paths), paths  # data:, the icon
    assert f'data-session-websocket-url="{web_server.ws_url}"' in page
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp


# --- one browser session through the websocket protocol ---------------------------------------------------------


async def test_a_session_reads_the_dashboard_and_its_help_through_the_websocket(web_server):
    async with aiohttp.ClientSession() as http:
        cookie = await sign_in(http, web_server.url)
        session = await TerminalSession.open(http, web_server, cookie)
        try:
            await session.wait_for("Portal https://portal.example.com", "Invited 0", "of 1 contact",
                                   "ada@example.com")
            mark = session.mark()
            await session.keys("?")
            await session.wait_for("Keys", "Copy magic link", "Send login email", "esc Close", since=mark)
        finally:
            await session.close()


async def test_copying_reaches_the_browsers_clipboard_and_the_audit_names_the_web_session(web_server, db_path):
    async with aiohttp.ClientSession() as http:
        cookie = await sign_in(http, web_server.url)
        session = await TerminalSession.open(http, web_server, cookie)
        try:
            await session.wait_for("ada@example.com")
            mark = session.mark()
            await session.keys("u")
            await session.wait_for("Copied to the browser's clipboard", since=mark)
            osc52 = "\x1b]52;c;" + base64.b64encode(b"https://portal.example.com/").decode() + "\x07"
            assert osc52 in session.raw[mark:]  # textual.js hands this to navigator.clipboard.writeText
            await session.keys("\r")  # enter closes (a lone escape followed at once by `m` would be alt+m)
            mark = session.mark()
            await session.keys("m")  # a magic link for the highlighted contact: an audited change
            await session.wait_for("Copied to the browser's clipboard", "expires", since=mark)
        finally:
            await session.close()
    entry = audit.recent(1)[0]
    assert entry.subject == "ada@example.com"
    assert (entry.actor, entry.host) == (getpass.getuser(), "127.0.0.1 (web)")


async def test_on_a_page_that_may_not_use_the_clipboard_the_dashboard_says_to_select_the_text(web_server):
    """Plain http on a name other than localhost is no secure context: the browser has no clipboard to give."""
    async with aiohttp.ClientSession() as http:
        cookie = await sign_in(http, web_server.url)
        lan = f"192.0.2.10:{web_server.server.port}"  # how a browser on the LAN would address the server
        session = await TerminalSession.open(http, web_server, cookie, Host=lan, Origin=f"http://{lan}")
        try:
            await session.wait_for("ada@example.com")
            mark = session.mark()
            await session.keys("u")
            text = await session.wait_for("Not copied", "Select the text above to copy it", since=mark)
            assert "Copied to" not in text
            assert "\x1b]52;" not in session.raw[mark:]
        finally:
            await session.close()


async def test_behind_a_tls_proxy_the_cookie_is_secure_and_the_audit_has_the_forwarded_address(db, db_path):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    server = WebServer(db_path, public_url="https://dash.example.com").start()
    proxied = {"Host": "dash.example.com", "X-Forwarded-For": "203.0.113.7, 198.51.100.23",
               "X-Forwarded-Proto": "https"}
    try:
        assert server.url.startswith("https://dash.example.com/?token=")
        local_url = server.url.replace("https://dash.example.com", server.base)
        async with aiohttp.ClientSession() as http:
            async with http.get(local_url, headers=proxied, allow_redirects=False) as response:
                assert response.status == 200
                assert "Secure" in response.headers["Set-Cookie"]
                cookie = response.cookies[COOKIE].value
            async with http.get(server.base + "/", headers={**proxied, "Cookie": f"{COOKIE}={cookie}"}) as page:
                assert 'data-session-websocket-url="wss://dash.example.com/ws"' in await page.text()
            session = await TerminalSession.open(http, server, cookie, **proxied,
                                                 Origin="https://dash.example.com")
            try:
                await session.wait_for("ada@example.com")
                mark = session.mark()
                await session.keys("m")
                await session.wait_for("Copied to the browser's clipboard", since=mark)
            finally:
                await session.close()
    finally:
        server.stop()
    assert audit.recent(1)[0].host == "198.51.100.23 (web)"  # the proxy's own entry, the last one


def test_the_actor_module_names_a_web_session_by_the_browsers_address(monkeypatch):
    from models.actor import current_host

    monkeypatch.setenv("SSH_CLIENT", "10.1.2.3 50000 22")
    monkeypatch.setenv(web.WEB_CLIENT_ENV, "192.0.2.44")
    assert current_host() == "192.0.2.44 (web)"
    monkeypatch.delenv(web.WEB_CLIENT_ENV)
    assert current_host() == "ssh:10.1.2.3 (reported)"  # what the SSH session says, marked as such


def test_the_dashboard_process_does_not_inherit_the_servers_ssh_session(monkeypatch):
    monkeypatch.setenv("SSH_CLIENT", "10.1.2.3 50000 22")
    monkeypatch.setenv("SSH_CONNECTION", "10.1.2.3 50000 10.0.0.1 22")
    service = web.DashboardSession("true", write_bytes=None, write_str=None, close=None, download_manager=None,
                                   extra_environment={web.WEB_CLIENT_ENV: "192.0.2.44"})
    environment = service._build_environment(80, 24)
    assert "SSH_CLIENT" not in environment and "SSH_CONNECTION" not in environment
    assert environment[web.WEB_CLIENT_ENV] == "192.0.2.44"
    assert environment["TEXTUAL_DRIVER"] == "textual.drivers.web_driver:WebDriver"
    assert os.environ["SSH_CLIENT"] == "10.1.2.3 50000 22"  # the server's own environment is left alone


async def test_in_a_browser_the_servers_own_clipboard_is_left_alone(portal_app, headless_clipboard, monkeypatch):
    """pyperclip would copy to the clipboard of the machine the server runs on, which is not the admin's."""
    from tui.screens.portal_url import PortalUrlScreen
    from tests.fixtures_tui import settle

    monkeypatch.setenv(web.WEB_CLIPBOARD_ENV, "browser")
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
        assert isinstance(app.screen, PortalUrlScreen)
        assert app.clipboard == "https://portal.example.com/"  # sent as OSC 52, which the page forwards
        assert "Copied to the browser's clipboard" in str(app.screen.query_one("#copied").render())
    assert headless_clipboard == []
