"""The search index filled after a big import, in the background (issue 12): the import commits its contacts without
their name ranks (and so without search index entries) and returns; `fill` then ranks them in name order and indexes
them, a chunk of contacts per short IMMEDIATE transaction, while searches answer through LIKE (`search.ranked`).

Every chunk leaves the file consistent: the ranks of the ranked contacts follow the name order, and the index holds
exactly the ranked contacts' entries (it is contentless: deleting an entry that is not there corrupts it). A chunk
takes the next contacts in name order after the last one placed, ranked or not, and gives them new ranks between
the ranked contact just before them and the ranked one just after them (each entry of theirs deleted and made
again), in rank order (FTS5 appends). A filler killed between chunks loses nothing: the next one starts again at
the first contact without a rank.

One filler at a time per file: an advisory lock (`flock`) on `<file>-searchfill`, which a killed process lets go.
Who fills, and when: `models.search_fill`."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from models.backends.sqlite.schema import (
    _INDEX_TEXT,
    NAME_GAP,
    NAME_ORDER,
    RANK_INDEX,
    RENUMBER_SHARE,
    SEARCH_INDEX,
    _fill_buffer,
    _neighbour_sql,
    create_search_index_triggers,
    place_unranked,
    renumber_names,
)

FILL_CHUNK = 20_000
"""Contacts ranked and indexed per transaction: each holds the write lock a fraction of a second (other writers
wait up to the busy timeout, `database.BUSY_TIMEOUT_MS`), and each flushes one FTS5 segment."""

WHOLE_LIMIT = 150_000
"""Up to this many contacts, the fill is one transaction: everyone renumbered in name order and the index filled
as an append, then the indexes built (about 0.7 s at 100k, where the chunks take twice as long in all)."""

LOCK_SUFFIX = "-searchfill"

DEFERRED_INDEXES = "contact_index_pending"
"""The contact table's secondary indexes a big import left for the fill to build (name, SQL as it was in
`sqlite_master`): made by the import when it defers some (`defer_indexes`), dropped by the fill once it built
them. Until then the lists they serve (a status, a date order) scan the table: slower, never wrong."""

FILL_READS = ("contact_names", RANK_INDEX)
"""The indexes the fill itself reads (the name order, the ranks): it builds them first, the others once every
contact is ranked."""

_INDEX_TRIGGERS = ("contact_fts_insert", "contact_fts_update", "contact_fts_delete")
_INDEXED = _INDEX_TEXT.format(p="").replace("search_text", "?")


def _rows(db, sql: str, params=()) -> list[tuple]:
    return db.execute_sql(sql, params).fetchall()


def pending(db) -> bool:
    """Whether some contact has no name rank yet (and so is not in the search index), or indexes wait to be built
    again (`DEFERRED_INDEXES`)."""
    return db.execute_sql("SELECT EXISTS (SELECT 1 FROM contact WHERE name_rank IS NULL) OR EXISTS (SELECT 1 FROM "
                          f"sqlite_master WHERE type = 'table' AND name = '{DEFERRED_INDEXES}')").fetchone()[0] == 1


def unranked(db) -> bool:
    return db.execute_sql("SELECT 1 FROM contact WHERE name_rank IS NULL LIMIT 1").fetchone() is not None


def defer_indexes(db, indexes: list[tuple[str, str]]) -> None:
    """Record indexes (name, SQL) the caller dropped for the fill to build, in the caller's transaction."""
    db.execute_sql(f"CREATE TABLE IF NOT EXISTS {DEFERRED_INDEXES} (name TEXT PRIMARY KEY, sql TEXT NOT NULL) "
                   "WITHOUT ROWID")
    for name, sql in indexes:
        db.execute_sql(f"INSERT OR IGNORE INTO {DEFERRED_INDEXES} (name, sql) VALUES (?, ?)", (name, sql))


def build_deferred_indexes(db, only: tuple[str, ...] | None = None) -> int:
    """Build the indexes a big import left (`DEFERRED_INDEXES`; `only`: those of these names), one per transaction
    (each holds the write lock about as long as a chunk of the fill at a million contacts), then drop the list
    once it is empty; how many were built."""
    built = 0
    names = f"AND name IN ({', '.join('?' * len(only))})" if only else ""
    while True:
        with db.atomic("IMMEDIATE"):
            if not db.execute_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                  (DEFERRED_INDEXES,)).fetchone():
                return built
            row = db.execute_sql(f"SELECT name, sql FROM {DEFERRED_INDEXES} WHERE true {names} ORDER BY name "
                                 "LIMIT 1", only or ()).fetchone()
            if row is None:
                if not only:
                    db.execute_sql(f"DROP TABLE {DEFERRED_INDEXES}")
                return built
            name, sql = row
            if not db.execute_sql("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
                                  (name,)).fetchone():
                db.execute_sql(sql)
                built += 1
            db.execute_sql(f"DELETE FROM {DEFERRED_INDEXES} WHERE name = ?", (name,))


def lock_path(db_path: str | Path) -> Path:
    return Path(str(db_path) + LOCK_SUFFIX)


@contextmanager
def fill_lock(db_path: str | Path) -> Iterator[bool]:
    """The one-filler-per-file lock: yields True when this process holds it, False when another does. The lock
    file is made owner-only, never through a link, and removed by the holder when done (a process that opened it
    meanwhile sees that the file it locked is gone, and gives up)."""
    path = lock_path(db_path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        yield False  # cannot make it (a link planted there, a read-only folder): leave the fill to another opener
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
        except OSError:
            same = False
        if not same:  # the holder before us removed it after we opened it: a new one is someone else's
            yield False
            return
        try:
            yield True
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass
    finally:
        os.close(fd)


def fill(db, db_path: str | Path, *, chunk: int = FILL_CHUNK, whole: int = WHOLE_LIMIT) -> bool:
    """Rank and index every contact without a rank, unless another process is filling this file (then False at
    once). Runs its own transactions: call it outside any. A table of at most `whole` contacts is done in one
    transaction, as an import used to; a bigger one a chunk at a time. Passes again if an import landed meanwhile;
    checks once more after letting the lock go, so an import that found the lock taken is not left unfilled."""
    did = False
    for _ in range(8):
        if not pending(db):
            return did
        with (nullcontext(True) if str(db_path) == ":memory:" else fill_lock(db_path)) as held:
            if not held:
                return did
            with db.atomic("IMMEDIATE"):
                small = _rows(db, "SELECT COUNT(*) FROM contact")[0][0] <= whole
                if small:  # everyone numbered again (an append for FTS5), then the indexes: a second or less
                    if unranked(db):
                        place_unranked(db, inline_limit=None)
                    build_deferred_indexes(db)
            if small:
                did = True
                continue
            did = build_deferred_indexes(db, only=FILL_READS) > 0 or did
            for _ in range(8):  # more passes only while imports keep landing
                if not unranked(db):
                    break
                fill_pass(db, chunk=chunk)
                did = True
            if not unranked(db):  # the ranks first: the lists those indexes serve work meanwhile
                did = build_deferred_indexes(db) > 0 or did
    return did


def fill_pass(db, *, chunk: int = FILL_CHUNK) -> int:
    """One pass over the name order from the first contact without a rank (or from the first contact, when the
    ranks there leave no room); returns how many contacts were given new ranks."""
    with db.atomic("IMMEDIATE"):
        everyone, missing = _rows(db, "SELECT (SELECT COUNT(*) FROM contact), "
                                      "(SELECT COUNT(*) FROM contact WHERE name_rank IS NULL)")[0]
        if not missing:
            return 0
        if everyone <= chunk or missing * RENUMBER_SHARE <= everyone:
            place_unranked(db, inline_limit=None)  # a few, or a small table: one short transaction
            return missing
        order = NAME_ORDER.format(p="")
        first = _rows(db, f"SELECT last_name, first_name, id FROM contact WHERE name_rank IS NULL "
                          f"ORDER BY {order} LIMIT 1")[0]
        before = _rows(db, _neighbour_sql(True, "?, ?, ?"), first)
        p0 = before[0][0] if before else None
        s0 = _successor(db, p0, set())
        need = (everyone + 1024) * NAME_GAP
        if p0 is not None and (s0 is None or s0 - p0 > need):
            cursor, inclusive, base = first, True, p0  # resume where the ranks stop (a filler killed before)
        else:
            low = _rows(db, "SELECT MIN(name_rank) FROM contact")[0][0]
            cursor, inclusive, base = None, False, (0 if low is None else low - 2 * need)
    moved = 0
    while True:
        with db.atomic("IMMEDIATE"):
            done, cursor = _fill_chunk(db, cursor, inclusive, base, chunk)
        inclusive = False
        moved += done
        if cursor is None:
            return moved


def _successor(db, rank: int | None, members: set[int]) -> int | None:
    """The lowest rank above `rank` (any, with None) held by a contact not in `members`: in a file whose ranks
    follow the name order, the ranked contact after the members, when they are the ranked ones right after the
    contact holding `rank`."""
    where, params = ("WHERE name_rank > ?", (rank,)) if rank is not None else ("WHERE name_rank IS NOT NULL", ())
    for contact_id, found in _rows(db, f"SELECT id, name_rank FROM contact {where} ORDER BY name_rank "
                                       f"LIMIT {len(members) + 1}", params):
        if contact_id not in members:
            return found
    return None


def _fill_chunk(db, cursor, inclusive: bool, base: int, chunk: int):
    """Rank and index the next `chunk` contacts in name order after `cursor` (a name-order key; None: from the
    first); returns (how many, the last one's key, or None when none were left)."""
    order = NAME_ORDER.format(p="")
    if cursor is None:
        rows = _rows(db, f"SELECT id, last_name, first_name, name_rank, search_text FROM contact "
                         f"ORDER BY {order} LIMIT ?", (chunk,))
    else:
        op = ">=" if inclusive else ">"
        rows = _rows(db, f"SELECT id, last_name, first_name, name_rank, search_text FROM contact "
                         f"WHERE (last_name, first_name, id) {op} (?, ?, ?) ORDER BY {order} LIMIT ?",
                     (*cursor, chunk))
    if not rows:
        return 0, None
    contact_id, last, first_name = rows[0][:3]
    before = _rows(db, _neighbour_sql(True, "?, ?, ?"), (last, first_name, contact_id))
    low = before[0][0] if before else base
    ranked = [row for row in rows if row[3] is not None]
    high = _successor(db, before[0][0] if before else None, {row[0] for row in ranked})
    n = len(rows)
    step = NAME_GAP
    if high is not None and low + (n + 1) * NAME_GAP > high:
        step = (high - low) // (n + 1)
        if step < 1:  # no room between the neighbours (never seen): number everyone again, in this transaction
            renumber_names(db)
            return n, None
    cursor_out = (rows[-1][1], rows[-1][2], rows[-1][0])
    for name in _INDEX_TRIGGERS:
        db.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
    cur = db.cursor()
    # Old entries out (in rank order), then new ranks and entries in (in rank order: appends for FTS5).
    cur.executemany(f"INSERT INTO {SEARCH_INDEX} ({SEARCH_INDEX}, rowid, text) VALUES ('delete', ?, {_INDEXED})",
                    sorted((row[3], row[4]) for row in ranked))
    new = [(low + i * step, row[0], row[4]) for i, row in enumerate(rows, 1)]
    cur.executemany("UPDATE contact SET name_rank = ? WHERE id = ?", [(rank, cid) for rank, cid, _ in new])
    with _fill_buffer(db):
        cur.executemany(f"INSERT INTO {SEARCH_INDEX} (rowid, text) VALUES (?, {_INDEXED})",
                        [(rank, text) for rank, _, text in new])
    create_search_index_triggers(db)
    return n, cursor_out
