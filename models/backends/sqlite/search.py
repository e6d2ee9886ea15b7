"""SQLite's search planner: a `ContactQuery` answered through the trigram index (FTS5), the counts the triggers
keep, and walks along the sort index, with the SQL spelled so SQLite's planner takes the fast road (`CROSS JOIN`,
unary `+`). The figures in `benchmarks/` are this code's.

In name order (the dashboard's default) nothing is sorted or counted before the window is shown (schema v8): the
search index is keyed by each contact's rank in name order, so its matches come out in name order and the first
`limit` of them are the window; a list with no search reads the rank index. Other orders find the matches and
sort them (or walk their sort index when the matches are many and spread). The count comes after, on the
dashboard's counting thread (`count`). When a key only narrows the search the previous key answered completely,
its rows are filtered again instead (`_narrowed`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import peewee

from models import clock
from models.backends.sqlite.schema import SEARCH_INDEX, SEARCH_TERMS, create_search_terms
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


def _plan(words: list[str], *, indexed: bool = True, max_terms: int = MAX_TERMS, letters: bool = False) -> _Plan:
    """The plan for `words`: with `indexed` false (some contact is not in the index yet, see `ranked`) every
    word is a LIKE. Words of one or two letters are looked up as the index terms that start with them when they
    start at most `max_terms` (one-letter words too with `letters`)."""
    if not indexed:
        return _Plan(None, tuple(words))
    parts: list[str] = []
    like: list[str] = []
    for word in words:
        if len(word) >= TRIGRAM:
            parts.append(_fts_phrase(word))
            continue
        short = len(word) < PAIR and not letters
        terms = _terms_starting(word.translate(_ASCII_LOWER), 1 if short else max_terms + 1)
        if not terms:
            return _Plan(None, (), nothing=True)  # no trigram starts with it: no contact has it
        if not short and len(terms) <= max_terms:
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
        select = select.where(peewee.NodeList((peewee.SQL('"name_rank"'), peewee.SQL("IN"), subquery)))
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
    check_query(query)
    return _count(query, _plan(search_words(query.search), indexed=ranked()))


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


def ranked() -> bool:
    """Whether every contact has its rank in name order, and so is in the search index: true unless a writer
    that is not ours crowded one place in the order (`schema.place_unranked` then finishes the job, at our next
    write). Until then searches use LIKE alone and the name order the names themselves: slower, never wrong."""
    return database.execute_sql("SELECT 1 FROM contact WHERE name_rank IS NULL LIMIT 1").fetchone() is None


def _walk(query: ContactQuery, words: list[str], offset: int, limit: int, total: int | None,
          walk: int | None = WALK, *, by_rank: bool = False) -> ContactPage | None:
    """The window found by walking at most `walk` contacts in sort order and keeping those whose row has every
    word (LIKE); None if the window did not fill. `total` is the count if known; else the page's total is only a
    lower bound (`exact` false).

    With `walk` None the walk goes on until the window is full or every contact was looked at: a rare letter
    ('x', 'q') fills 200 rows within some tens of thousands of contacts (25 ms at a million, where giving up at
    WALK and then sorting every match took 500 ms), and a walk that reaches the end has seen every match, so it
    knows the count too. It never reads more than the full scan it replaces. With `by_rank` (name order, every
    contact ranked) it walks the rank index, or the status and rank index."""
    if query.sort not in _WALK_INDEXED or limit <= 0:
        return None
    rows = _walk_rows(query, words, offset, limit, walk, by_rank=by_rank)
    if len(rows) < limit:
        if walk is None and (rows or offset == 0):  # walked to the end: every match was seen
            return ContactPage(rows=rows, total=offset + len(rows), offset=offset)
        return None
    if total is None:
        return ContactPage(rows=rows, total=offset + len(rows), offset=offset, exact=False)
    return ContactPage(rows=rows, total=total, offset=offset)


def _walk_rows(query: ContactQuery, words: list[str], offset: int, limit: int, walk: int | None, *,
               by_rank: bool = False, skip: int = 0) -> list:
    """The rows `_walk` finds: the matches among the first `walk` contacts in sort order (all with None) after the
    first `skip`, from `offset`, at most `limit`."""
    direction = "DESC" if query.descending else "ASC"
    if by_rank:
        order = f"name_rank {direction}"
    else:
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
    cap = f"LIMIT {int(walk)}" if walk is not None else ("LIMIT -1" if skip else "")
    if skip:
        cap += f" OFFSET {int(skip)}"
    sql = (f"SELECT {columns} FROM (SELECT {columns}, search_text FROM contact {status} ORDER BY {order} "
           f"{cap}) WHERE {likes} LIMIT ? OFFSET ?")
    return tuples_to_rows(database.execute_sql(sql, [*params, limit, offset]))


SHORT_WALK = 2_000
"""A search in name order with a word of one or two letters beside a longer one walks this many of the longer
one's matches in name order, keeping those whose row has the short word (LIKE). Short words alone walk the
contacts (FIRST_WALK, LONG_WALK): a common pair ('jo', 'co') fills its window within a few hundred, before the
index's vocabulary would have told which of its terms start with the pair (the vocabulary counts each term's
contacts: 30 ms for 'co' at a million). A rarer one, whose terms are few and short, is looked up in the index."""

RARE_TERMS = 2_000
"""After a walk, a word of one or two letters is looked up as all the index terms that start with it, up to this
many: its contacts are few, so the OR of its terms is quick ('x' at a million: 345 terms, 3 ms for the window,
where walking on in name order took 30-80 ms)."""

FIRST_WALK = 500
"""A search in name order whose words are all of one or two letters first walks this many contacts in name order:
a common letter or pair fills its window within them (at a million contacts 'a', 'e', 'o' and 't' within 200,
'd', 'h' and 's' within 400). How many it found there tells how far the window is: the walk goes on only if it
should fill within LONG_WALK contacts. A rarer word ('x': 1 contact in 32 at the start of the name order, 'z' 1
in 14, 'q' almost none) goes to the index at once, where walking SHORT_WALK contacts first spent 4-8 ms in vain
at a million (a contact read in name order is a lookup in the table, some 2-4 µs)."""

LONG_WALK = 3_000
"""How far a walk of short words may be expected to go (from FIRST_WALK's estimate) and still walk on, to twice the
estimate at most: a walk of 3,000 costs about what the index's vocabulary and window cost for a letter that rare
(8-10 ms at a million: 'z', 200 matches within 2,783 contacts). Past it the index is quicker: 'x' at 10k, whose 200th
match is 5,328 contacts into the name order, took 4.5-7.5 ms to walk and 1-2 ms through the index."""

NAME_WALK = 5_000
"""How many of the index's matches, in name order, a window with a status filter looks at before it gives way to
finding every match and sorting them (beside short words, filtered with LIKE, SHORT_WALK: then the short words are
looked up in the index's vocabulary after all, which narrows the matches at once)."""


def _status_where(query: ContactQuery) -> tuple[list[str], list]:
    if query.status == FILTER_EXPIRED:  # walk the (status, rank) index, not the expiry one
        return (["c.status = ?", "+c.invite_expires_at <= ?"],
                [STATUS_INVITED, Contact.invite_expires_at.db_value(clock.now())])
    if query.status:
        return ["c.status = ?"], [query.status]
    return [], []


def _name_window(query: ContactQuery, plan: _Plan, offset: int, limit: int, walk: int = NAME_WALK) -> ContactPage | None:
    """The window in name order read straight off the ranks, with no sort and no count: the search index keys its
    entries by rank, so its matches come out in name order and the first `limit` are the window. None when this
    cannot tell (a filtered window that did not fill within NAME_WALK matches, or a window past the end): the caller
    then sorts. The page's total is exact when the window holds the last match, else a lower bound."""
    direction = "DESC" if query.descending else "ASC"
    columns = ", ".join(f'c."{field.column_name}"' for field in ROW_FIELDS)
    where, params = _status_where(query)
    where += ["c.search_text LIKE ? ESCAPE '\\'" for _ in plan.like]
    params += [f"%{escape_like(word)}%" for word in plan.like]
    cap = None
    if plan.match is None:
        # No word the index answers: walk the contacts in name order (the rank index, or status and rank), to the
        # end if need be (a one-letter word whose terms are too many is common: its window fills at once).
        condition = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {columns} FROM contact AS c {condition} ORDER BY c.name_rank {direction} LIMIT ? OFFSET ?"
        found = database.execute_sql(sql, [*params, limit, offset])
    elif not where:
        # The window's ranks from the index, in rank order; each contact looked up by rank (an IN list the rank
        # index walks in order: nothing is sorted).
        sql = (f"SELECT {columns} FROM contact AS c WHERE c.name_rank IN (SELECT rowid FROM {SEARCH_INDEX} "
               f"WHERE {SEARCH_INDEX} MATCH ? ORDER BY rowid {direction} LIMIT ? OFFSET ?) "
               f"ORDER BY c.name_rank {direction}")
        found = database.execute_sql(sql, [plan.match, limit, offset])
    else:
        cap = walk + offset
        sql = (f"SELECT {columns} FROM contact AS c WHERE c.name_rank IN (SELECT rowid FROM {SEARCH_INDEX} "
               f"WHERE {SEARCH_INDEX} MATCH ? ORDER BY rowid {direction} LIMIT {int(cap)}) AND {' AND '.join(where)} "
               f"ORDER BY c.name_rank {direction} LIMIT ? OFFSET ?")
        found = database.execute_sql(sql, [plan.match, *params, limit, offset])
    rows = tuples_to_rows(found)
    if len(rows) >= limit:
        return ContactPage(rows=rows, total=offset + len(rows), offset=offset, exact=False)
    if cap is not None:
        seen = database.execute_sql(f"SELECT COUNT(*) FROM (SELECT 1 FROM {SEARCH_INDEX} WHERE {SEARCH_INDEX} "
                                    f"MATCH ? LIMIT {int(cap)})", [plan.match]).fetchone()[0]
        if seen >= cap:
            return None  # the walk stopped before the last match: how many more there are is unknown
    if rows or offset == 0:  # the window holds the last match
        return ContactPage(rows=rows, total=offset + len(rows), offset=offset)
    return None


def _short_walk(query: ContactQuery, words: list[str], offset: int, limit: int) -> ContactPage | None:
    """The window of short words found by walking the contacts in name order (FIRST_WALK, then LONG_WALK), or
    None when the walk would be long: the caller then looks the words up in the index."""
    with database.atomic():  # one snapshot: the walks and how many contacts there are agree
        rows = _walk_rows(query, words, offset, limit, FIRST_WALK, by_rank=True)
        if len(rows) >= limit:
            return ContactPage(rows=rows, total=offset + len(rows), offset=offset, exact=False)
        everyone = _all_contacts()
        walked = FIRST_WALK
        found = offset + len(rows) if rows else 0  # matches among the first FIRST_WALK (none known past an offset)
        needed = FIRST_WALK * (offset + limit) // found if found else None
        if walked < everyone and needed is not None and needed <= LONG_WALK:
            # On from the FIRST_WALK-th contact: the window's first rows are those found, and the rest come next.
            rows += _walk_rows(query, words, 0, limit - len(rows), 2 * needed - FIRST_WALK, by_rank=True,
                               skip=FIRST_WALK)
            walked = 2 * needed
            if len(rows) >= limit:
                return ContactPage(rows=rows, total=offset + len(rows), offset=offset, exact=False)
    if walked >= everyone and (rows or offset == 0):  # every contact was looked at: every match was seen
        return ContactPage(rows=rows, total=offset + len(rows), offset=offset)
    return None


def _in_name_order(query: ContactQuery, words: list[str], offset: int, limit: int) -> ContactPage | None:
    """A window in name order off the ranks (`_name_window`); None when the caller must sort.

    Words of three letters or more go to the index. Shorter ones are costly to look up there (the vocabulary
    counts each term's contacts, so a common pair costs tens of milliseconds) and cheap to test on a row: beside
    a long word they filter its matches with LIKE; alone, a short walk in name order tries them first (a common
    pair fills its window within it), and only a rarer one, whose terms are few and short, is looked up."""
    long = [word for word in words if len(word) >= TRIGRAM]
    short = tuple(word for word in words if len(word) < TRIGRAM)
    if short and not long:
        page = _short_walk(query, words, offset, limit)
        if page is not None:
            return page
        plan = _plan(words, max_terms=RARE_TERMS, letters=True)
    elif short:
        page = _name_window(query, _Plan(" AND ".join(_fts_phrase(word) for word in long), short), offset, limit,
                            SHORT_WALK)
        if page is not None:
            return page
        plan = _plan(words)
    else:
        plan = _plan(words)
    if plan.nothing:
        return ContactPage(rows=[], total=0, offset=offset)
    return _name_window(query, plan, offset, limit)


class _Complete(threading.local):
    """This thread's last search whose every match is known (a window at offset 0 holding the last match), and
    what the database looked like then."""

    key: tuple | None = None
    words: list[str] = []
    rows: list = []


_complete = _Complete()


def _state() -> tuple:
    """What changes when any connection (this one included) changes the file: `data_version` moves on another
    connection's commit, `total_changes` on this connection's own writes. The connection itself is part of it,
    not its `id()`: a connection opened later (on another file, say) can be given a freed one's id, and would
    then be answered with the other file's rows."""
    connection = database.connection()
    version = database.execute_sql("PRAGMA data_version").fetchone()[0]
    return (connection, version, connection.total_changes)


def _haystack(row) -> str:
    """A contact's search text as `schema.SEARCH_TEXT_SQL` makes it, folded for ASCII as LIKE folds."""
    return f"{row.first_name} {row.last_name} {row.email} {row.company}".translate(_ASCII_LOWER)


def _narrowed(query: ContactQuery, words: list[str], offset: int, limit: int) -> ContactPage | None:
    """The window from the previous complete search when this one can only narrow it: the same filter and order,
    every previous word inside one of the new words (typing on), and nothing written since. Its rows are filtered
    again in Python (the same test LIKE makes: a substring, ASCII letters folded), no SQL at all."""
    if query.status == FILTER_EXPIRED or _complete.key is None:
        return None  # (which invitations have lapsed changes with the clock)
    if _complete.key != (query.status, query.sort, query.descending, _state()):
        return None
    folded = [word.translate(_ASCII_LOWER) for word in words]
    if not all(any(old.translate(_ASCII_LOWER) in new for new in folded) for old in _complete.words):
        return None
    rows = [row for row in _complete.rows if all(word in _haystack(row) for word in folded)]
    return ContactPage(rows=rows[offset : offset + limit], total=len(rows), offset=offset)


def _remember(query: ContactQuery, words: list[str], page: ContactPage, state: tuple) -> None:
    """Keep `page` if it holds every match, under the database's `state` read before its query ran (a commit
    that came in between then makes the next key look again, never reuse rows older than their key)."""
    if page.offset == 0 and page.exact and len(page.rows) == page.total and words:
        _complete.key = (query.status, query.sort, query.descending, state)
        _complete.words, _complete.rows = list(words), list(page.rows)


def forget_narrowing() -> None:
    """Forget this thread's last complete search (the benchmarks time the SQL a key runs, not its reuse)."""
    _complete.key = None


def search_window(query: ContactQuery, offset: int, limit: int, *, count: bool) -> ContactPage:
    """One window of the contacts that match `query`, filtered, sorted and paged in SQL.

    With `count` false the page may be found without counting every match: its `total` is then a lower bound
    (`exact` false) and the dashboard counts afterwards (`count`, on its counting thread).
    """
    check_query(query)
    words = search_words(query.search)
    offset = max(0, offset)
    page = _narrowed(query, words, offset, limit) if words else None
    if page is None:
        state = _state()
        page = _search_window(query, words, offset, limit)
        _remember(query, words, page, state)
    if count and not page.exact:
        page = replace(page, total=max(page.total, _count(query, _plan(words, indexed=ranked()))), exact=True)
    return page


def _search_window(query: ContactQuery, words: list[str], offset: int, limit: int) -> ContactPage:
    indexed = ranked()
    if query.sort == "name" and indexed and limit > 0:
        page = _in_name_order(query, words, offset, limit)
        if page is not None:
            if not words and not page.exact:  # the counts the triggers keep answer at once
                page = replace(page, total=_count(query, _plan([])), exact=True)
            return page
    plan = _plan(words, indexed=indexed)
    if plan.like and plan.match is None:
        page = _walk(query, words, offset, limit, None, walk=None)
        if page is not None:
            return page
    # SQLite cannot guess how many rows a search matches, so we tell it how to run. First the count: from the
    # index alone when it answers every word and no status filter applies, else one pass over the candidates
    # (or, when the index narrows them, a window function in the paging query itself). Then the window: for
    # many matches spread widely, a walk along the sort order; otherwise the matches are read by id and sorted
    # (unary + keeps the planner off the sort index, whose walk would probe every row). A search matching
    # nothing needs no second pass.
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
        found = database.execute_sql(*ids.sql()).fetchall()
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
    check_query(query)
    plan = _plan(search_words(query.search), indexed=ranked())
    return [row[0] for row in _filtered(query, plan).select(Contact.id).tuples()]
