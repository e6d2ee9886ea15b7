"""Schema upgrades, one function per `PRAGMA user_version` step; later versions append to `UPGRADES`."""

from __future__ import annotations

from collections.abc import Callable

import peewee

from models.entities import ALL_MODELS


def _v1(db: peewee.SqliteDatabase) -> None:
    db.create_tables(ALL_MODELS)
    # The outbox sender looks for the next due row of a status; the table pages by name.
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS outbox_message_due ON outbox_message (status, next_attempt_at)"
    )
    db.execute_sql("CREATE INDEX IF NOT EXISTS contact_names ON contact (last_name, first_name)")
    db.execute_sql("CREATE INDEX IF NOT EXISTS magic_link_open ON magic_link (contact_id, purpose, created_at)")


UPGRADES: dict[int, Callable[[peewee.SqliteDatabase], None]] = {1: _v1}
"""Upgrade to version N from N-1."""
