"""A real browser for end-to-end tests: Debian's Chromium driven by Playwright for Python.

Playwright's own browser download (`playwright install`) is never used: it fetches from outside the package
registries. The tests drive `/usr/bin/chromium` (Debian's package, which `.ci/run` installs when it is missing).
On a machine without it the browser tests are skipped with the reason; under CI (`CI=true`) a missing browser is
a failure instead, so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CLIENT_PORTAL_CHROMIUM", "/usr/bin/chromium")
"""The browser binary the end-to-end tests drive."""

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
"""Headless, and nothing that reaches for the internet (this machine's network is loopback only)."""


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _missing_browser_reason() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (make test installs it)"
    return None


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[object]:
    """One headless Chromium per test module (a Playwright `Browser`); each test opens its own context.

    Not one per session: while Playwright's sync API is running, its event loop is the thread's running loop, so
    every `asyncio.run` (Textual's `run_test`, snapshot tests) in the same worker fails with "cannot be called
    from a running event loop". Per module, the browser is gone before another module's tests run.
    """
    reason = _missing_browser_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium_browser, tmp_path: Path):
    """A fresh page in its own context (no cookies shared between tests); a screenshot helper is attached
    as `page.shot(name)`, which writes `tmp_path/name.png` and returns the path."""
    context = chromium_browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()

    def shot(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    page.shot = shot  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()
