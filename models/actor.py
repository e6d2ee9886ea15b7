"""Who is acting: the real OS account, and where the session says it came from.

The account comes from the process's user id (`pwd.getpwuid(os.getuid())`), never from `USER` or `LOGNAME`: those
are ordinary environment variables anyone can set (`USER=boss client-portal revoke ...`). An address comes from the
environment too (`SSH_CONNECTION`), so it is recorded with its source and marked as reported, not proven:
`ssh:203.0.113.7 (reported)`. Another source (a web client's address) is one more entry in `HOST_SOURCES`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping


def current_actor() -> str:
    """The name recorded as `invited_by`, `revoked_by` and in the audit log: the account the process runs as."""
    uid = os.getuid()
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):  # no passwd entry (some containers), or no pwd module (Windows)
        return f"uid:{uid}"


def _first_address(value: str) -> str | None:
    """The first word of `value` when it is an IP address (`SSH_CONNECTION` is `client port server port`)."""
    words = value.split()
    if not words:
        return None
    try:
        return str(ipaddress.ip_address(words[0]))
    except ValueError:
        return None


def _ssh_client(environ: Mapping[str, str]) -> str | None:
    value = environ.get("SSH_CONNECTION") or environ.get("SSH_CLIENT")
    if not value:
        return None
    return _first_address(value) or "unreadable"


def _web_client(environ: Mapping[str, str]) -> str | None:
    """The browser's address under `client-portal web`: set by our own web server for each dashboard it starts
    (the socket's peer, or a trusted proxy's X-Forwarded-For), so it is not merely reported by the session."""
    value = environ.get("CLIENT_PORTAL_WEB_CLIENT")
    if not value:
        return None
    return _first_address(value) or "unreadable"


HOST_SOURCES: list[tuple[str, Callable[[Mapping[str, str]], str | None], str]] = [
    ("web", _web_client, "{address} (web)"),
    ("ssh", _ssh_client, "ssh:{address} (reported)"),
]
"""Where a client address may come from, in order: (label, reader of the environment, how it is recorded). The
first that finds one is recorded; an SSH address is marked as reported by the session, not proven."""


def current_host(environ: Mapping[str, str] | None = None) -> str | None:
    """Where the session comes from, labelled with the source, or None for a local session."""
    environ = os.environ if environ is None else environ
    for _label, read, shown in HOST_SOURCES:
        address = read(environ)
        if address:
            return shown.format(address=address)
    return None
