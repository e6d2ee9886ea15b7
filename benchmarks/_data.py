"""Bench data: a database of N contacts that looks like an agency's, written straight through sqlite3.

Realistic, because a benchmark on 22 names at `@example.com` flatters every index:
- first and last names drawn with their real frequencies (Faker's US census tables, weighted), with a share of
  French and German names (accents, umlauts) as an agency in Europe has;
- 30,000 companies of very unequal size (Zipf: the largest has thousands of contacts, most have one or two), and a
  fifth of contacts with no company at all;
- addresses at the real mail providers in their rough market shares (gmail.com first), or at the company's own
  domain, in the local-part shapes people use (`ada.lovelace`, `alovelace`, `ada_l84`, ...).

The schema is made by `models.db.open_database`, so the benchmarks measure the real tables and indexes. The data is
deterministic for a count (a seeded generator), so the expected answers can be computed again from it.

The cache is per user (`~/.cache/client-portal-bench`, never a shared temp folder), keyed by count, schema and data
version, built under an exclusive file lock (two runs at once wait for one build instead of reading a half-written
file) and published by an atomic rename.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import random
import re
import sqlite3
import sys
import time
import unicodedata
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.db import SCHEMA_VERSION, database, open_database  # noqa: E402
from models.backends.sqlite.schema import (  # noqa: E402
    SEARCH_INDEX_FILL,
    create_search_index_triggers,
    drop_search_index_triggers,
)

DATA_VERSION = 2
"""Bumped whenever the generator changes, so a cached database of the old shape is never reused."""

STATUSES = ("not_invited", "invited", "joined", "revoked")
COMPANY_COUNT = 30_000
NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)


def cache_dir() -> Path:
    """The per-user cache folder (mode 0700)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "client-portal-bench"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


@contextmanager
def locked(name: str):
    """An exclusive lock on `name` in the cache folder, held for the block (other runs wait)."""
    with open(cache_dir() / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def _weighted(table) -> tuple[list[str], list[float]]:
    names = list(table)
    weights = list(table.values()) if isinstance(table, dict) else [1.0] * len(names)
    return names, list(itertools.accumulate(weights))


class People:
    """Weighted name, company and address tables, and a seeded way to draw contacts from them."""

    PROVIDERS = [  # (domain, share of personal addresses)
        ("gmail.com", 36), ("yahoo.com", 8), ("hotmail.com", 7), ("outlook.com", 7), ("icloud.com", 5),
        ("aol.com", 2), ("live.com", 2), ("msn.com", 1), ("comcast.net", 1), ("protonmail.com", 1.5),
        ("gmx.de", 2), ("web.de", 1.5), ("orange.fr", 2), ("free.fr", 1), ("yahoo.co.uk", 1.5),
        ("btinternet.com", 0.5), ("me.com", 1),
    ]

    def __init__(self, seed: int) -> None:
        from faker.providers.company.en_US import Provider as Company
        from faker.providers.person.de_DE import Provider as German
        from faker.providers.person.en_US import Provider as English
        from faker.providers.person.fr_FR import Provider as French

        self.rng = random.Random(seed)
        female, male = English.first_names_female, English.first_names_male
        self.first = _weighted({**{k: v for k, v in female.items()}, **{k: v for k, v in male.items()}})
        self.last = _weighted(English.last_names)
        self.first_eu = list(French.first_names) + list(German.first_names)
        self.last_eu = list(French.last_names) + list(German.last_names)
        rng = random.Random(seed + 1)
        surnames = list(English.last_names) + self.last_eu
        companies: list[str] = []
        seen: set[str] = set()
        while len(companies) < COMPANY_COUNT:
            shape = rng.random()
            a, b = rng.choice(surnames), rng.choice(surnames)
            if shape < 0.45:
                name = f"{a} {rng.choice(Company.company_suffixes)}"
            elif shape < 0.7:
                name = f"{a} & {b}"
            elif shape < 0.85:
                name = f"{a}-{b} {rng.choice(('Partners', 'Consulting', 'Studio', 'Legal', 'Labs'))}"
            else:
                name = f"{a} {rng.choice(('Holdings', 'Media', 'Dental', 'Architects', 'Bakery', 'Logistics'))}"
            if name not in seen:
                seen.add(name)
                companies.append(name)
        self.companies = companies
        # Zipf sizes: the company of rank r has weight 1 / r^1.07 (the largest gets thousands of contacts).
        self.company_weights = list(itertools.accumulate(1 / (rank ** 1.07) for rank in range(1, COMPANY_COUNT + 1)))
        self.providers = _weighted(dict(self.PROVIDERS))
        self.used: dict[str, int] = {}

    def draw(self) -> tuple[str, str, str, str]:
        """(first, last, company, email) for one new contact; addresses are unique."""
        rng = self.rng
        if rng.random() < 0.12:
            first, last = rng.choice(self.first_eu), rng.choice(self.last_eu)
        else:
            first = rng.choices(self.first[0], cum_weights=self.first[1])[0]
            last = rng.choices(self.last[0], cum_weights=self.last[1])[0]
        company = "" if rng.random() < 0.2 else rng.choices(self.companies, cum_weights=self.company_weights)[0]
        if company and rng.random() < 0.55:
            domain = _slug(company.split()[0].split("-")[0]) + rng.choice((".com", ".co.uk", ".de", ".fr", ".io"))
        else:
            domain = rng.choices(self.providers[0], cum_weights=self.providers[1])[0]
        f, l = _slug(first), _slug(last)
        shape = rng.random()
        if shape < 0.4:
            local = f"{f}.{l}"
        elif shape < 0.6:
            local = f"{f[0]}{l}"
        elif shape < 0.75:
            local = f"{f}{l}{rng.randint(1, 99)}"
        elif shape < 0.9:
            local = f"{f}_{l[0]}{rng.randint(60, 2005)}"
        else:
            local = f"{f}"
        email = f"{local}@{domain}"
        count = self.used.get(email, 0)
        self.used[email] = count + 1
        if count:
            email = f"{local}{count + 1}@{domain}"
            while email in self.used:
                count += 1
                email = f"{local}{count + 1}@{domain}"
            self.used[email] = 1
        return first, last, company, email


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]", "", plain) or "x"


def database_path(count: int) -> Path:
    return cache_dir() / f"contacts-{count}-s{SCHEMA_VERSION}-d{DATA_VERSION}.db"


def make_database(count: int, path: Path | None = None) -> Path:
    """A database with `count` contacts, built once per user and cached (see the module docstring)."""
    path = path or database_path(count)
    with locked(path.name):
        if path.exists():
            return path
        _build(count, path)
    return path


def contacts_of(count: int):
    """The contacts `make_database(count)` holds, regenerated in order: (id, first, last, company, email, status).
    The benchmarks compute their expected answers from this, independently of the code under test."""
    people = People(seed=count)
    for n in range(count):
        first, last, company, email = people.draw()
        yield n + 1, first, last, company, email, _status(n)


def _status(n: int) -> str:
    return STATUSES[(n * 13) % 20 // 6 if (n * 13) % 20 < 18 else 3]


def _build(count: int, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".partial-{os.getpid()}")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    open_database(tmp)
    database.close()
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA synchronous=off")
    conn.execute("PRAGMA cache_size=-400000")
    conn.execute("INSERT INTO domain (name, is_default, is_selected, created_at) VALUES (?,1,0,?)",
                 ("portal.example.com", _stamp(NOW)))
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
        for contact_id, first, last, company, email, status in contacts_of(count):
            n = contact_id - 1
            invited = _stamp(NOW - timedelta(minutes=n % 90_000)) if status != "not_invited" else None
            joined = invited if status == "joined" else None
            expires = _stamp(NOW + timedelta(days=7) - timedelta(minutes=2 * (n % 90_000)))
            batch.append((contact_id, email, first, last, company, "", invited or _stamp(NOW), _stamp(NOW), status,
                          invited, 1 if invited else 0, joined, joined, f"{first} {last} {email} {company}",
                          expires if status == "invited" else None))
            if status == "invited":
                links.append((contact_id, "invite", f"{n:064x}", invited, "bench", expires))
            if len(batch) >= 20_000:
                _flush(conn, batch, links)
        _flush(conn, batch, links)
    for _, sql in indexes:
        conn.execute(sql)
    with conn:
        conn.execute(SEARCH_INDEX_FILL)
        create_search_index_triggers(conn)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    os.replace(tmp, path)
    print(f"  (made {count:,} contacts in {time.perf_counter() - start:.1f} s: {path})", file=sys.stderr)


def _flush(conn: sqlite3.Connection, batch: list, links: list) -> None:
    conn.executemany(
        "INSERT INTO contact (id, email, first_name, last_name, company, phone, created_at, updated_at, status, "
        "invited_at, invite_count, joined_at, last_login_at, search_text, invite_expires_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        batch,
    )
    conn.executemany(
        "INSERT INTO magic_link (contact_id, purpose, token_hash, created_at, created_by, expires_at) "
        "VALUES (?,?,?,?,?,?)",
        links,
    )
    batch.clear()
    links.clear()


if __name__ == "__main__":
    for size in [int(a) for a in sys.argv[1:]] or [10_000]:
        print(make_database(size))
