"""SQLite's bulk insert for a CSV import: one prepared `INSERT OR IGNORE`, and the contact table's insert triggers
and secondary indexes set aside (dropped inside the import's transaction) and made again from their own SQL in
`sqlite_master`, exactly as they were."""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from models.backends.sqlite import fill
from models.backends.sqlite.schema import (
    _INDEX_TEXT,
    NAME_GAP,
    SEARCH_INDEX,
    _fill_buffer,
    place_unranked,
    renumber_names,
)
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
        self.other_indexes: list[tuple[str, str]] = []
        self.background_fill = False
        """Set by an import that starts the background fill once it returns (`models.backends.sqlite.fill`): then
        `restore` leaves the new contacts unranked (and out of the search index) when ranking them would renumber
        a table of more than `schema.INLINE_FILL_LIMIT` contacts."""

    def suspend_indexes(self, *, unique: bool = False) -> None:
        # Not the UNIQUE index on email (unless `unique`: a `db copy`, whose source holds no duplicate, and which
        # names one the index's rebuild refuses): it is the constraint, and how an import finds duplicates.
        self.indexes = self._drop("index", "AND sql IS NOT NULL"
                                  + ("" if unique else " AND sql NOT LIKE 'CREATE UNIQUE%'"))

    def suspend_table_indexes(self, tables: Sequence[str]) -> None:
        """Every index of `tables` (other than contact) with SQL of its own, unique ones too, set aside with the
        rest and built once by `restore`: for a load into empty tables (`db copy`), a sort instead of a B-tree
        insert per row and index. Not for a table whose triggers look rows up through its indexes."""
        marks = ", ".join("?" * len(tables))
        found = database.execute_sql(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks}) "
            "AND tbl_name <> 'contact' ORDER BY rowid", tuple(tables)).fetchall()
        for name, _ in found:
            database.execute_sql(f'DROP INDEX "{name}"')
        self.other_indexes += found

    def index_in_name_order(self, batches: Iterable[Sequence[tuple[int, str]]], ids: range,
                            count: int) -> NameRanks:
        """Fill the (empty) search index from (contact id, search text) pairs given in name order, before the
        contacts go in: each contact's rank is its place, NAME_GAP apart as `renumber_names` numbers them, and in
        rank order each entry is an append for FTS5 (in the larger buffer of `_fill_buffer`). Returns the ranks by
        id (`ids`: the range every id lies in, `count`: how many there are), for the contacts' rows;
        `restore(ranked=True)` then ranks and indexes nothing again."""
        ranks = NameRanks(ids, count)
        # The index's text of a bound value (VALUES: a SELECT from a one-row subquery per row fills 3x slower).
        indexed = _INDEX_TEXT.format(p="").replace("search_text", "?")
        sql = f"INSERT INTO {SEARCH_INDEX} (rowid, text) VALUES (?, {indexed})"
        cursor = database.cursor()
        placed = 0
        with _fill_buffer(database):
            for rows in batches:
                entries = [((placed + n) * NAME_GAP, text) for n, (_, text) in enumerate(rows, 1)]
                cursor.executemany(sql, entries)
                for (contact_id, _), (rank, _) in zip(rows, entries):
                    ranks[contact_id] = rank
                placed += len(rows)
        return ranks

    @staticmethod
    def _drop(kind: str, condition: str) -> list[tuple[str, str]]:
        found = database.execute_sql(
            f"SELECT name, sql FROM sqlite_master WHERE type = ? AND tbl_name = 'contact' {condition} ORDER BY rowid",
            (kind,),
        ).fetchall()
        for name, _ in found:
            database.execute_sql(f'DROP {kind.upper()} "{name}"')
        return found

    def restore(self, *, inserted: int, after_id: int, status: str | Mapping[str, int], ranked: bool = False) -> None:
        """Counts, triggers, ranks and index entries, indexes: as they were, with the new rows in them. `ranked`:
        the rows came with their ranks and index entries (`index_in_name_order`)."""
        dropped = {name for name, _ in self.triggers}
        deferred: list[tuple[str, str]] = []
        if "contact_count_insert" in dropped and inserted:
            for each, n in (status.items() if isinstance(status, Mapping) else [(status, inserted)]):
                database.execute_sql(
                    "INSERT INTO contact_status_count (status, n) VALUES (?, ?) "
                    "ON CONFLICT (status) DO UPDATE SET n = n + excluded.n",
                    (each, n),
                )
        for _, sql in self.triggers:
            database.execute_sql(sql)
        if inserted and not ranked:
            # The new contacts' ranks in name order, and their index entries. A big import (its indexes set
            # aside) numbers everyone again and fills the index in rank order, an append for FTS5, before the
            # indexes are built; a smaller one places each new contact between its neighbours. With
            # `background_fill`, a renumbering of a big table is left to the background fill.
            if self.background_fill:
                place_unranked(database)
                if self.indexes and fill.unranked(database):
                    # Left for the fill too: it builds the indexes it reads first, the others once it has ranked
                    # everyone (the lists they serve scan the table meanwhile).
                    deferred = list(self.indexes)
                    fill.defer_indexes(database, deferred)
            elif self.indexes:
                renumber_names(database)
            else:
                place_unranked(database, inline_limit=None)
        for name, sql in self.indexes + self.other_indexes:
            if (name, sql) not in deferred:
                database.execute_sql(sql)


class NameRanks:
    """Each contact's name rank by id (`InsertUpkeep.index_in_name_order`): a flat array over the id range
    (8 bytes an id: 8 MB for a million), or a dict where the ids are spread too thinly for one. 0: no rank."""

    def __init__(self, ids: range, count: int) -> None:
        self.low = ids.start
        dense = len(ids) <= 4 * count + 65_536
        self.ranks: array | dict[int, int] = array("q", bytes(8 * len(ids))) if dense else {}

    def __setitem__(self, contact_id: int, rank: int) -> None:
        self.ranks[contact_id - self.low] = rank

    def __getitem__(self, contact_id: int) -> int | None:
        if isinstance(self.ranks, dict):
            return self.ranks.get(contact_id - self.low)
        return self.ranks[contact_id - self.low] or None
