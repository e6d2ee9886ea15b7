"""`client-portal web` in a real browser: Debian's Chromium (Playwright, headless) opens the one-time URL, sees
the dashboard's header with its counts, presses `?` for the help, copies the portal URL into the browser's
clipboard, and never asks anything of a host other than the server.

xterm.js paints the terminal on a canvas, so what the page shows is read from what its websocket delivered to
it (a wrapper installed before the page's own scripts), and looked at in the screenshot.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from models import contacts
from tests.test_web_auth import WebServer, screen_text

SCREENSHOT_COPY = Path("/work/notes/web.png")
"""Where the screenshot is copied for the report (when that folder exists)."""

RECORD_TERMINAL = """
(() => {
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  window.__terminal = "";
  window.WebSocket = function (url, protocols) {
    const socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") {
        window.__terminal += decoder.decode(event.data, {stream: true});
      }
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
})();
"""
"""Keeps a copy of every terminal byte the page receives in `window.__terminal`."""


def wait_for_text(page, *needles: str, since: int = 0, seconds: float = 30) -> str:
    """Wait until the page has received terminal output drawing every needle (after `since` characters)."""
    deadline = time.monotonic() + seconds
    while True:
        text = screen_text(page.evaluate("window.__terminal")[since:])
        if all(needle in text for needle in needles):
            return text
        if time.monotonic() > deadline:
            missing = [needle for needle in needles if needle not in text]
            raise AssertionError(f"not drawn within {seconds} s: {missing!r}; last text: {text[-600:]!r}")
        page.wait_for_timeout(100)


def mark(page) -> int:
    return page.evaluate("window.__terminal.length")


@pytest.fixture
def browser_server(db, db_path: Path):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    contacts.add_contact("grace@example.com", "Grace", "Hopper")
    server = WebServer(db_path).start()
    try:
        yield server
    finally:
        server.stop()


def test_the_dashboard_in_chromium_header_help_clipboard_and_no_outside_request(browser_server, browser_page):
    page = browser_page
    origin = browser_server.base
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    page.add_init_script(RECORD_TERMINAL)

    page.goto(browser_server.url)
    page.wait_for_url(origin + "/")  # the one-time token has left the address bar
    page.wait_for_selector("body.-first-byte")
    wait_for_text(page, "Portal https://portal.example.com", "Invited 0", "of 2 contacts", "grace@example.com")
    page.wait_for_timeout(300)  # let the canvas catch up with the bytes before the picture
    header_shot = page.shot("dashboard")

    page.click("#terminal")
    since = mark(page)
    page.keyboard.press("?")
    wait_for_text(page, "Keys", "Copy magic link", "Send login email", since=since)
    page.wait_for_timeout(300)
    help_shot = page.shot("help")
    if SCREENSHOT_COPY.parent.is_dir():
        shutil.copyfile(help_shot, SCREENSHOT_COPY)
        shutil.copyfile(header_shot, SCREENSHOT_COPY.with_name("web-dashboard.png"))

    page.keyboard.press("Enter")  # closes the help
    page.wait_for_timeout(300)
    since = mark(page)
    page.keyboard.press("u")
    wait_for_text(page, "Copied to the browser's clipboard", since=since)
    assert page.evaluate("navigator.clipboard.readText()") == "https://portal.example.com/"

    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    since = mark(page)
    page.keyboard.press("Control+p")  # the page gets ctrl+p (not the browser's print dialog)
    wait_for_text(page, "Search for commands", since=since)

    outside = [url for url in requests if not url.startswith(origin + "/") and not url.startswith("ws://127.0.0.1")]
    assert not outside, outside
    assert any(url.endswith("/static/fonts/RobotoMono-VariableFont_wght.ttf") for url in requests)
    assert not problems, problems


def test_a_sign_in_link_clicked_on_another_site_still_signs_in(browser_server, browser_page, tmp_path):
    """Admins get the URL in a chat or webmail. A SameSite=Strict cookie is not sent on a redirect that
    follows a click on another site; the sign-in page's own step to `/` is same-site, so the cookie goes."""
    page = browser_page
    # `localhost` and `127.0.0.1` are different sites to the browser: the link lives on the other one.
    elsewhere = browser_server.base.replace("127.0.0.1", "localhost")
    page.route(elsewhere + "/chat", lambda route: route.fulfill(
        content_type="text/html", body=f'<a id="link" href="{browser_server.url}">the dashboard</a>'))
    page.add_init_script(RECORD_TERMINAL)
    page.goto(elsewhere + "/chat")
    page.click("#link")
    page.wait_for_url(browser_server.base + "/")
    wait_for_text(page, "of 2 contacts")


def test_without_the_url_the_browser_gets_the_sign_in_notice_not_the_dashboard(browser_server, browser_page):
    page = browser_page
    response = page.goto(browser_server.base + "/")
    assert response.status == 401
    assert "client-portal web --print-url" in page.inner_text("body")
    page.goto(browser_server.url)
    page.wait_for_url(browser_server.base + "/")
    response = page.goto(browser_server.url)  # the same URL again, even in the signed-in browser
    assert response.status == 403
    assert re.search("already used", page.inner_text("body"))
