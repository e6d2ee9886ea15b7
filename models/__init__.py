"""The model layer: Peewee on the engine `models.db.open_database` picks (`models.backends`: SQLite by default) and
the domain operations on it. Knows nothing of Textual or SMTP.

Peewee imports psycopg when it is itself imported, if psycopg is installed: that loads libpq and registers every
adapter, 90-240 ms of the dashboard's start, paid on SQLite too. So Peewee is imported here with psycopg hidden,
and the PostgreSQL backend binds the driver to Peewee when it first makes a database
(`models.backends.postgres.database.bind_driver`). Code that imported Peewee or psycopg before this package keeps
Peewee as it found it.
"""

import sys as _sys

if "peewee" not in _sys.modules and "psycopg" not in _sys.modules:
    _sys.modules["psycopg"] = None  # type: ignore[assignment]  # `import psycopg` raises ImportError meanwhile
    try:
        import peewee  # noqa: F401
    finally:
        del _sys.modules["psycopg"]
