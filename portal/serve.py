"""Running the portal service: uvicorn serving `create_app`, with the outbox sender inside, until SIGTERM or Ctrl+C.

uvicorn's own access log is off: it prints each request's full path, and a magic link's path is its token.
`portal.middleware.RequestLog` writes one line per request instead, with the token redacted. Proxy headers are
handled by the app (`trusted_proxies`), not by uvicorn, so the tests and the server trust the same addresses.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
from collections.abc import Iterable
from pathlib import Path

import uvicorn

from mail.config import MailConfig
from models.errors import PortalError
from portal.app import DEFAULT_TRUSTED_PROXIES, create_app

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    """One plain line per event on stderr (journald or a terminal), for our loggers and uvicorn's."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    for name in ("portal", "mail", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def build_server(
    db_path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    trusted_proxies: Iterable[str] = DEFAULT_TRUSTED_PROXIES,
    run_sender: bool = True,
    mail_config: MailConfig | None = None,
    **app_options,
) -> uvicorn.Server:
    """A uvicorn server for the portal (not started: call `run()`, or `serve()` in a thread and set
    `should_exit` to stop it). `port=0` lets the system pick a free port: read it from `bound_port` once
    `started` is true."""
    app = create_app(db_path, trusted_proxies=trusted_proxies, run_sender=run_sender, mail_config=mail_config,
                     **app_options)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        proxy_headers=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    return uvicorn.Server(config)


def bound_port(server: uvicorn.Server) -> int:
    """The port a started server listens on (the one the system chose for `port=0`)."""
    return server.servers[0].sockets[0].getsockname()[1]


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to `host` and `port`, before anything else starts: a port in use or an address that is not
    this machine's is said in one line, and the app (and its sender) never start for a server that cannot run.

    Raises:
        PortalError: the address cannot be listened on, with why and what to change.
    """
    # The family as uvicorn picks it (IPv6 only for an address with a colon), so `--host localhost` still means
    # 127.0.0.1, where the proxy examples connect, even on a host that resolves localhost to ::1 first.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart over TIME_WAIT
        sock.bind((host, port))
    except OSError as exc:  # socket.gaierror too: a name that does not resolve
        sock.close()
        hint = "choose another with --port" if exc.errno in (errno.EADDRINUSE, errno.EACCES) else "check --host"
        raise PortalError(f"cannot listen on {host} port {port}: {_reason(exc)}; {hint}") from None
    sock.set_inheritable(True)
    return sock


def _reason(exc: OSError) -> str:
    """The system's words for a socket error, lower case ("address already in use")."""
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def serve(db_path: str | Path, *, sockets: list[socket.socket] | None = None, **options) -> None:
    """Serve until SIGTERM or Ctrl+C (uvicorn handles both: it stops accepting, finishes what is in flight,
    then the app stops its sender). `sockets`: already bound by `listen` (else uvicorn binds host and port)."""
    build_server(db_path, **options).run(sockets=sockets)


__all__ = ["bound_port", "build_server", "configure_logging", "listen", "serve"]
