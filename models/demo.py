"""Sample data for `client-portal --demo`, the tests and the benchmarks: contacts in every portal status.

The demo lives in a folder of its own (`demo_folder()`: its database and its Maildir), never beside the real
database, and that folder carries a marker file (`DEMO_MARKER`) by which `mail.config` knows to keep every message
in the demo's Maildir whatever the environment says about an SMTP server.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path

from models import clock
from models.db import APP_NAME, backend, database, write_lock
from models.entities import (
    OUTBOX_SENT,
    PURPOSE_INVITE,
    STATUS_INVITED,
    STATUS_JOINED,
    STATUS_NOT_INVITED,
    STATUS_REVOKED,
    AuditEntry,
    Contact,
    Domain,
    MagicLink,
    OutboxMessage,
    search_text,
)
from models.links import hash_token

FIRST = ["Ada", "Grace", "Alan", "Marie", "Niels", "Lise", "Katherine", "Tim", "Barbara", "Edsger", "Hedy",
         "Claude", "Radia", "Linus", "Margaret", "Dennis", "Frances", "John", "Sophie", "Yukihiro", "Anita", "Ken"]
LAST = ["Lovelace", "Hopper", "Turing", "Curie", "Bohr", "Meitner", "Johnson", "Berners-Lee", "Liskov",
        "Dijkstra", "Lamarr", "Shannon", "Perlman", "Torvalds", "Hamilton", "Ritchie", "Allen", "McCarthy",
        "Wilson", "Matsumoto", "Borg", "Thompson"]
COMPANIES = ["Acme Ltd", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises",
             "Soylent", "Tyrell", "Cyberdyne", ""]


def _bulk_insert(model, rows: list[dict]) -> None:
    """Insert dict rows with one prepared statement (Peewee's insert_many builds SQL text per row: 10x slower)."""
    if not rows:
        return
    fields = model._meta.fields
    names = list(rows[0])
    columns = [fields[name].column_name for name in names]
    sql = 'INSERT INTO "{}" ({}) VALUES ({})'.format(
        model._meta.table_name, ", ".join(f'"{c}"' for c in columns), ", ".join("?" * len(columns))
    )
    converters = [fields[name].db_value for name in names]
    database.cursor().executemany(sql, [tuple(f(row[n]) for f, n in zip(converters, names)) for row in rows])


def _bulk_insert_contacts(rows: list[dict]) -> None:
    """Insert contact rows through the engine's bulk insert (the one a CSV import uses)."""
    fields = Contact._meta.fields
    names = list(rows[0])
    engine = backend()
    converters = [fields[name].db_value for name in names]
    engine.bulk_insert_contacts(
        [tuple(engine.db_time(f(row[n])) for f, n in zip(converters, names)) for row in rows],
        [fields[name].column_name for name in names],
    )


def seed(count: int = 300, rng_seed: int = 7, domain: str = "portal.example.com", batch_size: int = 5_000) -> None:
    """Insert `count` sample contacts spread over every status (fast: bulk inserts in one transaction)."""
    rng = random.Random(rng_seed)
    now = clock.now()
    with write_lock():
        if not Domain.select().exists():
            Domain.create(name=domain, is_default=True, created_at=now)
        start = Contact.select().count()
        after_id = Contact.select(Contact.id).order_by(Contact.id.desc()).limit(1).scalar() or 0
        # The import's bulk path: the per-row triggers set aside and their work done once at the end (the name
        # ranks numbered, the search index filled in rank order). Row by row, every contact of a crowded name
        # squeezed between its neighbours' ranks until there was no room, and 100k took minutes, not seconds.
        upkeep = backend().suspend_insert_upkeep()
        if count >= start:
            upkeep.suspend_indexes()
        statuses: Counter[str] = Counter()
        rows = []
        links = []
        for n in range(start, start + count):
            first, last, company = rng.choice(FIRST), rng.choice(LAST), rng.choice(COMPANIES)
            email = f"{first}.{last}.{n}@example.com".lower()
            status = rng.choices(
                [STATUS_NOT_INVITED, STATUS_INVITED, STATUS_JOINED, STATUS_REVOKED], weights=[30, 30, 35, 5]
            )[0]
            statuses[status] += 1
            invited = now - timedelta(days=rng.randint(0, 60), minutes=rng.randint(0, 1440)) if status != STATUS_NOT_INVITED else None
            joined = min(now, invited + timedelta(hours=rng.randint(1, 72))) if status == STATUS_JOINED else None
            rows.append(
                {
                    "email": email,
                    "first_name": first,
                    "last_name": last,
                    "company": company,
                    "search_text": search_text(first, last, email, company),
                    "phone": f"+44 20 7946 {n % 10000:04d}",
                    "created_at": now - timedelta(days=90),
                    "updated_at": now,
                    "status": status,
                    "invited_at": invited,
                    "invited_by": "demo" if invited else None,
                    "invite_count": 1 if invited else 0,
                    "invite_delivery": "sent" if invited else None,  # the sample's invitations went out
                    "invite_expires_at": invited + timedelta(days=7) if status == STATUS_INVITED else None,
                    "joined_at": joined,
                    "last_login_at": min(now, joined + timedelta(days=rng.randint(0, 20))) if joined else None,
                    "revoked_at": now - timedelta(days=1) if status == STATUS_REVOKED else None,
                    "revoked_by": "demo" if status == STATUS_REVOKED else None,
                }
            )
            if len(rows) >= batch_size:
                _bulk_insert_contacts(rows)
                rows.clear()
        if rows:
            _bulk_insert_contacts(rows)
        upkeep.restore(inserted=count, after_id=after_id, status=dict(statuses))
        # Invitations: some still open, some lapsed (the "expired" number in the header).
        invited = Contact.select(Contact.id, Contact.invited_at).where(
            (Contact.status == STATUS_INVITED) & (Contact.id > start)
        ).tuples()
        for contact_id, invited_at in invited:
            links.append(
                {
                    "contact": contact_id,
                    "purpose": PURPOSE_INVITE,
                    "token_hash": hash_token(f"demo-{contact_id}-{rng.random()}"),
                    "created_at": invited_at,
                    "created_by": "demo",
                    "expires_at": invited_at + timedelta(days=7),
                }
            )
            if len(links) >= batch_size:
                _bulk_insert(MagicLink, links)
                links.clear()
        if links:
            _bulk_insert(MagicLink, links)


DEMO_DOMAIN = "portal.example.com"
"""The demo's default domain: its mail says it comes from here."""

DEMO_PORTAL = "127.0.0.1:8080"
"""Where the demo's links point (plain http on loopback): `client-portal --demo serve` answers there, so a link
copied from the demo's dashboard works in a browser on the same machine."""


def _serve_demo_links_locally() -> None:
    """Give the demo its default domain and select `DEMO_PORTAL` for links, unless that domain is already there
    (an older demo database gets it too; a later choice in the demo's domains screen is left alone)."""
    from models import domains

    if not Domain.select().exists():
        domains.add_domain(DEMO_DOMAIN)
    if not Domain.select().where(Domain.name == DEMO_PORTAL).exists():
        domains.add_domain(DEMO_PORTAL, select=True)


def ensure_demo(count: int = 300) -> None:
    """Fill an empty database with sample data; leave one that has contacts alone. Links point at `DEMO_PORTAL`."""
    _serve_demo_links_locally()
    if not Contact.select().exists():
        seed(count)
        seed_history()


def seed_history() -> None:
    """What the sample contacts went through, as the real commands would have recorded it: each invited contact's
    invitation email (sent), the invitation link a joined contact used, and the audit entries (invited, link
    emailed, joined, revoked). Without them a contact's own view said "Invite email sent" above "No email was
    sent to this contact yet", and a login email to an invited sample contact counted as their invitation."""
    rows = Contact.select(Contact.id, Contact.email, Contact.status, Contact.invited_at, Contact.joined_at,
                          Contact.revoked_at).where(Contact.invited_at.is_null(False)).tuples()
    messages, used_links, entries = [], [], []
    with write_lock():
        for contact_id, email, status, invited_at, joined_at, revoked_at in rows:
            sent_at = invited_at + timedelta(minutes=1)
            expires = invited_at + timedelta(days=7)
            messages.append({"contact": contact_id, "kind": PURPOSE_INVITE, "batch": "demo", "status": OUTBOX_SENT,
                             "attempts": 1, "last_error": "", "next_attempt_at": invited_at,
                             "message_id": f"<demo-{contact_id}@{DEMO_DOMAIN}>", "created_at": invited_at,
                             "created_by": "demo", "sent_at": sent_at})
            entries += [_entry(invited_at, "invite", contact_id, email),
                        _entry(invited_at, "link.invite", contact_id, email,
                               f"emailed link, expires {expires:%Y-%m-%d %H:%M} UTC")]
            if status == STATUS_JOINED:
                used_links.append({"contact": contact_id, "purpose": PURPOSE_INVITE, "created_at": invited_at,
                                   "token_hash": hash_token(f"demo-used-{contact_id}"), "created_by": "demo",
                                   "expires_at": expires, "used_at": joined_at})
                entries.append(_entry(joined_at, "redeem", contact_id, email, "invite link (emailed), joined"))
            elif status == STATUS_REVOKED:
                entries.append(_entry(revoked_at, "revoke", contact_id, email, "0 open links revoked"))
        for model, batch in ((OutboxMessage, messages), (MagicLink, used_links), (AuditEntry, entries)):
            for start in range(0, len(batch), 5_000):
                _bulk_insert(model, batch[start:start + 5_000])


def _entry(at, action: str, contact_id: int, email: str, detail: str = "") -> dict:
    """An audit entry by the demo's own actor, `demo`."""
    return {"at": at, "actor": "demo", "host": None, "action": action, "contact": contact_id, "subject": email,
            "detail": detail}


DEMO_DATABASE = "demo.db"
"""The demo database's file name, in `demo_folder()`."""

DEMO_MARKER = "CLIENT-PORTAL-DEMO"
"""A file in the demo's folder that says: everything here is sample data, and no mail leaves it."""


def demo_folder() -> Path:
    """Where the demo keeps its database and Maildir: `demo/` in the user cache dir (`~/.cache/client-portal/`),
    away from the real database, whatever `--db` or `CLIENT_PORTAL_DB` name."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME, appauthor=False)) / "demo"


def prepare_demo_folder(folder: Path | None = None) -> Path:
    """Create the demo's folder (0700) with its marker, check it is ours, and return it."""
    from models.files import check_private_dir, make_private_dirs

    folder = Path(folder) if folder is not None else demo_folder()
    make_private_dirs(folder)
    check_private_dir(folder, "demo folder")
    marker = folder / DEMO_MARKER
    if not marker.exists():
        fd = os.open(marker, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("client-portal --demo: sample data. Mail is kept in Maildir/ here and never sent.\n")
    return folder


def is_demo_folder(folder: Path | str) -> bool:
    """Whether `folder` (a database's data folder) is the demo's: then no mail may leave it."""
    return os.path.isfile(os.path.join(folder, DEMO_MARKER))
