"""What every response of the portal service carries, and the one log line each request leaves.

Both are plain ASGI middleware (not Starlette's `BaseHTTPMiddleware`), so they see every response, streaming or
not, including Starlette's own 404 and 405 answers. A 500 made by Starlette's outermost error handler goes
around them: `portal.app` puts the same headers on that page itself, and the log line still says 500.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_CSP = (
    "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""No scripts at all; our own stylesheet; forms post to us only (the confirm page adds the callback's origin,
since browsers check `form-action` against the redirect that follows a form too)."""

SECURITY_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "x-robots-tag": "noindex, nofollow",
    "x-content-type-options": "nosniff",
}
"""Headers every response gets. `no-store`: a page holds a link's CSRF field or a contact's name and must not stay
in a shared cache; `no-referrer`: a page's address may hold a token, which must not reach another site."""


def apply_security_headers(headers: MutableHeaders) -> None:
    """Set the security headers on a response's headers; a Content-Security-Policy already set is kept."""
    for name, value in SECURITY_HEADERS.items():
        headers[name] = value
    if "content-security-policy" not in headers:
        headers["content-security-policy"] = DEFAULT_CSP


_RAW_SECURITY_HEADERS = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS.items()]
_RAW_NAMES = frozenset(name for name, _ in _RAW_SECURITY_HEADERS)
_RAW_CSP = (b"content-security-policy", DEFAULT_CSP.encode("latin-1"))


def secured_raw_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`apply_security_headers` on a response's raw header list, as one pass over it (every response goes
    through here: `MutableHeaders` rescanned the list for each of the six headers)."""
    headers = [item for item in raw if item[0].lower() not in _RAW_NAMES]
    headers += _RAW_SECURITY_HEADERS
    if not any(item[0].lower() == b"content-security-policy" for item in headers):
        headers.append(_RAW_CSP)
    return headers


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` and the default CSP to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = secured_raw_headers(message.get("headers") or [])
            await send(message)

        await self.app(scope, receive, send_with_headers)


REDACTED_PREFIXES = ("/login/",)
"""Paths whose remainder is a secret (a magic link's token): logged as `/login/<redacted>`."""

MAX_LOGGED_PATH = 200


def loggable_path(path: str) -> str:
    """A request path as the log may show it: no token, no query string, no control characters, bounded length."""
    for prefix in REDACTED_PREFIXES:
        if path.startswith(prefix) and len(path) > len(prefix):
            return prefix + "<redacted>"
    if len(path) > MAX_LOGGED_PATH:
        path = path[:MAX_LOGGED_PATH] + "…"
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in path)


class RequestLog:
    """One line per request on the `portal.access` logger: client, method, path (tokens redacted), status, time.

    It replaces uvicorn's access log, which prints the full path and with it every magic link's token.
    """

    def __init__(self, app: ASGIApp, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.log = logger or logging.getLogger("portal.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            client = scope.get("client")
            self.log.info(
                '%s "%s %s" %d %.1fms',
                client[0] if client else "-",
                scope.get("method", "-"),
                loggable_path(scope.get("path", "")),
                status,
                (time.perf_counter() - started) * 1000,
            )
