"""Who is acting: the OS user, and the SSH client's host when the session came in over SSH."""

from __future__ import annotations

import getpass
import os


def current_actor() -> str:
    """The name recorded as `invited_by`, `revoked_by` and in the audit log."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = os.environ.get("USER") or f"uid:{os.getuid()}"
    return user


def current_host() -> str | None:
    """Where the session is: the browser's address under `client-portal web` (`CLIENT_PORTAL_WEB_CLIENT`, set by
    the web server for each dashboard it starts), the SSH client's address from `SSH_CLIENT` (`host port port`),
    or None for a local session."""
    web_client = os.environ.get("CLIENT_PORTAL_WEB_CLIENT")
    if web_client:
        return f"{web_client} (web)"
    value = os.environ.get("SSH_CLIENT") or os.environ.get("SSH_CONNECTION")
    if not value:
        return None
    return value.split()[0] or None
