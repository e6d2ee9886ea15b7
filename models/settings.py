"""Settings shared by every admin of one database (stored in it), with their defaults and validation.

Every setting has a range, checked when it is set (the message says the range). A value stored out of range
anyway (by an older version, or by hand) is clamped into it when read, and text that is not allowed reads as the
default: sending never meets an hour count that overflows a date or a rate of 1e-300 per second.
"""

from __future__ import annotations

import ipaddress
import math
import unicodedata
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
    minimum: float | None = None
    """The smallest number allowed (int and float settings)."""
    maximum: float | None = None
    """The largest number allowed (int and float settings)."""
    max_length: int = 200
    """The longest text allowed (str settings)."""
    check: Callable[[str], str] | None = None
    """Validates (and may normalise) a text value; a setting with a check may be set to "" (unset)."""
    wanted: str | None = None
    """The allowed values in words, where a range does not say them (a URL, or "" for none)."""

    def describe_range(self) -> str:
        """The allowed values in words, for messages and `client-portal settings`."""
        if self.wanted is not None:
            return self.wanted
        if self.kind is int:
            return f"a whole number from {self.minimum:g} to {self.maximum:g}"
        if self.kind is float:
            return f"a number from {self.minimum:g} to {self.maximum:g}"
        return f"text of 1 to {self.max_length} characters"


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class InvalidSetting(InvalidInput):
    """A setting's value was refused. `str()` names the setting by its key, as the command line spells it;
    `detail` is the rest of the sentence, for a form that shows it under the setting's own label."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"{key} {detail}")
        self.key = key
        self.detail = detail


def check_callback_url(value: str) -> str:
    """`portal_callback_url`: an https URL with a host (http only on loopback, for trying it out), or "" for none."""
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError:
        raise InvalidSetting("portal_callback_url", f"{value!r} is not a URL") from None
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in value) or parts.username or parts.password or parts.fragment:
        raise InvalidSetting("portal_callback_url", "must be a plain URL: no spaces, credentials or #fragment")
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and _loopback(host))):
        raise InvalidSetting(
            "portal_callback_url", f"must be an https:// URL (http:// only on 127.0.0.1 or localhost), got {value!r}"
        )
    if "code" in parse_qs(parts.query, keep_blank_values=True):
        raise InvalidSetting("portal_callback_url", "cannot have a code= parameter: the portal adds its own")
    return value


SPECS = {
    spec.key: spec
    for spec in (
        SettingSpec("invite_ttl_hours", "168", "hours an invitation link stays valid", int, 1, 8760),
        SettingSpec("login_ttl_hours", "24", "hours a login link stays valid", int, 1, 720),
        SettingSpec("agency_name", "Your agency", "the sender name shown in emails", max_length=100),
        SettingSpec("send_rate", "10", "emails sent per second at most", float, 0.01, 1000),
        SettingSpec("max_attempts", "5", "times a temporary mail failure is retried", int, 1, 100),
        SettingSpec("portal_callback_url", "", "where a confirmed link sends the contact", max_length=2000,
                    check=check_callback_url,
                    wanted='an https:// URL of up to 2000 characters, or "" for none'),
    )
}


def _forbidden_character(text: str) -> str | None:
    """The first character a setting's text may not hold: controls (line breaks reach mail headers) and
    format characters such as the bidi overrides U+202A-U+202E and U+2066-U+2069, which reorder what is shown."""
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            return f"U+{ord(ch):04X}"
    return None


def _parse(spec: SettingSpec, text: str):
    """`text` as the setting's kind and within its range.

    Raises:
        InvalidInput: the value has the wrong kind or is out of range; the message gives the range.
    """
    wanted = spec.describe_range()
    if spec.kind is str:
        if spec.check is not None and len(text) <= spec.max_length:
            return spec.check(text)
        if not text:
            raise InvalidSetting(spec.key, f"cannot be empty: it must be {wanted}")
        if len(text) > spec.max_length:
            raise InvalidSetting(spec.key, f"is {len(text)} characters long: it must be {wanted}")
        bad = _forbidden_character(text)
        if bad:
            raise InvalidSetting(spec.key, f"may not contain control or direction characters ({bad})")
        return text
    shown = text if len(text) <= 40 else text[:40] + "…"
    try:
        value = spec.kind(text)
    except (ValueError, OverflowError):
        raise InvalidSetting(spec.key, f"must be {wanted}, got {shown!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidSetting(spec.key, f"must be {wanted}, got {shown!r}")
    if not spec.minimum <= value <= spec.maximum:
        raise InvalidSetting(spec.key, f"must be {wanted}, got {shown!r}")
    return value


def _read(spec: SettingSpec, raw: str | None):
    """A stored value as the setting's kind: the default when unset or unreadable, a number clamped into range."""
    if raw is None:
        raw = spec.default
    if spec.kind is str:
        if spec.check is not None:
            try:
                return spec.check(raw) if len(raw) <= spec.max_length else spec.default
            except InvalidInput:
                return spec.default
        if not raw or len(raw) > spec.max_length or _forbidden_character(raw):
            return spec.default
        return raw
    try:
        value = spec.kind(raw)
    except (ValueError, OverflowError):
        return spec.kind(spec.default)
    if isinstance(value, float) and math.isnan(value):
        return spec.kind(spec.default)
    return spec.kind(min(max(value, spec.minimum), spec.maximum))


def get(key: str):
    """The value of `key`, converted to its kind; the default when unset, clamped into its range when out of it."""
    spec = SPECS[key]
    row = database.execute_sql('SELECT "value" FROM "setting" WHERE "key" = ?', (key,)).fetchone()
    return _read(spec, row[0] if row is not None else None)


@write_transaction
def set_value(key: str, value: str) -> None:
    """Store `value` for `key` after checking it has the right kind and is within the setting's range.

    Raises:
        InvalidInput: unknown setting, wrong kind, or out of range; nothing was stored.
    """
    from models import audit

    spec = SPECS.get(key)
    if spec is None:
        raise InvalidInput(f"unknown setting {key!r}; known: {', '.join(SPECS)}")
    converted = _parse(spec, value.strip())
    stored = converted if spec.kind is str else str(converted)
    Setting.insert(key=key, value=stored).on_conflict_replace().execute()
    audit.record("setting", subject=key, detail=stored)


def check_value(key: str, value: str) -> str:
    """`value` as `set_value` would store it for `key` (stripped, converted, checked), without storing it.

    Raises:
        InvalidInput: as `set_value`, with the same message.
    """
    spec = SPECS.get(key)
    if spec is None:
        raise InvalidInput(f"unknown setting {key!r}; known: {', '.join(SPECS)}")
    converted = _parse(spec, value.strip())
    return converted if spec.kind is str else str(converted)


class SettingsRefused(InvalidInput):
    """`set_values` refused one or more values; `problems` maps each refused key to its message, `refusals` to the
    refusal itself (its `detail` reads under a form's label)."""

    def __init__(self, refusals: dict[str, InvalidInput]) -> None:
        super().__init__("; ".join(str(refusal) for refusal in refusals.values()))
        self.refusals = refusals
        self.problems = {key: str(refusal) for key, refusal in refusals.items()}


@write_transaction
def set_values(values: dict[str, str]) -> None:
    """Store several settings at once, all or none: each is checked as `set_value` checks it.

    Raises:
        SettingsRefused: one or more values were refused (each with `set_value`'s message); nothing was stored.
    """
    problems = {}
    for key, value in values.items():
        try:
            check_value(key, value)
        except InvalidInput as exc:
            problems[key] = exc
    if problems:
        raise SettingsRefused(problems)
    for key, value in values.items():
        set_value(key, value)


def all_settings() -> dict[str, str]:
    """Every setting with its current value, as text."""
    return {key: str(get(key)) for key in SPECS}
