"""PostgreSQL's answer to a `ContactQuery`: each search word a LIKE over the search text lower-cased for ASCII
(`schema.SEARCH_KEY`), which the `pg_trgm` GIN index answers for words of three characters or more; the status
filter and the sort in plain SQL, which PostgreSQL's planner runs well on its own (no hints, unlike SQLite's).

The rows come back in exactly SQLite's order: text by code point (`COLLATE "C"`), timestamps with NULLs first
when ascending and last when descending, the same tie-breakers (`models.listing.SORT_KEYS`).
"""

from __future__ import annotations

from models import clock
from models.backends.postgres.schema import SEARCH_KEY
from models.base import database
from models.entities import STATUS_INVITED, Contact
from models.listing import (
    FILTER_EXPIRED,
    ROW_FIELDS,
    SORT_KEYS,
    ContactPage,
    ContactQuery,
    check_query,
    escape_like,
    search_words,
    tuples_to_rows,
)

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_TEXT_COLUMNS = {"first_name", "last_name", "email", "company", "status"}
_TIME_COLUMNS = {"invited_at", "last_login_at", "joined_at", "revoked_at"}

_COLUMNS = ", ".join(f'"{field.column_name}"' for field in ROW_FIELDS)


def _where(query: ContactQuery, words: list[str]) -> tuple[str, list]:
    """The WHERE clause (with `?` placeholders) for the status filter and every search word."""
    conditions: list[str] = []
    params: list = []
    if query.status == FILTER_EXPIRED:
        conditions.append("status = ? AND invite_expires_at <= ?")
        params += [STATUS_INVITED, Contact.invite_expires_at.db_value(clock.now())]
    elif query.status:
        conditions.append("status = ?")
        params.append(query.status)
    for word in words:
        conditions.append(f"{SEARCH_KEY} LIKE ? ESCAPE '\\'")
        params.append(f"%{escape_like(word.translate(_ASCII_LOWER))}%")
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), params


def _order(query: ContactQuery) -> str:
    """ORDER BY in SQLite's order (see the module docstring)."""
    direction = "DESC" if query.descending else "ASC"
    parts = []
    for field in SORT_KEYS[query.sort]:
        column = f'"{field.column_name}"'
        if field.column_name in _TEXT_COLUMNS:
            parts.append(f'{column} COLLATE "C" {direction}')
        elif field.column_name in _TIME_COLUMNS or field.null:
            parts.append(f"{column} {direction} NULLS {'LAST' if query.descending else 'FIRST'}")
        else:
            parts.append(f"{column} {direction}")
    return " ORDER BY " + ", ".join(parts)


def _all_contacts() -> int:
    return database.execute_sql("SELECT COALESCE(SUM(n), 0) FROM contact_status_count").fetchone()[0]


def count_matches(query: ContactQuery) -> int:
    """How many contacts match: from the counts the triggers keep when there is no search."""
    check_query(query)
    words = search_words(query.search)
    if not words and query.status != FILTER_EXPIRED:
        if query.status:
            row = database.execute_sql("SELECT n FROM contact_status_count WHERE status = ?", (query.status,))
            return (row.fetchone() or (0,))[0]
        return _all_contacts()
    where, params = _where(query, words)
    return database.execute_sql(f"SELECT COUNT(*) FROM contact{where}", params).fetchone()[0]


def search_window(query: ContactQuery, offset: int, limit: int, *, count: bool) -> ContactPage:
    """One window of the contacts that match `query`, filtered, sorted and paged in SQL. With `count` false a
    search's total may be a lower bound (`exact` false): the dashboard counts afterwards."""
    check_query(query)
    words = search_words(query.search)
    offset = max(0, offset)
    limit = max(0, limit)
    where, params = _where(query, words)
    sql = f"SELECT {_COLUMNS} FROM contact{where}{_order(query)} LIMIT ? OFFSET ?"
    rows = tuples_to_rows(database.execute_sql(sql, [*params, limit, offset]))
    if words and not count:
        if len(rows) < limit and (rows or offset == 0):
            return ContactPage(rows=rows, total=offset + len(rows), offset=offset)
        if rows:
            return ContactPage(rows=rows, total=offset + len(rows), offset=offset, exact=False)
    return ContactPage(rows=rows, total=count_matches(query), offset=offset)


def matching_ids(query: ContactQuery) -> list[int]:
    """The ids of every contact that matches (for "select all that the filter shows")."""
    check_query(query)
    where, params = _where(query, search_words(query.search))
    return [row[0] for row in database.execute_sql(f"SELECT id FROM contact{where}", params)]

