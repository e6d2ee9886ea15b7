"""The database file: schema version, permissions, upgrades, and several admins writing at once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from models import db as dbmod
from models.db import database, open_database, schema_version
from models.errors import PortalError


def test_new_file_has_schema_version_wal_and_mode_0600(db_path):
    assert schema_version() == dbmod.SCHEMA_VERSION
    assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert database.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert db_path.stat().st_mode & 0o777 == 0o600


def test_reopening_keeps_data_and_version(db_path):
    from models import contacts

    contacts.add_contact("ada@example.com")
    database.close()
    open_database(db_path)
    assert contacts.find_contact("ada@example.com").email == "ada@example.com"


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {dbmod.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(PortalError, match="newer client-portal"):
        open_database(path)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(PortalError, match="not an SQLite file"):
        open_database(path)


WRITER = r"""
import sys, json
from models.db import open_database
from models import contacts, links, portal
open_database(sys.argv[1])
tag, count = sys.argv[2], int(sys.argv[3])
errors = []
for n in range(count):
    try:
        contacts.add_contact(f"{tag}{n}@example.com")
        portal.invite([f"{tag}{n}@example.com"])
        links.issue_link(f"{tag}{n}@example.com", "login")
    except Exception as exc:
        errors.append(repr(exc))
print(json.dumps(errors))
"""


def test_two_processes_writing_at_once_never_see_database_is_locked(db, db_path):
    database.close()
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), tag, "150"], stdout=subprocess.PIPE, text=True,
                         cwd=Path(__file__).resolve().parent.parent)
        for tag in ("a", "b")
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    for out in outputs:
        assert json.loads(out) == []
    open_database(db_path)
    from models import portal

    s = portal.stats()
    assert s.contacts == 300 and s.invited == 300 and s.outbox_queued == 300


def test_upgrade_from_version_1_fills_the_search_column(db_path):
    from models import contacts

    contacts.add_contact("ada@example.com", first_name="Ada", last_name="Lovelace", company="Analytical")
    for statement in (
        "DROP TRIGGER contact_fts_insert",  # v4's, which read the column dropped below
        "DROP TRIGGER contact_fts_update",
        "DROP TRIGGER contact_fts_delete",
        "DROP TABLE contact_fts",
        "DROP TRIGGER contact_search_insert",
        "DROP TRIGGER contact_search_update",
        "ALTER TABLE contact DROP COLUMN search_text",
        "PRAGMA user_version = 1",
    ):
        database.execute_sql(statement)
    database.close()
    open_database(db_path)
    assert schema_version() == dbmod.SCHEMA_VERSION
    assert [r.email for r in contacts.contact_page(contacts.ContactQuery(search="lovelace analyt")).rows] == [
        "ada@example.com"
    ]
    contacts.update_contact(contacts.find_contact("ada@example.com").id, last_name="Byron")
    assert contacts.count_contacts(contacts.ContactQuery(search="byron")) == 1
    assert contacts.count_contacts(contacts.ContactQuery(search="lovelace")) == 0


def test_upgrade_from_version_3_fills_the_trigram_index(db_path):
    from models import contacts
    from models.backends.sqlite.schema import SEARCH_INDEX, SEARCH_INDEX_TRIGGERS

    contacts.add_contact("ada@example.com", first_name="Ada", last_name="Lovelace", company="Analytical")
    contacts.add_contact("grace@example.com", first_name="Grace", last_name="Hopper")
    for name in SEARCH_INDEX_TRIGGERS:
        database.execute_sql(f"DROP TRIGGER {name}")
    database.execute_sql(f"DROP TABLE {SEARCH_INDEX}")
    database.execute_sql("PRAGMA user_version = 3")
    database.close()
    open_database(db_path)
    assert schema_version() == dbmod.SCHEMA_VERSION
    assert database.execute_sql(f"SELECT COUNT(*) FROM {SEARCH_INDEX}").fetchone()[0] == 2
    assert [r.email for r in contacts.contact_page(contacts.ContactQuery(search="lovelace analyt")).rows] == [
        "ada@example.com"
    ]
    contacts.update_contact(contacts.find_contact("ada@example.com").id, last_name="Byron")
    assert contacts.count_contacts(contacts.ContactQuery(search="byron")) == 1
    assert contacts.count_contacts(contacts.ContactQuery(search="lovelace")) == 0
    assert contacts.count_contacts(contacts.ContactQuery(search="hopper")) == 1


def test_upgrade_from_version_4_reindexes_for_two_letter_words(db_path):
    """A version-4 file (index text without the two trailing spaces, old triggers, no names-by-id index) is
    re-indexed: two-letter words at the end of a text are found, and the triggers write the new form."""
    from models import contacts
    from models.backends.sqlite.schema import NAMES_BY_ID, SEARCH_INDEX, SEARCH_INDEX_TRIGGERS

    contacts.add_contact("ada@example.com", first_name="Ada", last_name="Lovelace", company="Qz")
    for name in SEARCH_INDEX_TRIGGERS:
        database.execute_sql(f"DROP TRIGGER {name}")
    database.execute_sql(f"DELETE FROM {SEARCH_INDEX}")
    database.execute_sql(f"INSERT INTO {SEARCH_INDEX} (rowid, text) SELECT id, lower(search_text) FROM contact")
    database.execute_sql(
        f"CREATE TRIGGER contact_fts_insert AFTER INSERT ON contact WHEN NEW.search_text <> '' BEGIN "
        f"INSERT INTO {SEARCH_INDEX} (rowid, text) VALUES (NEW.id, lower(NEW.search_text)); END"
    )
    database.execute_sql(f"DROP INDEX {NAMES_BY_ID}")
    database.execute_sql("PRAGMA user_version = 4")
    database.close()
    open_database(db_path)
    assert schema_version() == dbmod.SCHEMA_VERSION
    assert contacts.count_contacts(contacts.ContactQuery(search="qz")) == 1  # the pair that ends the text
    grace = contacts.add_contact("grace@example.com", first_name="Grace", last_name="Hopper", company="Navy")
    assert contacts.count_contacts(contacts.ContactQuery(search="vy")) == 1
    assert database.execute_sql(f"SELECT text FROM {SEARCH_INDEX} WHERE rowid = ?", (grace.id,)).fetchone()[0] == (
        "grace hopper grace@example.com navy  "
    )
    indexes = {row[1] for row in database.execute_sql("PRAGMA index_list(contact)").fetchall()}
    assert NAMES_BY_ID in indexes


def test_status_counts_kept_by_triggers_match_a_full_count(db, frozen_clock):
    from datetime import timedelta

    from models import contacts, csv_io, demo, links, portal
    from models.entities import Contact

    demo.seed(120)
    csv_io.import_contacts(b"email\n" + b"".join(b"i%d@example.com\n" % n for n in range(30)))
    portal.invite(["i1@example.com", "i2@example.com", "i3@example.com"])
    links.issue_link("i1@example.com", "invite")
    links.issue_link("i2@example.com", "invite")
    links.redeem(links.issue_link("i3@example.com", "login").token)
    links.revoke_access("i4@example.com")
    contacts.delete_contact(contacts.find_contact("i5@example.com").id)
    links.revoke_link("i2@example.com", "invite")  # a dead invitation needs inviting again: expired
    frozen_clock[0] += timedelta(days=3)

    s = portal.stats()
    full = {status: Contact.select().where(Contact.status == status).count()
            for status in ("not_invited", "invited", "joined", "revoked")}
    assert (s.not_invited, s.invited, s.joined, s.revoked) == tuple(full.values())
    assert s.contacts == Contact.select().count()
    lapsed = [c.email for c in Contact.select().where(Contact.status == "invited")
              if c.invite_expires_at is not None and c.invite_expires_at <= frozen_clock[0]]
    assert s.expired == len(lapsed) and "i2@example.com" in lapsed and "i1@example.com" not in lapsed

    # Lapsed invitations come from counts per hour (schema v5) and a range for the current hour: at any moment,
    # on an hour's edge or inside one, they equal a full count, also after deletes and re-invitations.
    contacts.delete_contact(contacts.find_contact("i2@example.com").id)
    portal.invite(["i6@example.com", "i7@example.com"])
    links.issue_link("i6@example.com", "invite")
    start = frozen_clock[0]
    for minutes in range(0, 11 * 24 * 60, 97):
        frozen_clock[0] = start + timedelta(minutes=minutes)
        full = sum(1 for c in Contact.select().where(Contact.status == "invited")
                   if c.invite_expires_at is not None and c.invite_expires_at <= frozen_clock[0])
        assert portal.stats().expired == full, frozen_clock[0]
    assert portal.stats().expired >= 2
