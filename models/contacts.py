"""Contacts: adding, finding, paging (what the dashboard's table shows) and the dataclass widgets receive."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import peewee

from models import audit, clock, lookalike
from models.db import database, write_transaction
from models.entities import (
    DELIVERY_LABELS,
    DELIVERY_NO_MAIL,
    STATUS_INVITED,
    STATUS_LABELS,
    STATUSES,
    Contact,
)
from models.errors import InvalidInput, NotFound
from models.schema import NAMES_BY_ID, SEARCH_INDEX, SEARCH_TERMS, create_search_terms

FILTER_EXPIRED = "expired"
"""A `ContactQuery.status` that is no stored status: invited contacts whose invitation link lapsed
(`invite_expires_at <= now`), the ones the header counts as "links expired" (`models.portal.stats`)."""

STATUS_FILTERS = (*STATUSES, FILTER_EXPIRED)
"""What a listing can be filtered by: every status, then expired invitations (last, so the dashboard's `f` reaches
the statuses as it always did)."""

MAX_FIELD = 200
"""Longest name, company or phone we keep; longer values are refused rather than cut silently."""


@dataclass(frozen=True)
class ContactRow:
    """A contact as every screen and command sees it: plain values, no database behind it."""

    id: int
    email: str
    first_name: str
    last_name: str
    company: str
    phone: str
    status: str
    invited_at: datetime | None
    last_login_at: datetime | None
    joined_at: datetime | None = None
    revoked_at: datetime | None = None
    invite_count: int = 0
    invite_delivery: str | None = None
    """The latest invitation email's state (`queued`, `sent`, `failed`; None: no invitation email)."""
    warnings: tuple[str, ...] = field(default=(), compare=False)
    """What the operation that returned this row has to say about it: set by `add_contact` when the address looks
    like another contact's or mixes scripts (`models.lookalike`). Empty on rows read from the database."""

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def delivery_state(self) -> str | None:
        """Where an invited contact's invitation is (one of `DELIVERY_STATES`); None unless the status is invited."""
        if self.status != STATUS_INVITED:
            return None
        return self.invite_delivery or DELIVERY_NO_MAIL

    @property
    def status_label(self) -> str:
        """The status in words; an invited contact's says where the invitation is: `invited · queued`."""
        label = STATUS_LABELS.get(self.status, self.status)
        state = self.delivery_state
        return f"{label} · {DELIVERY_LABELS[state]}" if state in DELIVERY_LABELS else label


def to_row(c: Contact) -> ContactRow:
    return ContactRow(
        id=c.id,
        email=c.email,
        first_name=c.first_name,
        last_name=c.last_name,
        company=c.company,
        phone=c.phone,
        status=c.status,
        invited_at=c.invited_at,
        last_login_at=c.last_login_at,
        joined_at=c.joined_at,
        revoked_at=c.revoked_at,
        invite_count=c.invite_count,
        invite_delivery=c.invite_delivery,
    )


_ROW_FIELDS = (
    Contact.id, Contact.email, Contact.first_name, Contact.last_name, Contact.company, Contact.phone, Contact.status,
    Contact.invited_at, Contact.last_login_at, Contact.joined_at, Contact.revoked_at, Contact.invite_count,
    Contact.invite_delivery,
)
"""The columns of a `ContactRow`, in its field order."""
_TIMES = (7, 8, 9, 10)


def _time(value, field=Contact.invited_at) -> datetime | None:
    """A stored timestamp (naive UTC text) as an aware datetime: `fromisoformat` (C, a microsecond) rather than
    Peewee's format-by-format parsing, which it falls back on for anything else."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return field.python_value(value)


def _rows(select: peewee.ModelSelect) -> list[ContactRow]:
    """The contacts a query selects, as `ContactRow`s, read as plain tuples: building a Peewee model per row (and
    parsing its timestamps the slow way) cost more than the query for a window of 200 contacts."""
    return _tuples_to_rows(database.execute_sql(*select.select(*_ROW_FIELDS).sql()))


def _tuples_to_rows(cursor) -> list[ContactRow]:
    rows = []
    for values in cursor:
        values = list(values)
        for index in _TIMES:
            values[index] = _time(values[index])
        rows.append(ContactRow(*values))
    return rows


_PLAIN_ADDRESS = re.compile(
    r"^(?=.{1,254}$)(?=[^@]{1,64}@)[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
    r"@(?=.{1,253}$)(?:(?!.{2}--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
"""The common shape of an address (ASCII dot-atom, ordinary host name): a strict subset of what
email-validator accepts, checked in ~1 µs instead of ~50 µs, so a 100k-row import is not spent validating."""


@functools.cache
def _special_tlds() -> frozenset[str]:
    """Special-use names (all single labels: "test", "invalid", "onion", ...). email-validator is imported on
    first use, not at start: its rule tables take a tenth of the dashboard's start-up."""
    from email_validator import SPECIAL_USE_DOMAIN_NAMES

    return frozenset(SPECIAL_USE_DOMAIN_NAMES)


def __getattr__(name: str):
    if name == "_SPECIAL_TLDS":  # the set, for callers that check many addresses in a loop (`models.csv_io`)
        return _special_tlds()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _plain_ok(text: str) -> bool:
    return bool(_PLAIN_ADDRESS.match(text)) and text.rsplit(".", 1)[1].lower() not in _special_tlds()


def _shown(text: str, limit: int = 80) -> str:
    """A value as an error message quotes it: repr, and cut, so a pasted megabyte is not echoed back whole."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"… ({len(text)} characters)"


def normalize_email(value: str) -> str:
    """Check an address's syntax and return the form contacts are keyed by (lower case, IDNA domain).

    Raises:
        InvalidInput: naming what is wrong with the address.
    """
    if not isinstance(value, str):
        raise InvalidInput("an email address is required")
    text = value.strip()
    if not text:
        raise InvalidInput("an email address is required")
    if _CONTROL.search(text):
        raise InvalidInput(f"{_shown(text)} is not a valid email address: it contains control characters")
    if _plain_ok(text):
        return text.lower()
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"{_shown(text)} is not a valid email address: {exc}") from None
    return result.ascii_email.lower() if result.ascii_email else result.normalized.lower()


def clean_field(value: str | None, name: str) -> str:
    """Trim a free-text field and refuse NUL bytes and values too long to be real."""
    text = (value or "").strip()
    if "\x00" in text:
        raise InvalidInput(f"{name} contains a NUL byte")
    if len(text) > MAX_FIELD:
        raise InvalidInput(f"{name} is {len(text)} characters long; at most {MAX_FIELD} are kept")
    return text


@write_transaction
def add_contact(
    email: str, first_name: str = "", last_name: str = "", company: str = "", phone: str = ""
) -> ContactRow:
    """Create a contact. Refuses an address that is malformed or already a contact; the row's `warnings` say when
    the address looks like another contact's (a Cyrillic е for an e, full-width letters) or mixes scripts."""
    address = normalize_email(email)
    fields = {
        "first_name": clean_field(first_name, "first name"),
        "last_name": clean_field(last_name, "last name"),
        "company": clean_field(company, "company"),
        "phone": clean_field(phone, "phone"),
    }
    if Contact.select().where(Contact.email == address).exists():
        raise InvalidInput(f"{address} is already a contact")
    now = clock.now()
    contact = Contact.create(email=address, created_at=now, updated_at=now, **fields)
    audit.record("contact.add", contact)
    return replace(to_row(contact), warnings=tuple(lookalike.warnings_for(address)))


@write_transaction
def update_contact(contact_id: int, **fields: str) -> ContactRow:
    """Change a contact's names, company or phone."""
    contact = Contact.get_or_none(Contact.id == contact_id)
    if contact is None:
        raise NotFound("that contact no longer exists")
    allowed = {"first_name", "last_name", "company", "phone"}
    for key, value in fields.items():
        if key not in allowed:
            raise InvalidInput(f"cannot change {key}")
        setattr(contact, key, clean_field(value, key.replace("_", " ")))
    contact.updated_at = clock.now()
    contact.save()
    audit.record("contact.update", contact, detail=", ".join(sorted(fields)))
    return to_row(contact)


@write_transaction
def delete_contact(contact_id: int) -> None:
    """Delete a contact with their links and queued mail (the audit log keeps their address)."""
    contact = Contact.get_or_none(Contact.id == contact_id)
    if contact is None:
        raise NotFound("that contact no longer exists")
    audit.record("contact.delete", contact)
    contact.delete_instance()


def find_contact(email: str) -> ContactRow:
    """The contact with this address (compared after normalisation)."""
    return to_row(_get_model(email))


_BY_COLUMN_SQL: dict[str, str] = {}


def _fetch_one(column: str, value) -> Contact | None:
    """The contact whose `column` equals `value`, through SQL text built once per column: the sender looks up a
    contact per email, and Peewee rebuilding a 20-column SELECT each time cost more than the lookup."""
    sql = _BY_COLUMN_SQL.get(column)
    if sql is None:
        field = getattr(Contact, column)
        sql = _BY_COLUMN_SQL[column] = Contact.select().where(field == field.db_value(value)).sql()[0]
    return next(iter(Contact.raw(sql, value)), None)


def get_model(contact_id: int) -> Contact:
    """The Peewee row of a contact by id, for operations in `models/`."""
    contact = _fetch_one("id", contact_id)
    if contact is None:
        raise NotFound("that contact no longer exists")
    return contact


def _get_model(email: str) -> Contact:
    address = normalize_email(email)
    contact = _fetch_one("email", address)
    if contact is None:
        raise NotFound(f"{address} is not a contact")
    return contact


def get_contact(contact_id: int) -> ContactRow:
    found = _rows(Contact.select().where(Contact.id == contact_id))
    if not found:
        raise NotFound("that contact no longer exists")
    return found[0]


def contacts_by_id(ids: list[int]) -> list[ContactRow]:
    """The contacts with these ids (missing ones are left out), in id order."""
    rows: list[ContactRow] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows.extend(_rows(Contact.select().where(Contact.id.in_(chunk)).order_by(Contact.id)))
    return rows


SORT_KEYS = {
    "name": (Contact.last_name, Contact.first_name, Contact.id),
    "email": (Contact.email,),
    "company": (Contact.company, Contact.id),
    "status": (Contact.status, Contact.id),
    "invited_at": (Contact.invited_at, Contact.id),
    "last_login": (Contact.last_login_at, Contact.id),
    "created": (Contact.id,),
}
"""The columns a listing can be sorted by, and the tie-breakers that make paging stable."""


@dataclass(frozen=True)
class ContactQuery:
    """What the table (or `contacts list`) asks for: search text, status filter and sort order."""

    search: str = ""
    status: str | None = None
    """A status, `FILTER_EXPIRED` (invited, link lapsed), or None for every contact."""
    sort: str = "name"
    descending: bool = False


@dataclass(frozen=True)
class ContactPage:
    rows: list[ContactRow]
    total: int
    """How many contacts match the query in all (not just this page); with `exact` false, at least this many."""
    offset: int
    exact: bool = True
    """False when the page was found without counting every match (`contact_page(..., count=False)`): `total`
    is then a lower bound, and `count_contacts` tells the number."""


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(field, pattern: str) -> peewee.Node:
    """`field LIKE pattern ESCAPE '\\'` (SQLite's LIKE is case-insensitive for ASCII and has no default escape)."""
    return peewee.NodeList((field, peewee.SQL("LIKE"), pattern, peewee.SQL("ESCAPE '\\'")))


MAX_WORDS = 8
"""Search words beyond this many are ignored (each is one more condition)."""

TRIGRAM = 3
"""Words at least this long are looked up in the trigram index (`models.schema.SEARCH_INDEX`) as a phrase."""

PAIR = 2
"""Words this long are looked up as the index terms (trigrams) that start with them: the index holds two spaces
after every text, so each place a one- or two-letter word occurs begins a trigram. One-letter words (and a pair
that starts more than MAX_TERMS terms) are matched with LIKE, once the index has said some contact has them."""

MAX_TERMS = 64
"""A two-letter word starting more terms than this is matched with LIKE (an OR of that many lookups is slower)."""

MAX_WORD = 1_000
"""Longer search words are cut to this: still longer than any contact's search text (three fields of at most
MAX_FIELD, an address of at most 254 characters), so a cut word matches nothing, as the whole word would, while
the query stays small (a pasted megabyte is not sent to SQLite)."""


def _search_words(search: str) -> list[str]:
    return [word[:MAX_WORD] for word in search.split()[:MAX_WORDS]]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fts_phrase(word: str) -> str:
    """`word` as an FTS5 string: a phrase of its trigrams, i.e. the word as a substring. Lower-cased for ASCII
    only, as the index is (see `models.schema.SEARCH_INDEX`); double quotes doubled."""
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


def _check(query: ContactQuery) -> None:
    if query.status and query.status not in STATUS_FILTERS:
        raise InvalidInput(f"unknown status {query.status!r}; use one of {', '.join(STATUS_FILTERS)}")
    if query.sort not in SORT_KEYS:
        raise InvalidInput(f"cannot sort by {query.sort!r}; use one of {', '.join(SORT_KEYS)}")


def _filtered(query: ContactQuery, plan: _Plan) -> peewee.ModelSelect:
    """Contacts matching the status filter and every search word: a substring of the names, email or company,
    case-insensitive for ASCII (as LIKE is), wildcards literal.

    The words the plan gives the trigram index are looked up there (it holds the text lower-cased for ASCII
    only, so it finds exactly what LIKE would); the others are a LIKE on the contact's row.
    """
    _check(query)
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
        select = select.where(_like(Contact.search_text, f"%{_escape_like(word)}%"))
    return select


def expired_condition(now: datetime, *, by_expiry: bool = True) -> peewee.Expression:
    """Invited, and the invitation link lapsed by `now`: the contacts `models.portal.stats` counts as `expired`
    (a NULL expiry, an invitation still on its way, is not lapsed).

    With `by_expiry` the index on (status, invite_expires_at), schema v3, answers it as one range: right for
    counting and for taking them all. Without, the expiry is a filter (unary + keeps the planner off that index),
    so a sorted window walks the (status, sort column) index and stops when full, as the invited filter does,
    instead of sorting every expired contact (about 300k of a million: 200 ms a window)."""
    expires = Contact.invite_expires_at if by_expiry else peewee.NodeList((peewee.SQL("+"), Contact.invite_expires_at),
                                                                           glue="")
    return (Contact.status == STATUS_INVITED) & (expires <= now)


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


def count_contacts(query: ContactQuery = ContactQuery()) -> int:
    """How many contacts match."""
    return _count(query, _plan(_search_words(query.search)))


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
    columns = ", ".join(f'"{field.column_name}"' for field in _ROW_FIELDS)
    if query.status == FILTER_EXPIRED:
        status = "WHERE status = ? AND +invite_expires_at <= ?"  # walk the sort index, not the expiry one
        params = [STATUS_INVITED, Contact.invite_expires_at.db_value(clock.now())]
    else:
        status, params = ("WHERE status = ?", [query.status]) if query.status else ("", [])
    likes = " AND ".join("search_text LIKE ? ESCAPE '\\'" for _ in words)
    params += [f"%{_escape_like(word)}%" for word in words]
    # The subquery runs as a co-routine along the sort index, handing rows over in order; the outer query stops
    # as soon as the window is full.
    cap = f"LIMIT {int(walk)}" if walk is not None else ""
    sql = (f"SELECT {columns} FROM (SELECT {columns}, search_text FROM contact {status} ORDER BY {order} "
           f"{cap}) WHERE {likes} LIMIT ? OFFSET ?")
    rows = _tuples_to_rows(database.execute_sql(sql, [*params, limit, offset]))
    if len(rows) < limit:
        if walk is None and (rows or offset == 0):  # walked to the end: every match was seen
            return ContactPage(rows=rows, total=offset + len(rows), offset=offset)
        return None
    if total is None:
        return ContactPage(rows=rows, total=offset + len(rows), offset=offset, exact=False)
    return ContactPage(rows=rows, total=total, offset=offset)


def contact_page(
    query: ContactQuery = ContactQuery(), offset: int = 0, limit: int = 100, *, count: bool = True
) -> ContactPage:
    """One window of the contacts that match `query`, filtered, sorted and paged in SQL.

    With `count` false, a search that only LIKE can answer (one-letter words) may return a page whose `total`
    is a lower bound (`exact` false) rather than read every contact to count; the dashboard counts afterwards.
    """
    _check(query)
    words = _search_words(query.search)
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
        by_id = {row.id: row for row in _rows(Contact.select().where(Contact.id.in_([row[0] for row in found])))}
        rows = [by_id[row[0]] for row in found if row[0] in by_id]
    else:
        rows = _rows(select)
        if total is None:
            total = _count(query, plan)
    return ContactPage(rows=rows, total=total, offset=offset)


def contact_ids(query: ContactQuery = ContactQuery()) -> list[int]:
    """The ids of every contact that matches (for "select all that the filter shows")."""
    return [row[0] for row in _filtered(query, _plan(_search_words(query.search))).select(Contact.id).tuples()]
