"""The base every model shares: the deferred database and a UTC timestamp field.

`database` is a `peewee.DatabaseProxy`: `models.db.open_database` points it at the engine's database object (the
SQLite file, or a PostgreSQL server). This module imports nothing else of `models`, so the tables
(`models.entities`) and each engine's schema code (`models.backends`) can import it without a loop.
"""

from __future__ import annotations

from datetime import datetime, timezone

import peewee


class PortalDatabaseProxy(peewee.DatabaseProxy):
    """Peewee's database proxy, except that once initialised its transactions are the engine database's own:
    Peewee's proxy would make plain ones, and the SQLite database's savepoint carries a fix (a rollback after
    SQLite already undid the transaction must not hide the error that made it; `models.backends.sqlite`)."""

    __slots__ = ("obj", "_callbacks", "_Model")

    def atomic(self, *args, **kwargs):
        return self.obj.atomic(*args, **kwargs) if self.obj is not None else super().atomic(*args, **kwargs)

    def transaction(self, *args, **kwargs):
        return self.obj.transaction(*args, **kwargs) if self.obj is not None else super().transaction(*args, **kwargs)

    def savepoint(self):
        return self.obj.savepoint() if self.obj is not None else super().savepoint()

    # Before `open_database`, answer as the deferred `SqliteDatabase(None)` it replaces did: nothing is open.
    @property
    def database(self):
        """The open database's name (an SQLite file's path); None before `open_database`."""
        return self.obj.database if self.obj is not None else None

    def is_closed(self) -> bool:
        return self.obj is None or self.obj.is_closed()

    def close(self) -> bool:
        return self.obj.close() if self.obj is not None else False


database = PortalDatabaseProxy()
"""The deferred database every model binds to; `models.db.open_database` initialises it."""


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
