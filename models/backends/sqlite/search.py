"""SQLite's search planner: a `ContactQuery` answered through the trigram index (FTS5), the counts the triggers
keep, and a walk along the sort index, with the SQL spelled so SQLite's planner takes the fast road (`INDEXED BY`,
unary `+`). Moved whole from `models.contacts`; the figures in `benchmarks/` are this code's.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee

from models import clock
from models.backends.sqlite.schema import NAMES_BY_ID, SEARCH_INDEX, SEARCH_TERMS, create_search_terms
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
    expired_condition,
    rows_of,
    search_words,
    tuples_to_rows,
)

def _like(field, pattern: str) -> peewee.Node:
    """`field LIKE pattern ESCAPE '\\'` (SQLite's LIKE is case-insensitive for ASCII and has no default escape)."""
    return peewee.NodeList((field, peewee.SQL("LIKE"), pattern, peewee.SQL("ESCAPE '\\'")))



TRIGRAM = 3
"""Words at least this long are looked up in the trigram index (`schema.SEARCH_INDEX`) as a phrase."""

PAIR = 2
"""Words this long are looked up as the index terms (trigrams) that start with them: the index holds two spaces
after every text, so each place a one- or two-letter word occurs begins a trigram. One-letter words (and a pair
that starts more than MAX_TERMS terms) are matched with LIKE, once the index has said some contact has them."""

MAX_TERMS = 64
"""A two-letter word starting more terms than this is matched with LIKE (an OR of that many lookups is slower)."""

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fts_phrase(word: str) -> str:
    """`word` as an FTS5 string: a phrase of its trigrams, i.e. the word as a substring. Lower-cased for ASCII
    only, as the index is (see `schema.SEARCH_INDEX`); double quotes doubled."""
    return '"' + word.translate(_ASCII_LOWER).replace('"', '""') + '"'


def _terms_starting(prefix: str, limit: int) -> list[str]:
    """Up to `limit` of the search index's terms (trigrams) that start with `prefix`, from its vocabulary: one
    range lookup. (For one letter, the first term alone tells whether any contact has the letter at all.)"""
    sql = f"SELECT term FROM {SEARCH_TERMS} WHERE term >= ? AND term <= ? LIMIT {int(limit)}"
    params = (prefix, prefix + "\U0010ffff")  # every term is three characters: the prefix and one more
    try:
        rows = database.execute_sql(sql, params).fetchall()
    except peewee.OperationalError as exc:  # first use on this connection: the vocabulary is a temp table
        if "no such table" not in str(exc):
            raise
        create_search_terms(database)
        rows = database.execute_sql(sql, params).fetchall()
    return [row[0] for row in rows]


@dataclass(frozen=True)
class _Plan:
    """How a search runs: the words the index answers (an FTS5 query), the words left to LIKE, and whether the
    index already knows that nothing matches (a two-letter word that starts no term)."""

    match: str | None
    like: tuple[str, ...]
    nothing: bool = False

    @property
    def index_sql(self) -> str:
        return f"SELECT rowid FROM {SEARCH_INDEX} WHERE {SEARCH_INDEX} MATCH ?"


def _plan(words: list[str]) -> _Plan:
    parts: list[str] = []
    like: list[str] = []
    for word in words:
        if len(word) >= TRIGRAM:
            parts.append(_fts_phrase(word))
            continue
        terms = _terms_starting(word.translate(_ASCII_LOWER), 1 if len(word) < PAIR else MAX_TERMS + 1)
        if not terms:
            return _Plan(None, (), nothing=True)  # no trigram starts with it: no contact has it
        if len(word) == PAIR and len(terms) <= MAX_TERMS:
            parts.append("(" + " OR ".join(_fts_phrase(term) for term in terms) + ")")
            continue
        like.append(word)
    return _Plan(" AND ".join(parts) if parts else None, tuple(like))


def _filtered(query: ContactQuery, plan: _Plan) -> peewee.ModelSelect:
    """Contacts matching the status filter and every search word: a substring of the names, email or company,
    case-insensitive for ASCII (as LIKE is), wildcards literal.

    The words the plan gives the trigram index are looked up there (it holds the text lower-cased for ASCII
    only, so it finds exactly what LIKE would); the others are a LIKE on the contact's row.
    """
    check_query(query)
    select = Contact.select()
    if plan.nothing:
        return select.where(peewee.SQL("0"))
    if query.status == FILTER_EXPIRED:
        select = select.where(expired_condition(clock.now(), by_expiry=False))
    elif query.status:
        select = select.where(Contact.status == query.status)
    if plan.match is not None:
        subquery = peewee.SQL(f"({plan.index_sql})", [plan.match])
        select = select.where(peewee.NodeList((Contact.id, peewee.SQL("IN"), subquery)))
    for word in plan.like:
        select = select.where(_like(Contact.search_text, f"%{escape_like(word)}%"))
    return select


def _index_count(query: ContactQuery, plan: _Plan) -> int | None:
    """How many contacts match, from the trigram index alone when it can tell (every word indexed, no status
    filter): no contact row is read. None when it cannot."""
    if plan.nothing:
        return 0
    if plan.match is None or query.status or plan.like:
        return None
    return database.execute_sql(f"SELECT COUNT(*) FROM ({plan.index_sql})", [plan.match]).fetchone()[0]


def _count(query: ContactQuery, plan: _Plan) -> int:
    if plan.match is None and not plan.like and not plan.nothing:  # no search: the counts triggers keep (v3)
        if query.status == FILTER_EXPIRED:
            return Contact.select().where(expired_condition(clock.now())).count()
        if query.status:
            row = database.execute_sql("SELECT n FROM contact_status_count WHERE status = ?", (query.status,))
            return (row.fetchone() or (0,))[0]
        return _all_contacts()
    total = _index_count(query, plan)
    return _filtered(query, plan).count() if total is None else total


def count(query: ContactQuery) -> int:
    """How many contacts match."""
    return _count(query, _plan(search_words(query.search)))


FEW = 5_000
SPREAD = 4
"""A search matching more than FEW contacts, and at least one in SPREAD, first tries a walk along the sort order
(`_walk`): a window is then found among the first thousand contacts or so, while sorting every match reads them
all. A walk that does not fill its window in WALK contacts (matches bunched elsewhere in the order, as a surname
is when sorting by name) gives way to finding every match through the index and sorting them."""

WALK = 4_000
"""How many contacts a walk looks at, at most, before it gives up (each is a row read in index order, about
5 µs at a million contacts: a walk that fails costs some 20 ms)."""

_WALK_INDEXED = {"name", "email", "invited_at", "last_login", "created"}
"""Sort orders an index serves, so a walk along them reads only the rows it looks at."""


def _all_contacts() -> int:
    """How many contacts there are, from the counts per status that triggers keep (schema v3)."""
    return database.execute_sql("SELECT COALESCE(SUM(n), 0) FROM contact_status_count").fetchone()[0]


_FROM_CONTACT = 'FROM "contact" AS "t1"'


def _ids(select: peewee.ModelSelect, *, names_index: bool) -> list[tuple]:
    """Run an id query; with `names_index`, read the names it sorts by from NAMES_BY_ID, not the contact rows."""
    sql, params = select.sql()
    if names_index and sql.count(_FROM_CONTACT) == 1:
        sql = sql.replace(_FROM_CONTACT, f"{_FROM_CONTACT} INDEXED BY {NAMES_BY_ID}")
    return database.execute_sql(sql, params).fetchall()


def _walk(query: ContactQuery, words: list[str], offset: int, limit: int, total: int | None,
          walk: int | None = WALK) -> ContactPage | None:
    """The window found by walking at most `walk` contacts in sort order and keeping those whose row has every
    word (LIKE); None if the window did not fill. `total` is the count if known; else the page's total is only a
    lower bound (`exact` false).

    With `walk` None the walk goes on until the window is full or every contact was looked at: a rare letter
    ('x', 'q') fills 200 rows within some tens of thousands of contacts (25 ms at a million, where giving up at
    WALK and then sorting every match took 500 ms), and a walk that reaches the end has seen every match, so it
    knows the count too. It never reads more than the full scan it replaces."""
    if query.sort not in _WALK_INDEXED or limit <= 0:
        return None
    direction = "DESC" if query.descending else "ASC"
    order = ", ".join(f'"{field.column_name}" {direction}' for field in SORT_KEYS[query.sort])
    columns = ", ".join(f'"{field.column_name}"' for field in ROW_FIELDS)
    if query.status == FILTER_EXPIRED:
        status = "WHERE status = ? AND +invite_expires_at <= ?"  # walk the sort index, not the expiry one
        params = [STATUS_INVITED, Contact.invite_expires_at.db_value(clock.now())]
    else:
        status, params = ("WHERE status = ?", [query.status]) if query.status else ("", [])
    likes = " AND ".join("search_text LIKE ? ESCAPE '\\'" for _ in words)
    params += [f"%{escape_like(word)}%" for word in words]
    # The subquery runs as a co-routine along the sort index, handing rows over in order; the outer query stops
    # as soon as the window is full.
    cap = f"LIMIT {int(walk)}" if walk is not None else ""
    sql = (f"SELECT {columns} FROM (SELECT {columns}, search_text FROM contact {status} ORDER BY {order} "
           f"{cap}) WHERE {likes} LIMIT ? OFFSET ?")
    rows = tuples_to_rows(database.execute_sql(sql, [*params, limit, offset]))
    if len(rows) < limit:
        if walk is None and (rows or offset == 0):  # walked to the end: every match was seen
            return ContactPage(rows=rows, total=offset + len(rows), offset=offset)
        return None
    if total is None:
        return ContactPage(rows=rows, total=offset + len(rows), offset=offset, exact=False)
    return ContactPage(rows=rows, total=total, offset=offset)


def search_window(query: ContactQuery, offset: int, limit: int, *, count: bool) -> ContactPage:
    """One window of the contacts that match `query`, filtered, sorted and paged in SQL.

    With `count` false, a search that only LIKE can answer (one-letter words) may return a page whose `total`
    is a lower bound (`exact` false) rather than read every contact to count; the dashboard counts afterwards.
    """
    check_query(query)
    words = search_words(query.search)
    plan = _plan(words)
    offset = max(0, offset)
    if not count and plan.like and plan.match is None:
        page = _walk(query, words, offset, limit, None, walk=None)
        if page is not None:
            return page
    # SQLite cannot guess how many rows a search matches, so we tell it how to run. First the count: from the
    # index alone when it answers every word and no status filter applies, else one pass over the candidates
    # (or, when the index narrows them, a window function in the paging query itself). Then the window: for
    # many matches spread widely, a walk along the sort order; otherwise the matches are read by id and sorted
    # (unary + keeps the planner off the sort index, whose walk would probe every row; a name sort reads the
    # names from NAMES_BY_ID). A search matching nothing needs no second pass.
    if plan.match is not None:
        total = _index_count(query, plan)
    elif plan.nothing or words:
        total = _count(query, plan)
    else:
        total = None
    if total == 0:
        return ContactPage(rows=[], total=0, offset=offset)
    if words and total is not None and total > FEW and total * SPREAD >= _all_contacts():
        page = _walk(query, words, offset, limit, total)
        if page is not None:
            return page
    select = _filtered(query, plan)
    fields = SORT_KEYS[query.sort]
    if words:
        fields = tuple(peewee.NodeList((peewee.SQL("+"), f), glue="") for f in fields)
    order = [peewee.Ordering(f, "DESC" if query.descending else "ASC") for f in fields]
    select = select.order_by(*order).offset(offset).limit(max(0, limit))
    if words:
        # Sort ids, not whole rows (the sorter then holds a few bytes per match), and read the window's rows after.
        ids = select.select(Contact.id)
        if total is None:
            ids = ids.select_extend(peewee.fn.COUNT(peewee.SQL("*")).over())
        names_index = query.sort == "name" and not query.status and not plan.like and plan.match is not None
        found = _ids(ids, names_index=names_index)
        if total is None:
            total = found[0][1] if found else _count(query, plan)
        by_id = {row.id: row for row in rows_of(Contact.select().where(Contact.id.in_([row[0] for row in found])))}
        rows = [by_id[row[0]] for row in found if row[0] in by_id]
    else:
        rows = rows_of(select)
        if total is None:
            total = _count(query, plan)
    return ContactPage(rows=rows, total=total, offset=offset)



def matching_ids(query: ContactQuery) -> list[int]:
    """The ids of every contact that matches (for "select all that the filter shows")."""
    return [row[0] for row in _filtered(query, _plan(search_words(query.search))).select(Contact.id).tuples()]
