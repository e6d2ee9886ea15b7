"""Settings shared by every admin of one database (stored in it), with their defaults and validation."""

from __future__ import annotations

from dataclasses import dataclass

from models.db import database, write_transaction
from models.entities import Setting
from models.errors import InvalidInput


@dataclass(frozen=True)
class SettingSpec:
    key: str
    default: str
    help: str
    kind: type = str


SPECS = {
    spec.key: spec
    for spec in (
        SettingSpec("invite_ttl_hours", "168", "hours an invitation link stays valid", int),
        SettingSpec("login_ttl_hours", "24", "hours a login link stays valid", int),
        SettingSpec("agency_name", "Your agency", "the sender name shown in emails"),
        SettingSpec("send_rate", "10", "emails sent per second at most", float),
        SettingSpec("max_attempts", "5", "times a temporary mail failure is retried", int),
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
    if spec.kind is str and not value:
        raise InvalidInput(f"{key} cannot be empty")
    Setting.insert(key=key, value=value).on_conflict_replace().execute()
    audit.record("setting", subject=key, detail=value)


def all_settings() -> dict[str, str]:
    """Every setting with its current value, as text."""
    return {key: str(get(key)) for key in SPECS}
