"""SQLite's bulk insert for a CSV import: one prepared `INSERT OR IGNORE`, and the contact table's insert triggers
and secondary indexes set aside (dropped inside the import's transaction) and made again from their own SQL in
`sqlite_master`, exactly as they were."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from models.backends.sqlite.schema import SEARCH_INDEX_FILL
from models.base import database

INSERT_TRIGGERS = ("contact_search_insert", "contact_count_insert", "contact_fts_insert")
"""The insert triggers on contact (schema v2-v4) an import sets aside, each replaced by work done once: every row
comes with its search_text (the search trigger only fills in an empty one, and `search_text` never makes one), the
count per status is raised once by the number of rows, and the search index is filled in one statement. Row by
row, the first two add about 60% to each insert, and the search index's makes it about ten times slower. A
trigger not named here stays, and fires for each row as it would for any insert."""


def insert_contacts(rows: Sequence[tuple], columns: Sequence[str]) -> int:
    """Insert contact rows with one prepared statement, skipping an address that is a contact already; returns
    how many went in."""
    sql = 'INSERT OR IGNORE INTO "contact" ({}) VALUES ({})'.format(
        ", ".join(f'"{name}"' for name in columns), ", ".join("?" * len(columns))
    )
    cursor = database.cursor()
    cursor.executemany(sql, rows)
    return cursor.rowcount


def db_time(value):
    """A timestamp as sqlite3's adapter would store it: done once for a bulk statement, not once per row."""
    if isinstance(value, datetime):
        return sqlite3.adapters.get((datetime, sqlite3.PrepareProtocol), str)(value)
    return value


class InsertUpkeep:
    """The insert triggers (and, for a big import, the secondary indexes) of `contact`, dropped inside the
    import's IMMEDIATE transaction: a failure rolls the schema back with the rows."""

    def __init__(self) -> None:
        self.triggers = self._drop("trigger", f"AND name IN ({', '.join(repr(n) for n in INSERT_TRIGGERS)})")
        self.indexes: list[tuple[str, str]] = []

    def suspend_indexes(self) -> None:
        # Not the UNIQUE index on email: it is the constraint, and how duplicates are found.
        self.indexes = self._drop("index", "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'")

    @staticmethod
    def _drop(kind: str, condition: str) -> list[tuple[str, str]]:
        found = database.execute_sql(
            f"SELECT name, sql FROM sqlite_master WHERE type = ? AND tbl_name = 'contact' {condition} ORDER BY rowid",
            (kind,),
        ).fetchall()
        for name, _ in found:
            database.execute_sql(f'DROP {kind.upper()} "{name}"')
        return found

    def restore(self, *, inserted: int, after_id: int, status: str) -> None:
        dropped = {name for name, _ in self.triggers}
        if "contact_count_insert" in dropped and inserted:
            database.execute_sql(
                "INSERT INTO contact_status_count (status, n) VALUES (?, ?) "
                "ON CONFLICT (status) DO UPDATE SET n = n + excluded.n",
                (status, inserted),
            )
        if "contact_fts_insert" in dropped and inserted:
            database.execute_sql(f"{SEARCH_INDEX_FILL} WHERE id > ?", (after_id,))
        for _, sql in self.triggers + self.indexes:
            database.execute_sql(sql)
