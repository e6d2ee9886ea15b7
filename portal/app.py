"""The portal service's Starlette app: explicit routes, the pages, and the wiring (middleware, sender, limits).

| route | does |
| --- | --- |
| `GET`/`HEAD /login/<token>` | the confirm page (one button); changes nothing |
| `POST /login/<token>` | same-origin check, CSRF field, then redeem: 303 to the callback with a code, or "signed in" |
| `GET /`, `GET /login` | the form to ask for a new link |
| `POST /login` | `email=`: the same answer for every address; rate-limited per address and per client |
| `POST /api/v1/exchange` | `portal.api`: a handoff code for the contact, once |
| `GET /healthz` | 200 `ok` when the database answers |
| `GET /portal.css` | the pages' stylesheet (served here so the CSP can forbid everything else) |

Every bad link (malformed, unknown, expired, used, superseded, revoked) gets `BAD_LINK_STATUS` and the same page;
the reason goes to the audit log. Database work runs on the app's own database thread, one thread with a queue
and a connection to this app's database, so the event loop never waits on SQLite and confirmations never contend
for SQLite's write lock (or the GIL) among themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import jinja2
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from mail.config import MailConfig
from models import handoff, settings
from models.contacts import normalize_email
from models.db import changes_token, connection_in_transaction, data_dir_for, database, open_database, write_lock
from models.errors import InvalidInput, PortalError, RedeemFailed
from portal import api
from portal.middleware import DEFAULT_CSP, RequestLog, SecurityHeaders, apply_security_headers

log = logging.getLogger("portal")

BAD_LINK_STATUS = 404
"""The one status of every bad link: it says "nothing here" without saying whether the link ever existed."""

DEFAULT_TRUSTED_PROXIES = ("127.0.0.1", "::1")
"""Whose `X-Forwarded-Proto`/`-For` are believed by default: a TLS proxy on the same host (Caddy, nginx)."""

ADDRESS_LIMIT = "3/15minutes"
"""New-link requests per email address (whoever asks): enough for a person, too few to flood an inbox."""

CLIENT_LIMIT = "20/hour"
"""New-link requests per client address: one office behind one address, not a script trying a list."""

REFUSAL_AUDIT_LIMIT = "30/hour"
"""Audit entries for refused links per client: a scanner fetching a dead link again and again, or trying random
paths, fills the request log, not the audit table."""

MAX_FORM_BYTES = 4096
"""Largest form body read; our forms send well under 1 kB."""

RESULTS_BATCH = 16
"""Most jobs the database thread takes from its queue at once: the answers it hands back to the event loop in one
wake-up, and the confirmations that share one COMMIT (see `DatabaseThread`)."""

PAGES = Path(__file__).resolve().parent / "pages"

CACHED_PAGES = frozenset({"signed_in.html", "bad_link.html", "refused.html", "not_found.html"})
"""Pages rendered once for each set of values (agency, first name) and then served from memory: they hold no
secret and nothing that changes between two requests with the same values (the confirm page holds a CSRF field,
so it is rendered every time)."""

T = TypeVar("T")


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PAGES), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
        auto_reload=False,  # the pages ship with the code: no stat() of the template file on every request
    )


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (`BodyTooLarge`) one longer than `limit` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def _form(body: bytes) -> dict[str, str]:
    """An urlencoded form's fields, first value of each (bad UTF-8 replaced: it can only fail the checks)."""
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    return {name: values[0] for name, values in fields.items()}


@functools.lru_cache(maxsize=1024)
def _origin_key(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL or origin, with the scheme's default port filled in; None if unreadable.
    Cached: a server sees a handful of origins, and every form POST asks for two."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def _own_origin(request: Request) -> tuple[str, str, int] | None:
    """`_origin_key` of the URL the request was made to (what `request.url` says: the scheme, after the trusted
    proxy's word, and the Host header, else the server's address), without building the whole URL."""
    scope = request.scope
    host = request.headers.get("host")
    if host is None:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else ""
    return _origin_key(f"{scope.get('scheme', 'http')}://{host}/")


def same_origin(request: Request) -> bool:
    """Whether a form POST comes from one of our own pages.

    Browsers send `Origin` on every POST; it must be ours. A page served with `Referrer-Policy: no-referrer` (all
    of ours) makes Chromium and Firefox send `Origin: null` instead, so then the Fetch Metadata header
    `Sec-Fetch-Site: same-origin`, which pages cannot forge, must vouch for it. Without either (an old browser,
    or a script), a `Referer` of ours is accepted. Anything that says cross-site is refused.
    """
    own = _own_origin(request)
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        return _origin_key(origin) == own
    if site == "same-origin":
        return True
    if origin == "null":
        return False
    referer = request.headers.get("referer")
    return referer is not None and _origin_key(referer) == own


def _with_code(callback: str, code: str) -> str:
    """The callback URL with `code=<code>` added to whatever query it already has."""
    parts = urlsplit(callback)
    query = parts.query + ("&" if parts.query else "") + urlencode({"code": code})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _callback_origin(callback: str) -> str:
    parts = urlsplit(callback)
    return f"{parts.scheme}://{parts.netloc}"


_STOP = object()


class _Job:
    __slots__ = ("func", "future", "loop", "grouped")

    def __init__(self, func, future, loop, grouped: bool) -> None:
        self.func, self.future, self.loop, self.grouped = func, future, loop, grouped


class DatabaseThread:
    """The app's database work: one thread, one connection, a queue of jobs done in the order asked.

    SQLite lets one writer in at a time anyway. With a pool of eight threads a burst of confirmations spent its
    time handing SQLite's write lock and the GIL around (`benchmarks/portal_confirm.py`: more CPU a confirmation
    and a longer tail than one thread working through a queue); the reads are a few hundred microseconds each, so
    they wait behind the writes for no longer. Answers go back to the event loop in batches, one wake-up for all
    the jobs done since the last, and without `concurrent.futures`' futures (a lock and a condition each).

    Group commit: write jobs marked `grouped` (confirmations) that are waiting in the queue together run in one
    write transaction (`models.db.write_lock`: SQLite's `BEGIN IMMEDIATE`) ... `COMMIT`, each inside a SAVEPOINT of
    its own. A job that fails (a bad link) rolls back its savepoint and only that; the others land together at the
    COMMIT, and no answer of the group is handed back before the COMMIT succeeded. Should the group's transaction
    fail as a whole (the lock busy, the disk full), nothing of it landed, and each job runs again on its own,
    through its own transaction, as if it had never been grouped. A commit a group instead of a commit a
    confirmation: the WAL frames of the link's, the contact's and the audit's pages are written once for the group.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="portal-db", daemon=True)
        self._thread.start()

    def run(self, func: Callable[[], T], *, grouped: bool = False) -> asyncio.Future[T]:
        """`func()` on the database thread; await the answer on the running event loop. `grouped`: `func` is
        one write transaction's work (it calls `write_transaction` functions only), and may share a COMMIT."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put(_Job(func, future, loop, grouped))
        return future

    def call(self, func: Callable[[], T]) -> T:
        """`func()` on the database thread, waited for from another thread (the lifespan's start)."""
        future: Future[T] = Future()
        self._jobs.put(_Job(func, future, None, False))
        return future.result()

    def close(self) -> None:
        """Finish the jobs already queued, then end the thread and close its connection."""
        self._jobs.put(_STOP)
        self._thread.join()

    def _work(self) -> None:
        try:
            following = None
            while True:
                job = following if following is not None else self._jobs.get()
                following = None
                if job is _STOP:
                    return
                batch = [job]
                while len(batch) < RESULTS_BATCH:  # the jobs of the same kind waiting right behind it
                    try:
                        after = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if after is _STOP or after.grouped != job.grouped:
                        following = after
                        break
                    batch.append(after)
                if job.grouped and len(batch) > 1:
                    answers = self._run_group(batch)
                else:
                    answers = [self._run_one(one) for one in batch]
                self._hand_back(answers)
        finally:
            database.close()  # this thread's connection (Peewee keeps one a thread)

    @staticmethod
    def _run_one(job: _Job) -> tuple[_Job, object, BaseException | None]:
        try:
            return job, job.func(), None
        except BaseException as exc:  # noqa: BLE001 -- handed to whoever awaits it
            return job, None, exc

    def _run_group(self, batch: list[_Job]) -> list[tuple[_Job, object, BaseException | None]]:
        answers: list[tuple[_Job, object, BaseException | None]] = []
        try:
            with write_lock():
                for job in batch:
                    try:
                        with database.savepoint():
                            answers.append((job, job.func(), None))
                    except Exception as exc:  # noqa: BLE001 -- this job's own failure, its savepoint undone
                        if not connection_in_transaction():
                            raise  # the engine ended the whole transaction: the group is lost, run it again below
                        answers.append((job, None, exc))
        except Exception:  # noqa: BLE001 -- nothing of the group landed: each job on its own, as if never grouped
            return [self._run_one(job) for job in batch]
        return answers

    @staticmethod
    def _hand_back(answers: list[tuple[_Job, object, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for job, result, error in answers:
            if job.loop is None:
                if error is None:
                    job.future.set_result(result)
                else:
                    job.future.set_exception(error)
            else:
                by_loop.setdefault(job.loop, []).append((job.future, result, error))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits any more
                loop.call_soon_threadsafe(_settle, settled)


def _confirm_atomically(token: str, *, issue_code: bool, client: str) -> handoff.Confirmed:
    """`handoff.confirm`, undone entirely when it fails, also inside a group's transaction (`DatabaseThread`):
    there `write_transaction` opens no transaction of its own, so a savepoint stands in for it."""
    if not database.in_transaction():
        return handoff.confirm(token, issue_code=issue_code, client=client)
    with database.savepoint():
        return handoff.confirm(token, issue_code=issue_code, client=client)


def _settle(answers: list) -> None:
    for future, result, error in answers:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


class SettingsCache:
    """The settings every page reads (`agency_name`, `portal_callback_url`), read again only when the database
    changed: the engine's change token (`models.db.changes_token`; SQLite's data version on this thread's
    connection) moves whenever another connection (the dashboard, the CLI, a test) commits, and the portal itself
    never writes a setting. One small read a request instead of two SELECTs and their checks."""

    def __init__(self) -> None:
        self._connection = None
        self._version = -1
        self._values: tuple[str, str] = ("", "")

    def get(self) -> tuple[str, str]:
        """(agency name, portal callback URL); call on a database thread."""
        connection = database.connection()
        version = changes_token()
        if connection is not self._connection or version != self._version:
            self._values = (settings.get("agency_name"), settings.get("portal_callback_url"))
            self._connection, self._version = connection, version
        return self._values

    def agency(self) -> str:
        return self.get()[0]


class Portal:
    """The app's state and its route handlers (bound methods, wired by `create_app`)."""

    def __init__(
        self,
        *,
        sender_config: MailConfig | None,
        address_limit: str,
        client_limit: str,
    ) -> None:
        self.pages = _environment()
        self.settings = SettingsCache()
        self._rendered = functools.lru_cache(maxsize=1024)(self._render)
        self.css = (PAGES / "portal.css").read_bytes()
        self.pool: DatabaseThread | None = None
        self.sender_config = sender_config
        self.sender = None
        self.running = 0
        # One process, so the counters live in its memory (`limits`' MemoryStorage); several processes behind
        # one proxy would each count on their own (use `limits`' Redis storage then).
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.address_limit: RateLimitItem = parse(address_limit)
        self.client_limit: RateLimitItem = parse(client_limit)
        self.refusal_audit_limit: RateLimitItem = parse(REFUSAL_AUDIT_LIMIT)
        self.writes = threading.Lock()
        """Held around this process's write transactions. SQLite lets one writer in at a time; threads of one
        process queueing here wait exactly as long as needed, where SQLite's busy handler would have them sleep
        and retry (sleeps of up to 100 ms, so a burst of confirmations took far longer than the writes)."""

    # --- plumbing ---

    async def db(self, func: Callable[..., T], *args, grouped: bool = False, **kwargs) -> T:
        """Run `func` on the app's database thread (`grouped`: see `DatabaseThread.run`)."""
        if self.pool is None:  # used without its lifespan (a test client outside `with`)
            self.pool = DatabaseThread()
        call = functools.partial(func, *args, **kwargs) if args or kwargs else func
        return await self.pool.run(call, grouped=grouped)

    def locked(self, func: Callable[..., T]) -> Callable[..., T]:
        """`func` run while holding `writes` (for a function that writes)."""

        @functools.wraps(func)
        def run(*args, **kwargs):
            with self.writes:
                return func(*args, **kwargs)

        return run

    def page(self, name: str, status: int = 200, headers: dict[str, str] | None = None,
             background: BackgroundTask | None = None, **context) -> HTMLResponse:
        if name in CACHED_PAGES:
            body = self._rendered(name, tuple(sorted(context.items())))
        else:
            body = self.pages.get_template(name).render(**context)
        return HTMLResponse(body, status_code=status, headers=headers, background=background)

    def _render(self, name: str, context: tuple[tuple[str, str], ...]) -> str:
        return self.pages.get_template(name).render(**dict(context))

    @staticmethod
    def client(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    # --- pages ---

    async def request_form(self, request: Request) -> Response:
        agency = await self.db(self.settings.agency)
        return self.page("request.html", agency=agency, email="", error="")

    async def show_link(self, request: Request) -> Response:
        """GET/HEAD: the confirm page for a good link, the bad-link page otherwise. Writes nothing but the audit
        line of a refusal."""
        token = request.path_params["token"]
        view, agency, callback, csrf = await self.db(self._look, token)
        if not view.valid:
            if request.method == "GET":
                await self._refused(request, token, view.reason)
            return self.page("bad_link.html", BAD_LINK_STATUS, agency=agency, email="")
        csp = DEFAULT_CSP
        if callback:
            csp = csp.replace("form-action 'self'", f"form-action 'self' {_callback_origin(callback)}")
        return self.page("confirm.html", headers={"content-security-policy": csp}, agency=agency,
                         first_name=view.first_name, purpose=view.purpose, csrf=csrf)

    def _look(self, token: str) -> tuple[handoff.LinkView, str, str, str]:
        view = handoff.peek(token)
        csrf = handoff.csrf_token(token) if view.valid else ""
        agency, callback = self.settings.get()
        return view, agency, callback, csrf

    async def _refused(self, request: Request, token: str, reason: str) -> None:
        """Audit a bad link, while this client's budget of audit entries lasts."""
        client = self.client(request)
        if not self.limiter.hit(self.refusal_audit_limit, "audit", client):
            return
        try:
            await self.db(self.locked(handoff.record_refusal), token, reason, client=client, method=request.method)
        except PortalError as exc:  # the database busy: the visitor's answer does not depend on the audit
            log.warning("could not audit a refused link: %s", exc)

    async def confirm_link(self, request: Request) -> Response:
        """POST: the button on the confirm page. Redeems the link, atomically, and hands the contact over."""
        token = request.path_params["token"]
        if not same_origin(request):
            agency = await self.db(self.settings.agency)
            return self.page("refused.html", 403, agency=agency)
        try:
            fields = _form(await read_body(request, MAX_FORM_BYTES))
        except BodyTooLarge:
            fields = {}
        outcome = await self.db(self._confirm, token, fields.get("csrf"), self.client(request), grouped=True)
        kind, agency, value = outcome
        if kind == "csrf":
            return self.page("refused.html", 403, agency=agency)
        if kind == "bad":
            await self._refused(request, token, value)
            return self.page("bad_link.html", BAD_LINK_STATUS, agency=agency, email="")
        if kind == "redirect":
            return RedirectResponse(value, status_code=303)
        return self.page("signed_in.html", agency=agency, first_name=value)

    def _confirm(self, token: str, csrf: str | None, client: str) -> tuple[str, str, str]:
        agency, callback = self.settings.get()
        if not handoff.csrf_ok(token, csrf):
            return "csrf", agency, ""
        try:
            with self.writes:
                done = _confirm_atomically(token, issue_code=bool(callback), client=client)
        except RedeemFailed as exc:
            return "bad", agency, exc.reason
        if done.code is not None:
            return "redirect", agency, _with_code(callback, done.code)
        return "signed_in", agency, done.contact.first_name

    async def ask_for_link(self, request: Request) -> Response:
        """POST /login: queue a login email for an invited or joined address. The answer is the same for every
        well-formed address, and the lookup runs after it is sent, so its time tells nothing either."""
        agency = await self.db(self.settings.agency)
        if not same_origin(request):
            return self.page("refused.html", 403, agency=agency)
        client = self.client(request)
        if not self.limiter.hit(self.client_limit, "client", client):
            return self._too_many(agency, self.client_limit, "client", client)
        try:
            fields = _form(await read_body(request, MAX_FORM_BYTES))
        except BodyTooLarge:
            fields = {}
        given = fields.get("email", "")
        try:
            address = normalize_email(given)
        except InvalidInput:
            return self.page("request.html", 400, agency=agency, email=given[:320],
                             error="Please enter a whole email address, such as ada@example.com.")
        if not self.limiter.hit(self.address_limit, "address", address):
            return self._too_many(agency, self.address_limit, "address", address)
        return self.page("sent.html", agency=agency,
                         background=BackgroundTask(self._request_link, address, client))

    def _too_many(self, agency: str, item: RateLimitItem, *keys: str) -> Response:
        reset = self.limiter.get_window_stats(item, *keys).reset_time
        wait = max(1, int(reset - time.time()) + 1)
        return self.page("too_many.html", 429, headers={"retry-after": str(wait)}, agency=agency)

    async def _request_link(self, address: str, client: str) -> None:
        try:
            queued = await self.db(self.locked(handoff.request_login_link), address, client=client)
        except PortalError as exc:
            log.error("a requested login email could not be queued: %s", exc)
            return
        if queued and self.sender is not None:
            self.sender.wake()

    async def healthz(self, request: Request) -> Response:
        try:
            await self.db(lambda: database.execute_sql("SELECT 1").fetchone())
        except Exception as exc:  # noqa: BLE001 -- any failure means "not healthy", said plainly
            return PlainTextResponse(f"database unavailable: {type(exc).__name__}", status_code=503)
        return PlainTextResponse("ok")

    async def stylesheet(self, request: Request) -> Response:
        return Response(self.css, media_type="text/css")

    # --- errors ---

    async def not_found(self, request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return api.error(404, "not_found", "no such endpoint")
        agency = await self.db(self.settings.agency)
        return self.page("not_found.html", 404, agency=agency)

    async def server_error(self, request: Request, exc: Exception) -> Response:
        """The 500 page. Starlette sends it from outside the middleware, so it carries the headers itself."""
        response = HTMLResponse(self.pages.get_template("error.html").render(agency="Client portal"), 500)
        apply_security_headers(MutableHeaders(raw=response.raw_headers))
        return response

    # --- life ---

    def start(self) -> None:
        """Lifespan start (counted: several test clients may each run the lifespan of one app)."""
        self.running += 1
        if self.running > 1:
            return
        if self.pool is None:
            self.pool = DatabaseThread()
        with contextlib.suppress(PortalError):
            self.pool.call(self.locked(handoff.purge_codes))
        if self.sender_config is not None and self.sender is None:
            from mail.outbox import SenderThread

            self.sender = SenderThread(self.sender_config, report=_log_summary)
            self.sender.start()

    def stop(self) -> None:
        self.running -= 1
        if self.running > 0:
            return
        if self.sender is not None:
            self.sender.stop(timeout=30)
            self.sender = None
        if self.pool is not None:
            self.pool.close()  # its connection closes with it
            self.pool = None


def _log_summary(summary) -> None:
    log.info("outbox: sent %d, failed %d, skipped %d, waiting to retry %d", summary.sent, len(summary.failed),
             len(summary.skipped), summary.retrying)


def create_app(
    db_path: str | Path,
    *,
    trusted_proxies: Iterable[str] = DEFAULT_TRUSTED_PROXIES,
    run_sender: bool = False,
    mail_config: MailConfig | None = None,
    address_limit: str = ADDRESS_LIMIT,
    client_limit: str = CLIENT_LIMIT,
) -> Starlette:
    """The portal service for the database at `db_path` (opened and brought up to date here).

    Args:
        db_path: The database the dashboard and the CLI use (an SQLite file or a `postgresql://` URL).
        trusted_proxies: Addresses (or networks) whose `X-Forwarded-Proto`/`-For` are believed; empty: none.
        run_sender: Run the outbox sender in a background thread while the app runs (`serve` does).
        mail_config: Where the sender sends; by default from the environment, as `outbox send` does.
        address_limit: New-link requests allowed per email address (`limits` notation, e.g. "3/15minutes").
        client_limit: New-link requests allowed per client address.
    """
    open_database(db_path)
    if run_sender and mail_config is None:
        mail_config = MailConfig.from_env(data_dir_for(db_path))
    portal = Portal(sender_config=mail_config if run_sender else None, address_limit=address_limit,
                    client_limit=client_limit)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await asyncio.get_running_loop().run_in_executor(None, portal.start)
        try:
            yield
        finally:
            await asyncio.get_running_loop().run_in_executor(None, portal.stop)

    routes = [
        Route("/", portal.request_form, methods=["GET"]),
        Route("/login", _by_method(portal.request_form, portal.ask_for_link), methods=["GET", "POST"]),
        Route("/login/{token:path}", _by_method(portal.show_link, portal.confirm_link), methods=["GET", "POST"]),
        Route("/api/v1/exchange", functools.partial(api.exchange, portal), methods=["POST"]),
        Route("/healthz", portal.healthz, methods=["GET"]),
        Route("/portal.css", portal.stylesheet, methods=["GET"]),
    ]
    middleware = []
    proxies = [p for p in trusted_proxies if p]
    if proxies:
        middleware.append(Middleware(ProxyHeadersMiddleware, trusted_hosts=proxies))
    middleware += [Middleware(RequestLog), Middleware(SecurityHeaders)]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: portal.not_found, 500: portal.server_error},
        lifespan=lifespan,
    )
    app.state.portal = portal
    return app


def _by_method(get, post):
    """One endpoint for a path that answers GET (and HEAD) with `get` and POST with `post`: one route per path, so
    a method it does not take gets a 405 whose `Allow` names all three (two routes for one path answered with the
    first route's methods only, leaving POST out)."""

    async def endpoint(request: Request) -> Response:
        return await (post if request.method == "POST" else get)(request)

    return endpoint


__all__ = ["BAD_LINK_STATUS", "Portal", "create_app", "same_origin"]
