"""PostgreSQL's answer to a `ContactQuery`: each search word a condition on the search text lower-cased for
ASCII (the `search_key` column), which the `pg_trgm` GIN index answers when pg_trgm finds a trigram in it (or it
is two letters, see `pair_patterns`); the status filter and the sort in plain SQL, in SQLite's order.

The rows come back in exactly SQLite's order: text by code point (`COLLATE "C"`), timestamps with NULLs first
when ascending and last when descending, the same tie-breakers (`models.listing.SORT_KEYS`).

A search's window is found without counting every match (the dashboard counts afterwards, on its counting thread,
`count_matches`), by one of three roads (the first two as SQLite's planner has them,
`models/backends/sqlite/search.py`):

- a walk along the sort order's btree, keeping the contacts whose search key has every word, stopping as soon as
  the window is full (`_walk`): a common word ('gmail', 'jo', one letter) fills 200 rows within a few hundred
  or thousand contacts, where finding every match through the trigram index and sorting them reads them all;
- the matches found through the trigram index, then sorted (`_sorted`): a rare word has few matches, so sorting
  them is quick, where a walk would read most of the table to fill its window;
- the matches in a slice of the sort order at a time, each slice's found through the trigram index and the sort
  index's range at once, then sorted, until the window is full (`_sliced`): a word of middling frequency ('mary',
  0.7 %) is too rare for a walk (a row read per contact) and too common to sort (a page read per match: 6,300 at
  a million contacts), and the first few percent of the order hold its window. The slices are cut where the
  server's statistics on the sort column put them (`_cuts`), and sized by the planner's estimate of the matches
  (`_estimate`, from the search key's statistics, schema v10).

A search with a word the index answers first walks at most WALK contacts (a few milliseconds, whatever the word;
skipped when the planner expects it to find less than a quarter of the window there; further when it expects the
window a walk's way, `_first_walk`), then, if the window did not fill, takes the index: in slices (name and email orders, a word with a trigram of its own, a window near the top),
else sorted. A search with no such word (one letter, or characters pg_trgm makes no trigram of) walks until its
window is full, or to the end. PostgreSQL's planner does not choose
between these itself: its estimate of a LIKE's matches assumes them spread evenly along the order, so a surname
bunched in one place of the name order made it walk most of the table, and a LIKE pg_trgm finds no trigram in
made it read the whole trigram index (seconds at a million contacts). Each query is therefore spelled so that only
the intended road is open (`_planner`: the planner's settings for that one statement; `strpos` for a word the
index cannot answer).
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass, field

from models import clock
from models.backends.postgres.schema import ALPHABET, ASCII_UPPER, SEARCH_KEY, search_key
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

WALK = 1_000
"""How many contacts a walk along the sort order looks at, at most, before a search that the trigram index can
answer takes the index instead, or walks on (`_further`): a walk reads a row per contact, a few microseconds each
at a million contacts, so a rare word pays a few milliseconds for it; a common one ('gmail') fills its window
within it."""

PRINTABLE_ASCII = "".join(chr(code) for code in range(0x20, 0x7F))
"""The characters a search key may hold that `schema.ALPHABET` does not list."""

_WORD_PAIR = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
"""Characters pg_trgm counts as part of a word in every locale: a pair of them is looked up in the index
(`pair_patterns`)."""

WALKABLE = {"name", "email", "invited_at", "last_login", "created"}
"""Sort orders a btree serves (schema `_INDEXES`), so a walk along them reads only the contacts it looks at. The
others (company, status) sort their matches."""


def _where(query: ContactQuery, words: list[str], *, pairs: bool = False) -> tuple[list[str], list]:
    """The conditions (with `?` placeholders) for the status filter and every search word.

    A word with three word characters in a row is a LIKE, which the trigram index can answer; with `pairs`, a
    word of two word characters is the LIKEs of `pair_patterns` (one condition), which it can answer too. Any
    other word is `strpos`, which the planner cannot take to the index: pg_trgm would read the whole index for
    a LIKE it extracts no trigram from (seconds at a million contacts)."""
    conditions: list[str] = []
    params: list = []
    if query.status == FILTER_EXPIRED:
        conditions += ["status = ?", "invite_expires_at <= ?"]
        params += [STATUS_INVITED, Contact.invite_expires_at.db_value(clock.now())]
    elif query.status:
        conditions.append("status = ?")
        params.append(query.status)
    # A word with a trigram of its own narrows the index's matches enough: a pair beside it is a plain filter
    # (its hundred-odd patterns would each read a posting list, 100 ms at a million contacts, for 'mary sm').
    pairs = pairs and not any(has_trigram(word) for word in words)
    for word in words:
        patterns = pair_patterns(word) if pairs else None
        if patterns is not None:
            # The index takes the patterns; `strpos` is the exact test, which the planner runs first (it costs
            # less), so a row without the word is not tried against every pattern.
            conditions += [f"strpos({SEARCH_KEY}, ?) > 0", f"{SEARCH_KEY} LIKE ANY(?)"]
            params += [search_key(word), patterns]
        elif has_trigram(word):
            conditions.append(f"{SEARCH_KEY} LIKE ?")  # a backslash escapes, as `escape_like` writes
            params.append(f"%{escape_like(search_key(word))}%")
        else:
            conditions.append(f"strpos({SEARCH_KEY}, ?) > 0")
            params.append(search_key(word))
    return conditions, params


_TRIGRAM_RUN = re.compile("[a-z0-9]{3}")


def has_trigram(word: str) -> bool:
    """Whether pg_trgm finds a trigram in `word` as a LIKE pattern, in every locale: three ASCII letters or
    digits in a row (whatever else pg_trgm counts as a word character depends on the server's locale)."""
    return _TRIGRAM_RUN.search(search_key(word)) is not None


def indexed(word: str) -> bool:
    """Whether the trigram index can answer `word` (a trigram of its own, or a pair of word characters)."""
    folded = search_key(word)
    return has_trigram(folded) or (len(folded) == 2 and set(folded) <= _WORD_PAIR)


def pair_patterns(word: str) -> list[str] | None:
    """A word of two word characters as LIKE patterns the trigram index answers: the word followed, or preceded,
    by each character some search key may have (printable ASCII but capitals, and `schema.ALPHABET`). A search
    key holds the word exactly when it matches one of them (a key has at least three characters, so every place
    the word occurs has a neighbour), and each pattern gives pg_trgm a trigram to look up (the word and its
    neighbour, or the word's end or start). None when the word is not two ASCII letters or digits."""
    folded = search_key(word)
    if len(folded) != 2 or not set(folded) <= _WORD_PAIR:
        return None
    known = {row[0] for row in database.execute_sql(f"SELECT ch FROM {ALPHABET}")}
    neighbours = (set(PRINTABLE_ASCII) - set(ASCII_UPPER)) | known
    return sorted({f"%{escape_like(folded + c)}%" for c in neighbours}
                  | {f"%{escape_like(c + folded)}%" for c in neighbours})


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


SERIAL = {"max_parallel_workers_per_gather": "0"}
"""No parallel workers: starting two costs 10-15 ms, more than the few rows a window reads."""

WALK_ONLY = {**SERIAL, "enable_seqscan": "off", "enable_bitmapscan": "off", "enable_sort": "off"}
"""The walk along the sort order's btree, and nothing else (no scan of every row, no sort)."""

INDEX_ONLY = {**SERIAL, "enable_seqscan": "off", "enable_indexscan": "off"}
"""The trigram index's matches (a bitmap scan), then sorted: never a walk of the sort index, nor a scan of every
row."""


ONE_PLAN = {"plan_cache_mode": "force_generic_plan"}
"""Plan a statement once per connection (psycopg prepares a statement run five times): a two-letter word's
hundred-odd patterns cost more to plan (3-15 ms at a million contacts) than the index takes to answer them (1 ms).
Only where the index is the one road whatever the word (one word, no status filter)."""


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
    # Two-letter words are `strpos` here: the dashboard counts only after a window that did not hold every match
    # (a walk that filled it), so the word is common, and its pair patterns would each read a long posting list.
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
    conditions, params = _where(query, words, pairs=hint)
    sql = (f"SELECT {_COLUMNS}, COUNT(*) OVER () FROM contact{_clause(conditions)}{_order(query)} "
           "LIMIT ? OFFSET ?")
    settings = INDEX_ONLY if hint else SERIAL
    if hint and len(words) == 1 and not query.status:
        settings = {**settings, **ONE_PLAN}  # one word the index answers, nothing else: one road, one plan
    return Statement(sql, (*params, limit, offset), settings)


def _walk(query: ContactQuery, words: list[str], offset: int, limit: int,
          cap: int | None) -> tuple[ContactPage | None, int]:
    """The window found by walking the sort order's btree and keeping the contacts that have every word, stopping
    when it is full; with `cap`, after at most `cap` contacts (no page then if the window did not fill). Without,
    the walk goes on to the end if need be, and a window it did not fill holds the last match (its total is
    exact). Also how many matches the walk saw (from the first one, the `offset` skipped included)."""
    rows = tuples_to_rows(walk_statement(query, words, offset, limit, cap).run())
    seen = offset + len(rows) if rows else 0
    if len(rows) >= limit:
        return ContactPage(rows=rows, total=offset + len(rows), offset=offset, exact=False), seen
    if cap is None and (rows or offset == 0):
        return ContactPage(rows=rows, total=offset + len(rows), offset=offset), seen
    return None, seen


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


WALK_COST = 1.0
SORT_COST = 3.0
"""What a walk pays per contact it looks at, and the sorted road per match (read through the bitmap, sorted,
counted), roughly, at a million contacts: after a capped walk that did not fill its window, the share of matches
it saw tells which road is cheaper for the rest (`_further`)."""


def _further(query: ContactQuery, offset: int, limit: int, seen: int, cap: int) -> int | None:
    """How far a second walk should go when the first, capped at `cap`, saw `seen` matches without filling the
    window; None when finding every match and sorting them is cheaper. A word that is common but sparse where the
    order starts ('jo' among the A's: 3 % of the first contacts, 9 % of all) is walked on; a rarer one
    ('mary', 0.7 %) is sorted. The second walk goes twice as far as the share predicts, then gives way too."""
    if seen == 0:
        return None
    share = seen / cap
    walk = (offset + limit) / share
    everyone = count_matches(ContactQuery(status=STATUS_INVITED if query.status == FILTER_EXPIRED else query.status))
    if walk * WALK_COST >= share * everyone * SORT_COST:
        return None
    return int(2 * walk) + offset


def _first_walk(offset: int, limit: int, cap: int, estimate: float, everyone: int) -> int:
    """How far the first walk goes: `cap`, or, when the planner's estimate of the matches says walking the window's
    way is cheaper than sorting (`_further`'s rule, with the estimate's share for the share a walk would see),
    twice as far as that share predicts. A word of 5-25 % ('mal', 'mar', 'gma') then fills its window in one walk
    instead of a capped walk that falls short and a second one (at a million contacts stored in name order, 'mal'
    4.7 ms instead of 14). A walk stops as soon as the window is full, so an estimate too low costs nothing; one
    too high leaves a walk short, and the next road is chosen from what it saw, as after any capped walk."""
    if estimate <= 0:
        return cap
    walk = (offset + limit) * everyone / estimate
    if walk * WALK_COST >= estimate * SORT_COST:
        return cap
    return max(cap, int(2 * walk) + offset)


SLICED = {"name": "last_name", "email": "email"}
"""Sort orders whose first column is text the server keeps statistics on: their matches can be found a slice of
the order at a time (`_sliced`)."""

SLICE_MAX = 1_000
"""The deepest window end (offset + limit) the sliced road is tried for: deeper, every match is sorted."""

SLICE_GROWTH = 4.0
"""How much larger each slice is than the one before, at least (a word rarer where the order starts than the
share of the walk said is found in a few slices, whatever it is)."""


def _cuts(column: str) -> list[tuple[str, float]]:
    """Values of `column` in code-point order, each with the share of contacts estimated to sort before it, from
    the server's statistics on the column (its most common values and the bounds of its histogram, `pg_stats`,
    which ANALYZE and autovacuum keep): empty before the table was first analyzed. The values need not be right:
    any cut between slices gives the same rows, a stale one only a slice of another size."""
    row = database.execute_sql(
        "SELECT null_frac, most_common_vals::text::text[], most_common_freqs, histogram_bounds::text::text[] "
        "FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'contact' AND attname = ?",
        (column,)).fetchone()
    if row is None:
        return []
    null_frac, common, freqs, bounds = row[0] or 0.0, row[1] or [], row[2] or [], row[3] or []
    weights: dict[str, float] = {}
    for value, freq in zip(common, freqs):
        weights[value] = weights.get(value, 0.0) + freq
    if len(bounds) > 1:  # each bin of the histogram holds the same share of the rest, up to its upper bound
        per_bin = max(0.0, 1.0 - null_frac - sum(freqs)) / (len(bounds) - 1)
        for value in bounds[1:]:
            weights[value] = weights.get(value, 0.0) + per_bin
        weights.setdefault(bounds[0], 0.0)
    cuts, before = [], 0.0
    for value in sorted(weights):  # code-point order, as COLLATE "C" sorts (Python compares code points)
        cuts.append((value, before))
        before += weights[value]
    return cuts


@dataclass(frozen=True)
class Slice:
    """Contacts whose sort column (`SLICED`) is at least `low` and below `high` (None: no bound)."""

    low: str | None
    high: str | None


def _next_slice(cuts: list[tuple[str, float]], edge: str | None, share: float, descending: bool) -> Slice:
    """The slice that starts at `edge` (None: where the order starts) and holds about `share` of the contacts."""
    at = {value: before for value, before in cuts}
    if descending:
        top = at.get(edge, 1.0) if edge is not None else 1.0
        if top - share <= 0.0:
            return Slice(None, edge)
        lows = [value for value, before in cuts if before <= top - share and (edge is None or value < edge)]
        return Slice(lows[-1] if lows else None, edge)
    start = at.get(edge, 0.0) if edge is not None else 0.0
    if start + share >= 1.0:
        return Slice(edge, None)
    highs = [value for value, before in cuts if before >= start + share and (edge is None or value > edge)]
    return Slice(edge, highs[0] if highs else None)


def slice_statement(query: ContactQuery, words: list[str], piece: Slice, limit: int) -> Statement:
    """The first `limit` matches in `piece` of the sort order, sorted, with the count of its matches: the trigram
    index's matches and the slice's range in the sort index, combined in a bitmap, so only the rows of the slice
    that match are read."""
    conditions, params = _where(query, words, pairs=True)
    column = f'"{SLICED[query.sort]}" COLLATE "C"'
    if piece.low is not None:
        conditions.append(f"{column} >= ?")
        params.append(piece.low)
    if piece.high is not None:
        conditions.append(f"{column} < ?")
        params.append(piece.high)
    sql = f"SELECT {_COLUMNS}, COUNT(*) OVER () FROM contact{_clause(conditions)}{_order(query)} LIMIT ?"
    return Statement(sql, (*params, limit), INDEX_ONLY)


def _status_contacts(query: ContactQuery) -> int:
    """How many contacts have the query's status (every contact without a filter; the invited for 'expired'),
    from the counts the triggers keep."""
    return count_matches(ContactQuery(status=STATUS_INVITED if query.status == FILTER_EXPIRED else query.status))


def _estimate(query: ContactQuery, words: list[str]) -> float:
    """How many contacts match, as the planner estimates it from its statistics (a millisecond, nothing read): a
    LIKE's share from the search key's histogram (schema v10 keeps 1,000 values of it: 0.1 % steps), each word's
    apart, as if they were independent. Never run: a LIKE without a trigram would read the whole index."""
    conditions, params = _where(query, [])
    for word in words:  # each word as a LIKE, whose share the planner reads from the search key's statistics
        conditions.append(f"{SEARCH_KEY} LIKE ?")
        params.append(f"%{escape_like(search_key(word))}%")
    plan = database.execute_sql(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM contact{_clause(conditions)}", params)
    plan = plan.fetchone()[0]
    return float((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"])


def _sliced(query: ContactQuery, words: list[str], offset: int, limit: int, share: float,
            estimate: float | None = None) -> ContactPage | None:
    """The window found a slice of the sort order at a time (`slice_statement`), each slice's matches through the
    trigram index, sorted, until the window is full: a word of middling frequency ('mary', 0.7 %) reads the rows
    of the few percent of the order its window needs, where sorting every match reads one page per match. The
    first slice is twice what the planner's estimate of the matches predicts (`_estimate`; or `share`, the
    matches per contact the capped walk saw, if that says more); each next one is predicted from the matches seen
    so far, and at least `SLICE_GROWTH` times larger. A window expected to hold every
    match takes the sorted road (`_sorted`). None without statistics."""
    cuts = _cuts(SLICED[query.sort])
    if not cuts:
        return None
    at = dict(cuts)
    need = offset + limit
    everyone = max(1, _status_contacts(query))  # the contacts a slice is a share of
    rows: list[tuple] = []
    matched = 0
    estimate = _estimate(query, words) if estimate is None else estimate
    fraction = min(1.0, 2 * need / max(estimate, share * everyone, 1.0))
    if fraction >= 1.0:  # the window is expected to hold every match: one slice would be the sorted road
        return _sorted(query, words, offset, limit, hint=True)
    edge: str | None = None
    while True:
        piece = _next_slice(cuts, edge, fraction, query.descending)
        found = slice_statement(query, words, piece, need - len(rows)).run()
        rows += [row[:-1] for row in found]
        matched += found[0][-1] if found else 0
        end = piece.low if query.descending else piece.high
        if len(rows) >= need:
            return ContactPage(rows=tuples_to_rows(rows[offset:need]), total=matched, offset=offset, exact=False)
        if end is None:  # the last slice: every match was seen
            return ContactPage(rows=tuples_to_rows(rows[offset:need]), total=matched, offset=offset)
        covered = max(1.0 - at[end] if query.descending else at[end], 1.0 / everyone)
        seen_share = matched / (covered * everyone) if matched else 0.5 / (covered * everyone)
        fraction = max(SLICE_GROWTH * fraction, 2 * (need - len(rows)) / seen_share / everyone)
        edge = end


def _search_window(query: ContactQuery, words: list[str], offset: int, limit: int) -> ContactPage:
    if not words:
        conditions, params = _where(query, [])
        sql = f"SELECT {_COLUMNS} FROM contact{_clause(conditions)}{_order(query)} LIMIT ? OFFSET ?"
        rows = tuples_to_rows(database.execute_sql(sql, [*params, limit, offset]))
        return ContactPage(rows=rows, total=count_matches(query), offset=offset)
    hint = any(indexed(word) for word in words)
    # Slices only for a word with a trigram of its own: a pair's hundred-odd patterns would be looked up again for
    # each slice (and planned again: 3-15 ms each).
    trigram = any(has_trigram(word) for word in words)
    if limit > 0 and query.sort in WALKABLE:
        cap = WALK + offset if hint else None
        sliced = cap is not None and query.sort in SLICED and offset + limit <= SLICE_MAX and trigram
        estimate = None
        if sliced:
            # A word the planner expects to be rare skips the capped walk (a row read per contact, most of them
            # from the disk: 5-20 ms at a million contacts) when it would find less than a quarter of the window.
            estimate = _estimate(query, words)
            everyone = max(1, _status_contacts(query))
            if estimate * cap < (offset + limit) / 4 * everyone:
                page = _sliced(query, words, offset, limit, 0.0, estimate)
                if page is not None:
                    return page
            cap = _first_walk(offset, limit, cap, estimate, everyone)
        page, seen = _walk(query, words, offset, limit, cap)
        if page is not None:
            return page
        further = _further(query, offset, limit, seen, cap) if cap is not None else None
        if further is not None:
            page, _ = _walk(query, words, offset, limit, further)
            if page is not None:
                return page
        elif sliced:
            page = _sliced(query, words, offset, limit, seen / cap, estimate)
            if page is not None:
                return page
    return _sorted(query, words, offset, limit, hint=hint)


def matching_ids(query: ContactQuery) -> list[int]:
    """The ids of every contact that matches (for "select all that the filter shows")."""
    check_query(query)
    conditions, params = _where(query, search_words(query.search))
    return [row[0] for row in database.execute_sql(f"SELECT id FROM contact{_clause(conditions)}", params)]
