"""Settings shared by every admin of one database (stored in it), with their defaults and validation."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from models.db import database, write_transaction
from models.entities import Setting
from models.errors import InvalidInput


@dataclass(frozen=True)
class SettingSpec:
    key: str
    default: str
    help: str
    kind: type = str
    check: Callable[[str], str] | None = None
    """Validates (and may normalise) a text value; a setting with a check may be set to "" (unset)."""


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_callback_url(value: str) -> str:
    """`portal_callback_url`: an https URL with a host (http only on loopback, for trying it out), or "" for none."""
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError:
        raise InvalidInput(f"portal_callback_url {value!r} is not a URL") from None
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in value) or parts.username or parts.password or parts.fragment:
        raise InvalidInput("portal_callback_url must be a plain URL: no spaces, credentials or #fragment")
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and _loopback(host))):
        raise InvalidInput(
            f"portal_callback_url must be an https:// URL (http:// only on 127.0.0.1 or localhost), got {value!r}"
        )
    if "code" in parse_qs(parts.query, keep_blank_values=True):
        raise InvalidInput("portal_callback_url cannot have a code= parameter: the portal adds its own")
    return value


SPECS = {
    spec.key: spec
    for spec in (
        SettingSpec("invite_ttl_hours", "168", "hours an invitation link stays valid", int),
        SettingSpec("login_ttl_hours", "24", "hours a login link stays valid", int),
        SettingSpec("agency_name", "Your agency", "the sender name shown in emails"),
        SettingSpec("send_rate", "10", "emails sent per second at most", float),
        SettingSpec("max_attempts", "5", "times a temporary mail failure is retried", int),
        SettingSpec("portal_callback_url", "", "where a confirmed link sends the contact (https URL; \"\" for none)",
                    check=check_callback_url),
    )
}


def get(key: str):
    """The value of `key`, converted to its kind; the default when unset."""
    spec = SPECS[key]
    row = database.execute_sql('SELECT "value" FROM "setting" WHERE "key" = ?', (key,)).fetchone()
    raw = row[0] if row is not None else spec.default
    try:
        return spec.kind(raw)
    except ValueError:
        return spec.kind(spec.default)


@write_transaction
def set_value(key: str, value: str) -> None:
    """Store `value` for `key` after checking it has the right kind and a sensible range."""
    from models import audit

    spec = SPECS.get(key)
    if spec is None:
        raise InvalidInput(f"unknown setting {key!r}; known: {', '.join(SPECS)}")
    value = value.strip()
    try:
        converted = spec.kind(value)
    except ValueError:
        raise InvalidInput(f"{key} must be a {spec.kind.__name__}, got {value!r}") from None
    if spec.kind in (int, float) and converted <= 0:
        raise InvalidInput(f"{key} must be greater than 0")
    if spec.check is not None:
        value = spec.check(value)
    elif spec.kind is str and not value:
        raise InvalidInput(f"{key} cannot be empty")
    Setting.insert(key=key, value=value).on_conflict_replace().execute()
    audit.record("setting", subject=key, detail=value)


def all_settings() -> dict[str, str]:
    """Every setting with its current value, as text."""
    return {key: str(get(key)) for key in SPECS}
