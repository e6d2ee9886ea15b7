"""PostgreSQL's answer to a `ContactQuery`: each search word a LIKE over the search text lower-cased for ASCII
(the `search_key` column), which the `pg_trgm` GIN index answers for words of three characters or more; the status
filter and the sort in plain SQL, in SQLite's order.

The rows come back in exactly SQLite's order: text by code point (`COLLATE "C"`), timestamps with NULLs first
when ascending and last when descending, the same tie-breakers (`models.listing.SORT_KEYS`).

A search's window is found without counting every match (the dashboard counts afterwards, on its counting thread,
`count_matches`), by one of two roads, as SQLite's planner does (`models/backends/sqlite/search.py`):

- a walk along the sort order's btree, keeping the contacts whose search key has every word, stopping as soon as
  the window is full (`_walk`): a common word ('gmail', 'jo', one letter) fills 200 rows within a few hundred
  or thousand contacts, where finding every match through the trigram index and sorting them reads them all;
- the matches found through the trigram index, then sorted (`_sorted`): a rare word has few matches, so sorting
  them is quick, where a walk would read most of the table to fill its window.

A search with a word of three letters or more first walks at most WALK contacts (a few milliseconds, whatever
the word), then, if the window did not fill, takes the index. A search whose words are all shorter cannot use the
trigram index (pg_trgm finds no trigram in a word of two letters); it walks until its window is full, or to the
end. PostgreSQL's planner does not choose between these itself: its estimate of a LIKE's matches assumes them
spread evenly along the order, and a surname bunched in one place of the name order (or a word it thinks common
but is rare) made it walk a million contacts. Each query is therefore spelled so that only the intended road is
open (`_planner`: the planner's settings for that one statement).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from models import clock
from models.backends.postgres.schema import SEARCH_KEY, search_key
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

_TEXT_COLUMNS = {"first_name", "last_name", "email", "company", "status"}
_TIME_COLUMNS = {"invited_at", "last_login_at", "joined_at", "revoked_at"}

_COLUMNS = ", ".join(f'"{field.column_name}"' for field in ROW_FIELDS)

TRIGRAM = 3
"""Words at least this long are found through the trigram index (pg_trgm extracts no trigram from a shorter
word inside a LIKE pattern: the index would be read whole)."""

WALK = 3_000
"""How many contacts a walk along the sort order looks at, at most, before a search that the trigram index can
answer takes the index instead (a walk reads a row per contact: some 3 ms at a million contacts)."""

WALKABLE = {"name", "email", "invited_at", "last_login", "created"}
"""Sort orders a btree serves (schema `_INDEXES`), so a walk along them reads only the contacts it looks at. The
others (company, status) sort their matches."""


def _where(query: ContactQuery, words: list[str]) -> tuple[list[str], list]:
    """The conditions (with `?` placeholders) for the status filter and every search word."""
    conditions: list[str] = []
    params: list = []
    if query.status == FILTER_EXPIRED:
        conditions += ["status = ?", "invite_expires_at <= ?"]
        params += [STATUS_INVITED, Contact.invite_expires_at.db_value(clock.now())]
    elif query.status:
        conditions.append("status = ?")
        params.append(query.status)
    for word in words:
        conditions.append(f"{SEARCH_KEY} LIKE ?")  # a backslash escapes, as `escape_like` writes
        params.append(_pattern(word))
    return conditions, params


def _pattern(word: str) -> str:
    """The LIKE pattern of `word` as a substring of the search key (lower-cased for ASCII, wildcards literal)."""
    return f"%{escape_like(search_key(word))}%"


def _clause(conditions: list[str]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def _order(query: ContactQuery, *, prefix: str = "") -> str:
    """ORDER BY in SQLite's order (see the module docstring), spelled as the sort indexes are."""
    direction = "DESC" if query.descending else "ASC"
    parts = []
    for field in SORT_KEYS[query.sort]:
        column = f'{prefix}"{field.column_name}"'
        if field.column_name in _TEXT_COLUMNS:
            parts.append(f'{column} COLLATE "C" {direction}')
        elif field.column_name in _TIME_COLUMNS or field.null:
            parts.append(f"{column} {direction} NULLS {'LAST' if query.descending else 'FIRST'}")
        else:
            parts.append(f"{column} {direction}")
    return " ORDER BY " + ", ".join(parts)


@contextmanager
def _planner(**settings: str):
    """The planner's `settings` for the statements run in the block, in a transaction of their own (or a
    savepoint of the caller's, where they are put back afterwards): they never outlive the block."""
    if not settings:
        yield
        return
    nested = database.in_transaction()
    with database.atomic():
        parts = [f"current_setting('{name}'), set_config('{name}', '{value}', true)" for name, value in settings.items()]
        saved = database.execute_sql("SELECT " + ", ".join(parts)).fetchone()[0::2]
        yield
        if nested:  # (a savepoint rolled back by an error undoes the settings by itself)
            database.execute_sql("SELECT " + ", ".join(f"set_config('{name}', ?, true)" for name in settings),
                                 list(saved))


WALK_ONLY = {"enable_seqscan": "off", "enable_bitmapscan": "off", "enable_sort": "off"}
"""The walk along the sort order's btree, and nothing else (no scan of every row, no sort)."""

INDEX_ONLY = {"enable_seqscan": "off", "enable_indexscan": "off"}
"""The trigram index's matches (a bitmap scan), then sorted: never a walk of the sort index, nor a scan of every
row."""


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
    conditions, params = _where(query, words)
    return database.execute_sql(f"SELECT COUNT(*) FROM contact{_clause(conditions)}", params).fetchone()[0]


@dataclass(frozen=True)
class Statement:
    """One query of a search's plan: its SQL (`?` placeholders), its parameters, and the planner's settings it runs
    under (`_planner`). The tests read its plan with EXPLAIN."""

    sql: str
    args: tuple
    settings: dict = field(default_factory=dict)

    def run(self) -> list[tuple]:
        with _planner(**self.settings):
            return database.execute_sql(self.sql, list(self.args)).fetchall()


def walk_statement(query: ContactQuery, words: list[str], offset: int, limit: int, cap: int | None) -> Statement:
    """The walk along the sort order's btree (see `_walk`)."""
    conditions, params = _where(query, [])
    like, like_params = _where(ContactQuery(), words)
    order = _order(query)
    if cap is None:
        sql = f"SELECT {_COLUMNS} FROM contact{_clause(conditions + like)}{order} LIMIT ? OFFSET ?"
    else:
        # The subquery walks the sort index and stops after `cap` contacts; the outer query keeps the matches, in
        # the order the subquery hands them over (nothing is sorted).
        sql = (f"SELECT {_COLUMNS} FROM (SELECT {_COLUMNS}, {SEARCH_KEY} FROM contact{_clause(conditions)}{order} "
               f"LIMIT {int(cap)}) AS walked{_clause(like)}{order} LIMIT ? OFFSET ?")
    return Statement(sql, (*params, *like_params, limit, offset), WALK_ONLY)


def sorted_statement(query: ContactQuery, words: list[str], offset: int, limit: int, *, hint: bool) -> Statement:
    """Every match, sorted, with their count (see `_sorted`)."""
    conditions, params = _where(query, words)
    sql = (f"SELECT {_COLUMNS}, COUNT(*) OVER () FROM contact{_clause(conditions)}{_order(query)} "
           "LIMIT ? OFFSET ?")
    return Statement(sql, (*params, limit, offset), INDEX_ONLY if hint else {})


def _walk(query: ContactQuery, words: list[str], offset: int, limit: int, cap: int | None) -> ContactPage | None:
    """The window found by walking the sort order's btree and keeping the contacts that have every word, stopping
    when it is full; with `cap`, after at most `cap` contacts (None then if the window did not fill). Without, the
    walk goes on to the end if need be, and a window it did not fill holds the last match (its total is exact)."""
    rows = tuples_to_rows(walk_statement(query, words, offset, limit, cap).run())
    if len(rows) >= limit:
        return ContactPage(rows=rows, total=offset + len(rows), offset=offset, exact=False)
    if cap is None and (rows or offset == 0):
        return ContactPage(rows=rows, total=offset + len(rows), offset=offset)
    return None


def _sorted(query: ContactQuery, words: list[str], offset: int, limit: int, *, hint: bool) -> ContactPage:
    """The window found by taking every match (through the trigram index with `hint`) and sorting them; the count
    of every match comes with it, from the same rows."""
    found = sorted_statement(query, words, offset, limit, hint=hint).run()
    if not found:
        return ContactPage(rows=[], total=count_matches(query) if offset else 0, offset=offset)
    return ContactPage(rows=tuples_to_rows(row[:-1] for row in found), total=found[0][-1], offset=offset)


def search_window(query: ContactQuery, offset: int, limit: int, *, count: bool) -> ContactPage:
    """One window of the contacts that match `query`, filtered, sorted and paged in SQL (see the module docstring
    for the roads a search takes). With `count` false a search's total may be a lower bound (`exact` false): the
    dashboard counts afterwards."""
    check_query(query)
    words = search_words(query.search)
    offset = max(0, offset)
    limit = max(0, limit)
    page = _search_window(query, words, offset, limit)
    if count and not page.exact:
        page = ContactPage(rows=page.rows, total=max(page.total, count_matches(query)), offset=offset)
    return page


def _search_window(query: ContactQuery, words: list[str], offset: int, limit: int) -> ContactPage:
    if not words:
        conditions, params = _where(query, [])
        sql = f"SELECT {_COLUMNS} FROM contact{_clause(conditions)}{_order(query)} LIMIT ? OFFSET ?"
        rows = tuples_to_rows(database.execute_sql(sql, [*params, limit, offset]))
        return ContactPage(rows=rows, total=count_matches(query), offset=offset)
    indexed = any(len(word) >= TRIGRAM for word in words)
    if limit > 0 and query.sort in WALKABLE:
        page = _walk(query, words, offset, limit, WALK + offset if indexed else None)
        if page is not None:
            return page
    return _sorted(query, words, offset, limit, hint=indexed)


def matching_ids(query: ContactQuery) -> list[int]:
    """The ids of every contact that matches (for "select all that the filter shows")."""
    check_query(query)
    conditions, params = _where(query, search_words(query.search))
    return [row[0] for row in database.execute_sql(f"SELECT id FROM contact{_clause(conditions)}", params)]
