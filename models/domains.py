"""The portal's host names: the default domain (mail is sent from it) and custom domains, one of them selected.

The portal URL and every magic link are built from the selected domain (the default when none is selected),
never from anything a request supplies. Links are `https://` except on a loopback address with a port
(`127.0.0.1:8080`, `localhost:8080`, `[::1]:8080`): that "domain" is for trying the portal service on this
machine (the demo, the end-to-end test), which serves plain http. It can be selected for links but never be the
default domain, because mail is sent from the default domain and `portal@127.0.0.1:8080` is not an address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models import audit, clock
from models.db import database, write_transaction
from models.entities import Domain
from models.errors import InvalidInput, NotFound, PortalError

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LOOPBACK = re.compile(r"^(localhost|127(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}|\[::1\]):([0-9]{1,5})$")
"""A loopback host with its port: served over plain http, for local use only."""


@dataclass(frozen=True)
class DomainRow:
    name: str
    is_default: bool
    is_selected: bool


def normalize_domain(value: str) -> str:
    """Validate a host name and return it lower-case in IDNA ASCII form.

    A pasted `https://portal.example.com/` is accepted and reduced to its host; ports, paths, credentials and
    anything that is not a host name are refused, except a loopback host with its port (`127.0.0.1:8080`,
    `localhost:8080`, `[::1]:8080`; see `is_loopback`).
    """
    raw = value.strip()
    text = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", raw).rstrip("/")
    if not text:
        raise InvalidInput("a domain cannot be empty")
    loopback = _LOOPBACK.match(text.lower())
    if loopback:
        if not 1 <= int(loopback.group(2)) <= 65535:
            raise InvalidInput(f"{raw!r} has no valid port (1-65535)")
        return f"{loopback.group(1)}:{int(loopback.group(2))}"
    if text.lower() in ("localhost", "127.0.0.1"):
        # Said as "not a valid domain name" / "an IP address", which hid that the same host with a port is taken.
        raise InvalidInput(f"{raw!r} needs its port to try the portal on this machine: "
                           f"{text.lower()}:8080 (where client-portal serve listens)")
    if any(ch in text for ch in "/@:?#\\ ") or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidInput(f"{raw!r} is not a domain name (give a host such as portal.example.com, "
                           "or 127.0.0.1:8080 to try the portal on this machine)")
    try:
        ascii_name = text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidInput(f"{raw!r} is not a valid domain name") from None
    labels = ascii_name.rstrip(".").split(".")
    if len(labels) < 2 or len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidInput(f"{raw!r} is not a valid domain name (give a host such as portal.example.com)")
    if labels[-1].isdigit():
        raise InvalidInput(f"{raw!r} is an IP address; the portal needs a domain name")
    return ".".join(labels)


def is_loopback(name: str) -> bool:
    """Whether a (normalised) domain is a loopback address with a port: links to it are plain http."""
    return _LOOPBACK.match(name) is not None


def _refuse_loopback_default(name: str) -> None:
    if is_loopback(name):
        raise InvalidInput(f"{name} is a loopback address: it can serve links on this machine but mail cannot be "
                           "sent from it; add your real domain first, then select this one "
                           f"(client-portal domains add {name} --select)")


def list_domains() -> list[DomainRow]:
    """Every domain, the default first."""
    query = Domain.select().order_by(Domain.is_default.desc(), Domain.name)
    return [DomainRow(d.name, d.is_default, d.is_selected) for d in query]


@write_transaction
def add_domain(name: str, default: bool = False, select: bool = False) -> DomainRow:
    """Add a domain. The first one added becomes the default."""
    name = normalize_domain(name)
    if Domain.get_or_none(Domain.name == name) is not None:
        raise InvalidInput(f"{name} is already a domain")
    first = not Domain.select().exists()
    if default or first:
        _refuse_loopback_default(name)
    Domain.create(name=name, created_at=clock.now())
    audit.record("domain.add", subject=name)
    if default or first:
        set_default(name)
    if select:
        select_domain(name)
    return _row(name)


def _get(name: str) -> Domain:
    name = normalize_domain(name)
    domain = Domain.get_or_none(Domain.name == name)
    if domain is None:
        raise NotFound(f"no domain {name}; add it first")
    return domain


def _row(name: str) -> DomainRow:
    d = Domain.get(Domain.name == name)
    return DomainRow(d.name, d.is_default, d.is_selected)


@write_transaction
def set_default(name: str) -> DomainRow:
    """Make `name` the default domain (invitations are sent from it)."""
    domain = _get(name)
    _refuse_loopback_default(domain.name)
    Domain.update(is_default=False).where(Domain.id != domain.id).execute()
    Domain.update(is_default=True).where(Domain.id == domain.id).execute()
    audit.record("domain.default", subject=domain.name)
    return _row(domain.name)


@write_transaction
def select_domain(name: str | None) -> DomainRow | None:
    """Select the domain links and the portal URL are built from; `None` goes back to the default."""
    Domain.update(is_selected=False).execute()
    if name is None:
        audit.record("domain.select", subject="(default)")
        return None
    domain = _get(name)
    Domain.update(is_selected=True).where(Domain.id == domain.id).execute()
    audit.record("domain.select", subject=domain.name)
    return _row(domain.name)


@write_transaction
def remove_domain(name: str) -> None:
    """Remove a custom domain. The default cannot be removed while others exist."""
    domain = _get(name)
    if domain.is_default and Domain.select().where(Domain.id != domain.id).exists():
        raise InvalidInput(f"{domain.name} is the default domain; make another one the default first")
    domain.delete_instance()
    audit.record("domain.remove", subject=domain.name)


def default_domain() -> str:
    """The default domain's name (the one invitations are sent from)."""
    domain = Domain.get_or_none(Domain.is_default == True)  # noqa: E712
    if domain is None:
        raise PortalError("no portal domain is set up; add one with: client-portal domains add portal.example.com")
    return domain.name


def link_domain() -> str:
    """The domain links are built from: the selected one, else the default."""
    row = database.execute_sql(
        'SELECT "name" FROM "domain" WHERE "is_selected" = TRUE OR "is_default" = TRUE '  # TRUE: a boolean on a server
        'ORDER BY "is_selected" DESC LIMIT 1'
    ).fetchone()
    return row[0] if row is not None else default_domain()


def portal_url(path: str = "") -> str:
    """`https://<selected or default domain>/` plus `path` (`http://` for a loopback address)."""
    domain = link_domain()
    scheme = "http" if is_loopback(domain) else "https"
    return f"{scheme}://{domain}/{path.lstrip('/')}"
