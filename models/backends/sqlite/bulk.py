"""SQLite's bulk insert for a CSV import: one prepared `INSERT OR IGNORE`, and the contact table's insert triggers
and secondary indexes set aside (dropped inside the import's transaction) and made again from their own SQL in
`sqlite_master`, exactly as they were."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime

from models.backends.sqlite.schema import place_unranked, renumber_names
from models.base import database

INSERT_TRIGGERS = ("contact_search_insert", "contact_count_insert", "contact_rank_insert", "contact_fts_insert")
"""The insert triggers on contact (schema v2-v8) an import sets aside, each replaced by work done once: every row
comes with its search_text (the search trigger only fills in an empty one, and `search_text` never makes one), the
count per status is raised once by the number of rows, and the new contacts get their ranks in name order and
their search index entries at the end (`InsertUpkeep.restore`). Row by row, the first two add about 60% to each
insert, and the search index's makes it about ten times slower. A trigger not named here stays, and fires for
each row as it would for any insert."""


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

    def restore(self, *, inserted: int, after_id: int, status: str | Mapping[str, int]) -> None:
        dropped = {name for name, _ in self.triggers}
        if "contact_count_insert" in dropped and inserted:
            for each, n in (status.items() if isinstance(status, Mapping) else [(status, inserted)]):
                database.execute_sql(
                    "INSERT INTO contact_status_count (status, n) VALUES (?, ?) "
                    "ON CONFLICT (status) DO UPDATE SET n = n + excluded.n",
                    (each, n),
                )
        for _, sql in self.triggers:
            database.execute_sql(sql)
        if inserted:
            # The new contacts' ranks in name order, and their index entries. A big import (its indexes set
            # aside) numbers everyone again and fills the index in rank order, an append for FTS5, before the
            # indexes are built; a smaller one places each new contact between its neighbours.
            if self.indexes:
                renumber_names(database)
            else:
                place_unranked(database)
        for _, sql in self.indexes:
            database.execute_sql(sql)
