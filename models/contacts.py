"""Contacts: adding, finding, paging (what the dashboard's table shows) and the dataclass widgets receive.

The listing's types live in `models.listing`; the engine answers a listing (`models.db.backend()`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace

from models import audit, clock, lookalike
from models.db import backend, write_transaction
from models.entities import Contact
from models.errors import InvalidInput, NotFound
from models.listing import (  # noqa: F401 - the listing's types are this module's API too
    FILTER_EXPIRED,
    MAX_WORD,
    MAX_WORDS,
    SORT_KEYS,
    STATUS_FILTERS,
    ContactPage,
    ContactQuery,
    ContactRow,
    check_query,
    expired_condition,
    rows_of,
    search_words,
    to_row,
)

MAX_FIELD = 200
"""Longest name, company or phone we keep; longer values are refused rather than cut silently."""


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
    found = rows_of(Contact.select().where(Contact.id == contact_id))
    if not found:
        raise NotFound("that contact no longer exists")
    return found[0]


def contacts_by_id(ids: list[int]) -> list[ContactRow]:
    """The contacts with these ids (missing ones are left out), in id order."""
    rows: list[ContactRow] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows.extend(rows_of(Contact.select().where(Contact.id.in_(chunk)).order_by(Contact.id)))
    return rows


def count_contacts(query: ContactQuery = ContactQuery()) -> int:
    """How many contacts match."""
    return backend().count(query)


def contact_page(
    query: ContactQuery = ContactQuery(), offset: int = 0, limit: int = 100, *, count: bool = True
) -> ContactPage:
    """One window of the contacts that match `query`, filtered, sorted and paged in SQL.

    With `count` false, a search that only LIKE can answer (one-letter words) may return a page whose `total`
    is a lower bound (`exact` false) rather than read every contact to count; the dashboard counts afterwards.
    """
    return backend().search_window(query, offset, limit, count=count)


def contact_ids(query: ContactQuery = ContactQuery()) -> list[int]:
    """The ids of every contact that matches (for "select all that the filter shows")."""
    return backend().matching_ids(query)
