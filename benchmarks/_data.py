"""Bench data: a database of N contacts in every status, written straight through sqlite3 (1M in ~20 s).

The schema is made by `models.db.open_database`, so the benchmarks measure the real tables and indexes.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.db import SCHEMA_VERSION, database, open_database  # noqa: E402
from models.demo import COMPANIES, FIRST, LAST  # noqa: E402
from models.schema import SEARCH_INDEX_FILL, create_search_index_triggers, drop_search_index_triggers  # noqa: E402

STATUSES = ("not_invited", "invited", "joined", "revoked")
CACHE = Path("/tmp/client-portal-bench")


def _stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def make_database(count: int, path: Path | None = None) -> Path:
    """A database with `count` contacts (cached between runs under /tmp, keyed by count and schema version)."""
    path = path or CACHE / f"contacts-{count}-v{SCHEMA_VERSION}.db"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    open_database(tmp)
    database.close()
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA synchronous=off")
    conn.execute("PRAGMA cache_size=-400000")
    now = datetime(2026, 11, 24, tzinfo=timezone.utc)
    conn.execute("INSERT INTO domain (name, is_default, is_selected, created_at) VALUES (?,1,0,?)",
                 ("portal.example.com", _stamp(now)))
    start = time.perf_counter()
    batch, links = [], []
    # Build the indexes once at the end (a sort) instead of row by row (random B-tree inserts).
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('contact', 'magic_link')"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    drop_search_index_triggers(conn)  # filled in one statement at the end, as an import does
    with conn:
        for n in range(count):
            first, last, company = FIRST[n % len(FIRST)], LAST[(n * 7) % len(LAST)], COMPANIES[(n * 3) % len(COMPANIES)]
            email = f"{first}.{last}.{n}@example.com".lower()
            status = STATUSES[(n * 13) % 20 // 6 if (n * 13) % 20 < 18 else 3]
            invited = _stamp(now - timedelta(minutes=n % 90_000)) if status != "not_invited" else None
            joined = invited if status == "joined" else None
            expires = _stamp(now + timedelta(days=7) - timedelta(minutes=2 * (n % 90_000)))
            batch.append((email, first, last, company, "", invited or _stamp(now), _stamp(now), status, invited,
                          1 if invited else 0, joined, joined, f"{first} {last} {email} {company}",
                          expires if status == "invited" else None))
            if status == "invited":
                links.append((n + 1, "invite", f"{n:064x}", invited, "bench", expires))
            if len(batch) >= 20_000:
                _flush(conn, batch, links)
        _flush(conn, batch, links)
    for _, sql in indexes:
        conn.execute(sql)
    with conn:
        conn.execute(SEARCH_INDEX_FILL)
        create_search_index_triggers(conn)
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    tmp.rename(path)
    print(f"  (made {count:,} contacts in {time.perf_counter() - start:.1f} s: {path})", file=sys.stderr)
    return path


def _flush(conn: sqlite3.Connection, batch: list, links: list) -> None:
    conn.executemany(
        "INSERT INTO contact (email, first_name, last_name, company, phone, created_at, updated_at, status, "
        "invited_at, invite_count, joined_at, last_login_at, search_text, invite_expires_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        batch,
    )
    conn.executemany(
        "INSERT INTO magic_link (contact_id, purpose, token_hash, created_at, created_by, expires_at) "
        "VALUES (?,?,?,?,?,?)",
        links,
    )
    batch.clear()
    links.clear()
