"""The base every model shares: the deferred database and a UTC timestamp field."""

from __future__ import annotations

from datetime import datetime, timezone

import peewee

from models.db import database


def to_db_time(value: datetime | None) -> datetime | None:
    """A datetime as the timestamp columns store it (naive UTC), for statements written as SQL text."""
    if value is not None and value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


class UTCDateTimeField(peewee.DateTimeField):
    """Stores naive UTC text (sortable, what SQLite's date functions expect) and hands back aware UTC datetimes."""

    def db_value(self, value):
        if isinstance(value, datetime):
            value = to_db_time(value)
        return super().db_value(value)

    def python_value(self, value):
        value = super().python_value(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class BaseModel(peewee.Model):
    """Binds every table to the shared deferred database."""

    class Meta:
        database = database
        legacy_table_names = False
