"""What a contact listing is, whatever engine answers it: the row every screen receives (`ContactRow`), the
question (`ContactQuery`: search words, status filter, sort) and the answer (`ContactPage`).

The engines (`models.backends`) answer a `ContactQuery`; `models.contacts` asks. This module imports only the
tables, the clock and the errors, so a backend can use these types without importing the domain operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import peewee

from models import clock
from models.base import database
from models.entities import (
    DELIVERY_LABELS,
    DELIVERY_NO_MAIL,
    STATUS_INVITED,
    STATUS_LABELS,
    STATUSES,
    Contact,
)
from models.errors import InvalidInput

FILTER_EXPIRED = "expired"
"""A `ContactQuery.status` that is no stored status: invited contacts whose invitation link lapsed
(`invite_expires_at <= now`), the ones the header counts as "links expired" (`models.portal.stats`)."""

STATUS_FILTERS = (*STATUSES, FILTER_EXPIRED)
"""What a listing can be filtered by: every status, then expired invitations (last, so the dashboard's `f` reaches
the statuses as it always did)."""


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
    invite_expires_at: datetime | None = None
    """When the invitation's link lapses (None: no invitation out, or one still on its way)."""
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
    def invite_lapsed(self) -> bool:
        """Invited, and the invitation's link has lapsed: what the `expired` filter finds and the header counts as
        "links expired" (`expired_condition`)."""
        return (self.status == STATUS_INVITED and self.invite_expires_at is not None
                and self.invite_expires_at <= clock.now())

    @property
    def status_label(self) -> str:
        """The status in words; an invited contact's says where the invitation is (`invited · queued`), or that
        its link lapsed (`invited · expired`: whatever became of the email, the contact needs a new invitation)."""
        label = STATUS_LABELS.get(self.status, self.status)
        if self.invite_lapsed:
            return f"{label} · expired"
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
        invite_expires_at=c.invite_expires_at,
    )


ROW_FIELDS = (
    Contact.id, Contact.email, Contact.first_name, Contact.last_name, Contact.company, Contact.phone, Contact.status,
    Contact.invited_at, Contact.last_login_at, Contact.joined_at, Contact.revoked_at, Contact.invite_count,
    Contact.invite_delivery, Contact.invite_expires_at,
)
"""The columns of a `ContactRow`, in its field order."""
_TIMES = (7, 8, 9, 10, 13)


def _time(value, field=Contact.invited_at) -> datetime | None:
    """A stored timestamp (naive UTC text) as an aware datetime: `fromisoformat` (C, a microsecond) rather than
    Peewee's format-by-format parsing, which it falls back on for anything else."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return field.python_value(value)


def rows_of(select: peewee.ModelSelect) -> list[ContactRow]:
    """The contacts a query selects, as `ContactRow`s, read as plain tuples: building a Peewee model per row (and
    parsing its timestamps the slow way) cost more than the query for a window of 200 contacts."""
    return tuples_to_rows(database.execute_sql(*select.select(*ROW_FIELDS).sql()))


def tuples_to_rows(cursor) -> list[ContactRow]:
    rows = []
    for values in cursor:
        values = list(values)
        for index in _TIMES:
            values[index] = _time(values[index])
        rows.append(ContactRow(*values))
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



def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


MAX_WORDS = 8
"""Search words beyond this many are ignored (each is one more condition)."""


MAX_WORD = 1_000
"""Longer search words are cut to this: still longer than any contact's search text (three fields of at most
MAX_FIELD, an address of at most 254 characters), so a cut word matches nothing, as the whole word would, while
the query stays small (a pasted megabyte is not sent to SQLite)."""


def search_words(search: str) -> list[str]:
    return [word[:MAX_WORD] for word in search.split()[:MAX_WORDS]]


def check_query(query: ContactQuery) -> None:
    if query.status and query.status not in STATUS_FILTERS:
        raise InvalidInput(f"unknown status {query.status!r}; use one of {', '.join(STATUS_FILTERS)}")
    if query.sort not in SORT_KEYS:
        raise InvalidInput(f"cannot sort by {query.sort!r}; use one of {', '.join(SORT_KEYS)}")


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
