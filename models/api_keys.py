"""API keys: what an agency's portal presents (`Authorization: Bearer <key>`) to exchange a handoff code.

A key is 32 random bytes from `secrets` behind a `cpk_` prefix (so a leaked one is recognisable in a log or a
repository scan). Like magic links, only its SHA-256 is stored: `create_key` returns the key once and it cannot be
shown again; a lost key is revoked and replaced. Keys are named (`billing-portal`), listed by name and the first
characters of the key, and revoked by name; a revoked key's row stays for the record.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from models import audit, clock
from models.db import write_transaction
from models.entities import ApiKey
from models.errors import InvalidInput, NotFound

KEY_PREFIX = "cpk_"
"""Every key starts with this: a key pasted where it should not be is easy to find and to name."""

KEY_BYTES = 32

SHOWN_CHARS = 12
"""How much of a key `list_keys` shows (the prefix and 8 random characters: enough to tell keys apart)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEY_SHAPE = re.compile(r"^cpk_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class ApiKeyRow:
    """A key as `api-keys list` shows it (never the key itself)."""

    name: str
    prefix: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None


@dataclass(frozen=True)
class NewKey:
    """A key just made: `key` is the only copy there will ever be."""

    row: ApiKeyRow
    key: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _row(k: ApiKey) -> ApiKeyRow:
    return ApiKeyRow(k.name, k.prefix, k.created_at, k.created_by, k.last_used_at)


def check_name(name: str) -> str:
    """A key name: 1-64 letters, digits, dots, dashes or underscores, starting with a letter or digit."""
    text = (name or "").strip()
    if not _NAME.match(text):
        raise InvalidInput(
            f"{text[:80]!r} is not a key name: use 1-64 letters, digits, '.', '-' or '_' (e.g. billing-portal)"
        )
    return text


def _live(name: str) -> ApiKey | None:
    return ApiKey.get_or_none((ApiKey.name == name) & ApiKey.revoked_at.is_null())


@write_transaction
def create_key(name: str) -> NewKey:
    """Make a key named `name` (unique among the keys in use) and return it, the only time it is shown."""
    name = check_name(name)
    if _live(name) is not None:
        raise InvalidInput(f"a key named {name} already exists; revoke it first or choose another name")
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    row = ApiKey.create(name=name, key_hash=hash_key(key), prefix=key[:SHOWN_CHARS], created_at=clock.now(),
                        created_by=audit.current_actor())
    audit.record("api_key.create", subject=name, detail=f"{row.prefix}…")
    return NewKey(_row(row), key)


def list_keys() -> list[ApiKeyRow]:
    """The keys in use, by name."""
    return [_row(k) for k in ApiKey.select().where(ApiKey.revoked_at.is_null()).order_by(ApiKey.name)]


@write_transaction
def revoke_key(name: str) -> ApiKeyRow:
    """Stop a key from working at once. Its row is kept (revoked) for the record."""
    name = check_name(name)
    key = _live(name)
    if key is None:
        raise NotFound(f"no API key named {name}; see: client-portal api-keys list")
    key.revoked_at = clock.now()
    key.revoked_by = audit.current_actor()
    key.save()
    audit.record("api_key.revoke", subject=name, detail=f"{key.prefix}…")
    return _row(key)


def authenticate(key: str) -> str | None:
    """The name of the key in use that `key` is, or None (wrong, malformed or revoked). Reads only."""
    if not isinstance(key, str) or not _KEY_SHAPE.match(key):
        return None
    digest = hash_key(key)
    row = ApiKey.get_or_none((ApiKey.key_hash == digest) & ApiKey.revoked_at.is_null())
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return row.name


def mark_used(name: str) -> bool:
    """Record that key `name` was just used; False if it was revoked meanwhile. Call inside the transaction of
    what the key was used for, so a key revoked a moment before cannot still complete it."""
    return (
        ApiKey.update(last_used_at=clock.now())
        .where((ApiKey.name == name) & ApiKey.revoked_at.is_null())
        .execute()
        == 1
    )


__all__ = ["ApiKeyRow", "NewKey", "authenticate", "create_key", "list_keys", "mark_used", "revoke_key"]
