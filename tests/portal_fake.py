"""A stand-in for an agency's own portal, for the end-to-end test: what a portal developer writes against our
handoff contract, and a way to run any ASGI app on a real uvicorn in a thread.

The portal service sends a confirmed contact to `portal_callback_url?code=<one-time code>`. This fake portal
answers that callback the way a real one must: it exchanges the code at the portal service's
`POST /api/v1/exchange` with its API key (`Authorization: Bearer ...`, JSON `{"code": ...}`) and shows who
signed in. It never trusts the query string for identity: everything it shows comes from the exchange.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

CALLBACK_PATH = "/auth/callback"
"""Where the fake portal expects the contact to land (register `http://127.0.0.1:PORT/auth/callback`)."""


def create_fake_portal(service_url: str, api_key: str) -> Starlette:
    """The fake agency portal.

    Args:
        service_url: The portal service's origin, e.g. `http://127.0.0.1:8123` (no trailing slash needed).
        api_key: A key made by `client-portal api-keys create`.

    Returns:
        A Starlette app with `GET /auth/callback` (exchange the code, show the contact) and `GET /` (a home page).
        Every exchange answer is kept in `app.state.exchanges` as `(status, json or text)` for the test to read.
    """
    exchange_url = service_url.rstrip("/") + "/api/v1/exchange"

    async def callback(request: Request) -> HTMLResponse:
        code = request.query_params.get("code", "")
        if not code:
            return _page("No code", "<p id='error'>The sign-in link did not carry a code.</p>", 400)
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(exchange_url, json={"code": code},
                                       headers={"Authorization": f"Bearer {api_key}"})
        try:
            body = answer.json()
        except ValueError:
            body = answer.text
        request.app.state.exchanges.append((answer.status_code, body))
        if answer.status_code != 200 or not isinstance(body, dict):
            return _page("Sign-in failed",
                         f"<p id='error'>The portal service refused the code ({answer.status_code}).</p>", 403)
        contact = body.get("contact") or {}
        first = html.escape(str(contact.get("first_name", "")))
        email = html.escape(str(contact.get("email", "")))
        purpose = html.escape(str(body.get("purpose", "")))
        return _page("Agency portal",
                     f"<h1>Welcome to the agency portal, {first}</h1>"
                     f"<p>Signed in as <strong id='email'>{email}</strong> (by {purpose} link).</p>")

    async def home(request: Request) -> HTMLResponse:
        return _page("Agency portal", "<h1>Agency portal</h1><p>Sign in with the link in your email.</p>")

    app = Starlette(routes=[Route(CALLBACK_PATH, callback), Route("/", home)])
    app.state.exchanges = []
    return app


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:3em;background:#f4f1ea}"
        "main{background:#fff;padding:2em;border-left:6px solid #2d6a4f;max-width:40em}</style>"
        f"</head><body><main>{body}</main></body></html>",
        status_code=status,
    )


@contextmanager
def serve_in_thread(app, port: int, host: str = "127.0.0.1") -> Iterator[str]:
    """Run `app` on a real uvicorn at `host:port` in a thread; yields its origin (`http://host:port`).

    Waits until the server accepts connections, and on exit asks it to stop and waits for the thread.
    """
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"uvicorn on {host}:{port} did not start (is the port taken?)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"uvicorn on {host}:{port} did not start within 20 s")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
