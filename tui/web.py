"""The dashboard in a browser: textual-serve behind a one-time URL, a session cookie and an Origin check.

textual-serve (on aiohttp) starts one dashboard process per browser session and relays its terminal over a
websocket. Out of the box it has no authentication, no Origin check and a page that loads a web font from
Google; `DashboardServer` subclasses its `Server` and adds, on the same `web.Application`:

- a middleware (`_guard`) that every request passes: the Host must be one this server answers to (an IP
  address, `localhost`, the bound host or the public URL's host, which defeats DNS rebinding); `/?token=...`
  trades a one-time token for an HttpOnly, SameSite=Strict session cookie; anything else without a valid
  session cookie gets 401; a websocket whose Origin is not this server's own gets 403;
- its own page (`PAGE`), with every URL on this server (the Roboto Mono font textual-serve ships is served from
  `/static/fonts/`) and a Content-Security-Policy that lets the page load nothing from elsewhere;
- the environment of each dashboard process: `CLIENT_PORTAL_WEB_CLIENT` (the browser's address, which the audit
  records) and `CLIENT_PORTAL_WEB_CLIPBOARD` (`browser` when the page may use the browser's clipboard, else
  `none`), which tells the dashboard it runs in a browser.

One-time tokens live, hashed, in a state file beside the database (`<database>.web`, mode 0600, locked with
`flock` while read or written; for a PostgreSQL database, in the user data dir, named after its server and
database), with the running server's pid and URL. `client-portal web --print-url` adds a
token there for the running server: whoever can read the database file's directory as its owner can mint one,
no one else. The file is removed when the server stops.

A PostgreSQL URL (`--db postgresql://…`) reaches each dashboard process unchanged, through its environment
(`CLIENT_PORTAL_DB`) rather than its command line, so a password in it is not on the process list; nothing this
server prints or serves shows it.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import ipaddress
import json
import logging
import os
import re
import secrets
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from models.copy import is_url
from models.errors import PortalError

log = logging.getLogger("client-portal.web")

TOKEN_SECONDS = 15 * 60
"""How long a one-time URL stays valid if nobody opens it."""
SESSION_SECONDS = 12 * 3600
"""How long a browser stays signed in (the server forgets every session when it stops, too)."""
QUIT_SECONDS = 5
"""How long a dashboard process has to quit when its browser leaves or the server stops."""
COOKIE = "client_portal_session"
"""The session cookie's name."""
WEB_CLIENT_ENV = "CLIENT_PORTAL_WEB_CLIENT"
"""Set for each dashboard process: the browser's address (`models.actor.current_host` reads it)."""
WEB_CLIPBOARD_ENV = "CLIENT_PORTAL_WEB_CLIPBOARD"
"""Set for each dashboard process: `browser` when OSC 52 reaches the browser's clipboard, `none` when the page
is not a secure context (plain http to a name other than localhost), where browsers refuse the clipboard."""
_SSH_VARIABLES = ("SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY")
"""Not passed on: the SSH session that started the server is not where the browser is."""
_CHILD_CODE = "from tui.cli import main; main(prog_name='client-portal')"
"""`client-portal` run by the server's own interpreter (the venv need not be on PATH)."""


def database_target(db: Path | str) -> Path | str:
    """The database as every served dashboard opens it: a server URL unchanged, a file by its absolute path."""
    if is_url(db):
        return str(db).strip()
    return Path(db).expanduser().resolve()


def state_path(db: Path | str) -> Path:
    """The state file of the web server for the database `db` (see `database_target`): its pid, its URL and the
    outstanding tokens. Beside an SQLite file; for a server database, in the user data dir, named after the
    server, the user and the database (never the password)."""
    if not is_url(db):
        path = Path(db)
        return path.with_name(path.name + ".web")
    from models.db import data_dir_for

    parts = urlsplit(str(db).strip())
    where = f"{parts.username or ''}@{parts.hostname or 'localhost'}-{parts.port or 5432}-{parts.path.lstrip('/')}"
    folder = data_dir_for(str(db))
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder / ("postgresql-" + re.sub(r"[^A-Za-z0-9@._-]+", "_", where) + ".web")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@contextmanager
def _locked_state(path: Path, *, create: bool) -> Iterator[dict]:
    """The state file's content, locked; what the block leaves in the dict is written back."""
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        raise PortalError(f"no web server is running for {path.with_suffix('').name}; start one with "
                          "`client-portal web`") from None
    except OSError as exc:
        raise PortalError(f"cannot open {path}: {exc.strerror}") from None
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        os.fchmod(handle.fileno(), 0o600)
        try:
            state = json.loads(handle.read() or "{}")
        except ValueError:
            state = {}
        if not isinstance(state, dict):
            state = {}
        yield state
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(state))
        handle.flush()


def _live_tokens(state: dict, now: float) -> dict[str, float]:
    tokens = state.get("tokens")
    if not isinstance(tokens, dict):
        return {}
    return {digest: expires for digest, expires in tokens.items()
            if isinstance(expires, (int, float)) and expires > now}


def claim_state(path: Path, url: str, owner: str) -> None:
    """Record the server `owner` (a random id) of this process as the web server of the database; refuse if
    another live one is recorded."""
    with _locked_state(path, create=True) as state:
        pid = state.get("pid")
        if isinstance(pid, int) and (pid, state.get("owner")) != (os.getpid(), owner) and _alive(pid):
            raise PortalError(f"a web server for this database is already running (pid {pid}, "
                              f"{state.get('url', '?')}); `client-portal web --print-url` makes a URL for it")
        state.clear()
        state.update(pid=os.getpid(), owner=owner, url=url, tokens={})


def release_state(path: Path, owner: str) -> None:
    """Remove the state file if it is still the server `owner`'s."""
    try:
        with _locked_state(path, create=False) as state:
            if (state.get("pid"), state.get("owner")) != (os.getpid(), owner):
                return
            path.unlink()
    except (PortalError, FileNotFoundError):
        pass


def new_url(path: Path, *, seconds: int = TOKEN_SECONDS) -> str:
    """A new one-time URL for the running server of the database (what `--print-url` prints).

    Raises:
        PortalError: no server is running for the database.
    """
    token = secrets.token_urlsafe(32)
    with _locked_state(path, create=False) as state:
        pid = state.get("pid")
        url = state.get("url")
        if not isinstance(pid, int) or not isinstance(url, str) or not _alive(pid):
            raise PortalError("no web server is running for this database (its state file is stale); start one "
                              "with `client-portal web`")
        now = time.time()
        tokens = _live_tokens(state, now)
        tokens[_digest(token)] = now + seconds
        state["tokens"] = tokens
    return f"{url}/?token={token}"


def redeem(path: Path, token: str) -> bool:
    """Use up a one-time token: True the first time for a token that was issued and has not expired."""
    try:
        with _locked_state(path, create=False) as state:
            tokens = _live_tokens(state, time.time())
            found = tokens.pop(_digest(token), None) is not None
            state["tokens"] = tokens
            return found
    except PortalError:
        return False


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _hostname(netloc: str) -> str:
    """The host part of `host:port`, `[v6]:port` or a bare host, lower-cased."""
    return (urlsplit(f"//{netloc}").hostname or "").lower()


def check_public_url(value: str) -> str:
    """`https://dash.example.com` as given to `--public-url` (no path, no query), without a trailing slash.

    Raises:
        PortalError: not an http(s) origin.
    """
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") or parts.query:
        raise PortalError(f"--public-url must look like https://dash.example.com (no path), not {value!r}")
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class Session:
    """A signed-in browser."""

    expires: float
    """When the session ends (seconds since the epoch)."""


PAGE = jinja2.Template(
    """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>{{ title }}</title>
    <link rel="icon" href="data:,">
    <link rel="preload" href="{{ static }}fonts/RobotoMono-VariableFont_wght.ttf" as="font" type="font/ttf"
          crossorigin>
    <link rel="stylesheet" href="{{ static }}css/xterm.css">
    <script src="{{ static }}js/textual.js"></script>
    <style>
      @font-face {
        font-family: "Roboto Mono";
        src: url("{{ static }}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype");
        font-weight: 100 700;
        font-style: normal;
      }
      @font-face {
        font-family: "Roboto Mono";
        src: url("{{ static }}fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype");
        font-weight: 100 700;
        font-style: italic;
      }
      html, body { margin: 0; height: 100%; background: #0c181f; }
      .dialog-container {
        position: absolute; width: 100vw; height: 100vh; display: flex;
        align-items: center; justify-content: center; z-index: 10;
      }
      .intro {
        padding: 32px 48px; font: 16px "Roboto Mono", menlo, monospace; text-align: center;
        color: rgba(255, 255, 255, 0.95); background-color: #12232d;
      }
      .intro a { color: #ac5af4; }
      body.-first-byte .intro-dialog { display: none; }
      body .textual-terminal { opacity: 0; transition: opacity 0.3s ease-out; }
      body.-first-byte .textual-terminal { opacity: 1; }
      .closed-dialog { display: none; }
      body.-closed .closed-dialog { display: flex; }
      #terminal { position: absolute; inset: 0; }
    </style>
  </head>
  <body>
    <div class="dialog-container intro-dialog"><div class="intro">{{ title }}: starting the dashboard…</div></div>
    <div class="dialog-container closed-dialog">
      <div class="intro">The session ended. <a href="/">Open the dashboard again</a></div>
    </div>
    <div id="terminal" class="textual-terminal" data-session-websocket-url="{{ websocket_url }}"
         data-font-size="{{ font_size }}"></div>
  </body>
</html>
""",
    autoescape=True,
)
"""The page: textual-serve's own, minus the Google font link, the background image and the inline script."""

_NOT_SIGNED_IN = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>client-portal: not signed in</title>
<link rel="icon" href="data:,"></head>
<body><h1>Not signed in</h1>
<p>{reason}</p>
<p>Open the one-time URL that <code>client-portal web</code> printed when it started, or make a new one on the
server with <code>client-portal web --print-url</code>.</p></body></html>
"""

_SIGNED_IN = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>client-portal</title>
<link rel="icon" href="data:,"><meta http-equiv="refresh" content="0; url=/"></head>
<body><p>Signed in. <a href="/">Open the dashboard</a>.</p></body></html>
"""

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
"""Nothing from elsewhere: the page works on a closed network and cannot be made to send data out."""


class DashboardSession(AppService):
    """One browser's dashboard process, with the environment that says who and where it is."""

    def __init__(self, *args, extra_environment: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.extra_environment = extra_environment
        """Added to the process's environment (`CLIENT_PORTAL_WEB_*`)."""

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width=width, height=height)
        for name in _SSH_VARIABLES:
            environment.pop(name, None)
        environment.update(self.extra_environment)
        return environment

    async def stop(self) -> None:
        """Tell the dashboard to quit, and wait for the process to end (killed if it hangs): no zombies."""
        await super().stop()
        process = self._process
        if process is not None and process.returncode is None:
            try:
                await asyncio.wait_for(process.wait(), QUIT_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()


class DashboardServer(Server):
    """textual-serve's server with sign-in, a Host and Origin check, a local-only page and audit names.

    Args:
        db_path: The database every browser session's dashboard opens.
        host: The address to bind (loopback by default; see the README before changing it).
        port: The port to bind (0: any free port).
        public_url: The origin browsers use when a TLS proxy is in front (`https://dash.example.com`).
    """

    def __init__(self, db_path: Path | str, host: str = "127.0.0.1", port: int = 8081,
                 public_url: str | None = None) -> None:
        self.db_path = database_target(db_path)
        """The database the dashboards open: a file's absolute path, or a server URL as given."""
        self.database_environment: dict[str, str] = {}
        """Added to each dashboard's environment: a server URL goes there, not on the command line."""
        if isinstance(self.db_path, Path):
            command = shlex.join([sys.executable, "-c", _CHILD_CODE, "--db", str(self.db_path)])
        else:
            command = shlex.join([sys.executable, "-c", _CHILD_CODE])
            self.database_environment = {"CLIENT_PORTAL_DB": self.db_path}
        self.given_public_url = check_public_url(public_url) if public_url else None
        """`--public-url`, if any."""
        super().__init__(command, host=host, port=port, title="client-portal", public_url=self.given_public_url)
        self.state_path = state_path(self.db_path)
        """Where the one-time tokens and this server's pid and URL are kept."""
        self.sessions: dict[str, Session] = {}
        """Signed-in browsers by the SHA-256 of their cookie."""
        self._runner: web.AppRunner | None = None
        self._owner = secrets.token_hex(8)
        self._websockets: set[web.WebSocketResponse] = set()

    # --- the URL and the state file --------------------------------------------------------------------------

    def _origin(self) -> str:
        if self.given_public_url:
            return self.given_public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def new_url(self) -> str:
        """A new one-time URL for this server."""
        return new_url(self.state_path)

    # --- requests ------------------------------------------------------------------------------------------

    def _host_allowed(self, request: web.Request) -> bool:
        name = _hostname(request.host)
        if not name:
            return False
        try:
            ipaddress.ip_address(name)
            return True  # an address cannot be rebound by DNS
        except ValueError:
            pass
        allowed = {"localhost", self.host.lower()}
        if self.given_public_url:
            allowed.add(_hostname(urlsplit(self.given_public_url).netloc))
        return name in allowed

    def _origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin", "")
        own = {f"http://{request.host}", f"https://{request.host}"}
        if self.given_public_url:
            own.add(self.given_public_url)
        return origin.lower() in {value.lower() for value in own}

    def _secure(self, request: web.Request) -> bool:
        return request.secure or (self.given_public_url or "").startswith("https:")

    def client_address(self, request: web.Request) -> str:
        """The browser's address: the peer, or behind a proxy on this host (`--public-url`), the address the
        proxy put last in X-Forwarded-For."""
        remote = request.remote or "?"
        forwarded = request.headers.get("X-Forwarded-For", "")
        if self.given_public_url and _is_loopback(remote) and forwarded.strip():
            last = forwarded.split(",")[-1].strip()
            try:
                return str(ipaddress.ip_address(last))
            except ValueError:  # not an address: not something to write in the audit
                return remote
        return remote

    def _session(self, request: web.Request) -> Session | None:
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        key = _digest(cookie)
        session = self.sessions.get(key)
        if session is None:
            return None
        if session.expires <= time.time():
            del self.sessions[key]
            return None
        return session

    def _refuse(self, status: int, reason: str) -> web.Response:
        page = _NOT_SIGNED_IN.format(reason=reason)
        return web.Response(status=status, text=page, content_type="text/html", headers=self._headers(html=True))

    @staticmethod
    def _headers(*, html: bool) -> dict[str, str]:
        headers = {"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
                   "X-Frame-Options": "DENY", "X-Robots-Tag": "noindex"}
        if html:
            headers.update({"Cache-Control": "no-store", "Content-Security-Policy": CSP})
        return headers

    def _sign_in(self, request: web.Request, token: str) -> web.Response:
        if not redeem(self.state_path, token):
            return self._refuse(403, "This sign-in URL was already used, has expired, or is not one of this "
                                     "server's (each URL works once).")
        cookie = secrets.token_urlsafe(32)
        self.sessions[_digest(cookie)] = Session(time.time() + SESSION_SECONDS)
        # A page that moves on to `/` rather than a 303: a SameSite=Strict cookie is not sent on a redirect
        # that follows a link clicked on another site (a chat, a webmail), and the page's own navigation is
        # same-site. The token leaves the address bar either way.
        response = web.Response(text=_SIGNED_IN, content_type="text/html", headers=self._headers(html=True))
        response.set_cookie(COOKIE, cookie, httponly=True, samesite="Strict", secure=self._secure(request),
                            path="/", max_age=SESSION_SECONDS)
        return response

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        """Every request passes here first: Host, sign-in, session cookie, websocket Origin."""
        if not self._host_allowed(request):
            return self._refuse(403, "This server does not answer to that host name (start it with "
                                     "--public-url for a proxy's name).")
        if request.path == "/" and "token" in request.query:
            return self._sign_in(request, request.query["token"])
        if self._session(request) is None:
            return self._refuse(401, "This browser has no session with the server.")
        if request.path == "/ws" and not self._origin_allowed(request):
            return self._refuse(403, "A websocket from another site is refused.")
        response = await handler(request)
        if not response.prepared:
            response.headers.update(self._headers(html=request.path == "/"))
        return response

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard)
        return app

    async def handle_index(self, request: web.Request) -> web.Response:
        """The page, with every URL on this server (as the browser reached it: through ssh -L or a proxy)."""
        scheme = "wss" if self._secure(request) else "ws"
        body = PAGE.render(
            title="client-portal",
            static="/static/",
            websocket_url=f"{scheme}://{request.host}/ws",
            font_size=to_int(request.query.get("fontsize", "16"), 16),
        )
        return web.Response(text=body, content_type="text/html")

    def _session_environment(self, request: web.Request) -> dict[str, str]:
        name = _hostname(request.host)
        try:
            loopback_name = name == "localhost" or ipaddress.ip_address(name).is_loopback
        except ValueError:
            loopback_name = False
        # Browsers give `navigator.clipboard` (which textual.js's OSC 52 handler calls) only to secure
        # contexts: https pages, and http pages on localhost / 127.0.0.1.
        secure_context = self._secure(request) or loopback_name
        return {**self.database_environment, WEB_CLIENT_ENV: self.client_address(request),
                WEB_CLIPBOARD_ENV: "browser" if secure_context else "none"}

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """textual-serve's handler, with a `DashboardSession` that carries the browser's address."""
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        app_service: DashboardSession | None = None
        try:
            await websocket.prepare(request)
            self._websockets.add(websocket)
            app_service = DashboardSession(
                self.command,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,
                download_manager=self.download_manager,
                debug=self.debug,
                extra_environment=self._session_environment(request),
            )
            await app_service.start(width, height)
            try:
                await self._process_messages(websocket, app_service)
            finally:
                await app_service.stop()
        except asyncio.CancelledError:
            await websocket.close()
        except Exception as error:  # one browser's broken session must not stop the server
            log.exception(error)
        finally:
            if app_service is not None:
                await app_service.stop()
            self._websockets.discard(websocket)
        return websocket

    async def on_startup(self, app: web.Application) -> None:
        """textual-serve prints its logo here; `start` says what matters instead."""

    async def on_shutdown(self, app: web.Application) -> None:
        """Close every browser's websocket, so each dashboard quits now rather than at aiohttp's timeout."""
        for websocket in list(self._websockets):
            await websocket.close(code=1001, message=b"server stopping")

    # --- running ---------------------------------------------------------------------------------------------

    async def start(self) -> str:
        """Bind, record the state file, and return the first one-time URL.

        Raises:
            PortalError: the port is taken, or another server runs for this database.
        """
        self._runner = web.AppRunner(await self._make_app(), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            hint = "choose another with --port" if exc.errno == errno.EADDRINUSE else "check --host"
            raise PortalError(f"cannot listen on {self.host} port {self.port}: {reason}; {hint}") from None
        sockets = site._server.sockets if site._server else []  # the port the system chose for port 0
        if sockets:
            self.port = sockets[0].getsockname()[1]
        try:
            claim_state(self.state_path, self._origin(), self._owner)
        except PortalError:
            await self._runner.cleanup()
            raise
        return self.new_url()

    async def stop(self) -> None:
        """Close every session (each dashboard process is told to quit) and remove the state file."""
        try:
            if self._runner is not None:
                await self._runner.cleanup()
        finally:
            release_state(self.state_path, self._owner)

    def run(self, announce: Callable[[str], None]) -> None:
        """Serve until SIGINT or SIGTERM; `announce` is given the first one-time URL."""
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")

        async def serve() -> None:
            stopping = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stopping.set)
            url = await self.start()
            try:
                announce(url)
                await stopping.wait()
            finally:
                await self.stop()

        asyncio.run(serve())
