"""Schema upgrades, one function per `PRAGMA user_version` step; later versions append to `UPGRADES`."""

from __future__ import annotations

from collections.abc import Callable

import peewee

from models.entities import ALL_MODELS


def _v1(db: peewee.SqliteDatabase) -> None:
    db.create_tables(ALL_MODELS)
    # The outbox sender looks for the next due row of a status; the table pages by name.
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS outbox_message_due ON outbox_message (status, next_attempt_at)"
    )
    db.execute_sql("CREATE INDEX IF NOT EXISTS contact_names ON contact (last_name, first_name)")
    db.execute_sql("CREATE INDEX IF NOT EXISTS magic_link_open ON magic_link (contact_id, purpose, created_at)")


SEARCH_TEXT_SQL = "{p}first_name || ' ' || {p}last_name || ' ' || {p}email || ' ' || {p}company"
"""What a contact is found by: one stored column, so a search is one LIKE per word over one column."""


def search_text(first_name: str, last_name: str, email: str, company: str) -> str:
    """The same value SEARCH_TEXT_SQL computes, for bulk inserts that fill it themselves."""
    return f"{first_name} {last_name} {email} {company}"


def _v2(db: peewee.SqliteDatabase) -> None:
    """Search column kept by triggers (any writer stays consistent); partial index for lapsed invitations."""
    columns = {row[1] for row in db.execute_sql("PRAGMA table_info(contact)").fetchall()}
    if "search_text" not in columns:
        db.execute_sql("ALTER TABLE contact ADD COLUMN search_text TEXT NOT NULL DEFAULT ''")
    db.execute_sql(f"UPDATE contact SET search_text = {SEARCH_TEXT_SQL.format(p='')}")
    new = SEARCH_TEXT_SQL.format(p="NEW.")
    db.execute_sql(
        "CREATE TRIGGER IF NOT EXISTS contact_search_insert AFTER INSERT ON contact WHEN NEW.search_text = '' "
        f"BEGIN UPDATE contact SET search_text = {new} WHERE id = NEW.id; END"
    )
    db.execute_sql(
        "CREATE TRIGGER IF NOT EXISTS contact_search_update "
        "AFTER UPDATE OF first_name, last_name, email, company ON contact "
        f"BEGIN UPDATE contact SET search_text = {new} WHERE id = NEW.id; END"
    )
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS magic_link_open_invite ON magic_link (expires_at) "
        "WHERE purpose = 'invite' AND used_at IS NULL AND revoked_at IS NULL AND superseded_at IS NULL"
    )
    db.execute_sql("CREATE INDEX IF NOT EXISTS contact_status_invited ON contact (status, invited_at)")
    db.execute_sql("CREATE INDEX IF NOT EXISTS contact_status_login ON contact (status, last_login_at)")
    db.execute_sql("CREATE INDEX IF NOT EXISTS contact_status_names ON contact (status, last_name, first_name)")
    # Every index costs a 100k-row import about half a second; status alone is a prefix of the ones above.
    db.execute_sql("DROP INDEX IF EXISTS contact_status")


def _v3(db: peewee.SqliteDatabase) -> None:
    """Counts per status kept by triggers, and the invitation's expiry on the contact: the stats header reads
    a few rows and one index range instead of counting a million contacts."""
    columns = {row[1] for row in db.execute_sql("PRAGMA table_info(contact)").fetchall()}
    if "invite_expires_at" not in columns:
        db.execute_sql("ALTER TABLE contact ADD COLUMN invite_expires_at DATETIME")
    db.execute_sql(
        "UPDATE contact SET invite_expires_at = (SELECT MAX(m.expires_at) FROM magic_link m "
        "WHERE m.contact_id = contact.id AND m.purpose = 'invite' AND m.used_at IS NULL "
        "AND m.revoked_at IS NULL AND m.superseded_at IS NULL) WHERE status = 'invited'"
    )
    db.execute_sql("CREATE INDEX IF NOT EXISTS contact_invite_expiry ON contact (status, invite_expires_at)")
    db.execute_sql("CREATE TABLE IF NOT EXISTS contact_status_count (status TEXT PRIMARY KEY, n INTEGER NOT NULL)")
    db.execute_sql("DELETE FROM contact_status_count")
    db.execute_sql("INSERT INTO contact_status_count (status, n) SELECT status, COUNT(*) FROM contact GROUP BY status")
    up = ("INSERT INTO contact_status_count (status, n) VALUES (NEW.status, 1) "
          "ON CONFLICT (status) DO UPDATE SET n = n + 1;")
    down = "UPDATE contact_status_count SET n = n - 1 WHERE status = OLD.status;"
    db.execute_sql(f"CREATE TRIGGER IF NOT EXISTS contact_count_insert AFTER INSERT ON contact BEGIN {up} END")
    db.execute_sql(f"CREATE TRIGGER IF NOT EXISTS contact_count_delete AFTER DELETE ON contact BEGIN {down} END")
    db.execute_sql(
        "CREATE TRIGGER IF NOT EXISTS contact_count_update AFTER UPDATE OF status ON contact "
        f"WHEN OLD.status IS NOT NEW.status BEGIN {down} {up} END"
    )


SEARCH_INDEX = "contact_fts"
"""FTS5 table (trigram tokenizer) over `contact.search_text`, rowid = contact id: a word of three or more
characters is found through its trigrams instead of a LIKE over every row. It holds `lower(search_text)` (SQLite's
lower() folds ASCII only) with a case-sensitive tokenizer, so a match is exactly what LIKE finds (case-insensitive
for ASCII and nothing else). It keeps its own copy of the text (not external content) so a trigger can delete a
contact's entry by rowid alone, whatever order SQLite fires the search-column triggers in."""

SEARCH_INDEX_FILL = f"INSERT INTO {SEARCH_INDEX} (rowid, text) SELECT id, lower(search_text) FROM contact"
"""Index every contact (append a WHERE to index some)."""

SEARCH_INDEX_TRIGGERS = {
    "contact_fts_insert": f"AFTER INSERT ON contact WHEN NEW.search_text <> '' BEGIN "
    f"INSERT INTO {SEARCH_INDEX} (rowid, text) VALUES (NEW.id, lower(NEW.search_text)); END",
    "contact_fts_update": f"AFTER UPDATE OF search_text ON contact BEGIN "
    f"DELETE FROM {SEARCH_INDEX} WHERE rowid = OLD.id; "
    f"INSERT INTO {SEARCH_INDEX} (rowid, text) VALUES (NEW.id, lower(NEW.search_text)); END",
    "contact_fts_delete": f"AFTER DELETE ON contact BEGIN DELETE FROM {SEARCH_INDEX} WHERE rowid = OLD.id; END",
}
"""Triggers that keep SEARCH_INDEX in step with every writer. An insert with an empty search_text is indexed by
the update trigger when the v2 trigger fills the column in."""


def _execute(db, sql: str) -> None:
    (db.execute_sql if isinstance(db, peewee.Database) else db.execute)(sql)


def create_search_index_triggers(db) -> None:
    """(Re)create SEARCH_INDEX_TRIGGERS; `db` is a Peewee database or a sqlite3 connection."""
    for name, body in SEARCH_INDEX_TRIGGERS.items():
        _execute(db, f"CREATE TRIGGER IF NOT EXISTS {name} {body}")


def drop_search_index_triggers(db) -> None:
    """Drop SEARCH_INDEX_TRIGGERS, for a bulk insert that then indexes its rows in one statement (row by row, a
    trigram index makes an insert about ten times slower)."""
    for name in SEARCH_INDEX_TRIGGERS:
        _execute(db, f"DROP TRIGGER IF EXISTS {name}")


def _v4(db: peewee.SqliteDatabase) -> None:
    """Trigram full-text index over the search column (SQLite >= 3.34), filled from the existing contacts."""
    db.execute_sql(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {SEARCH_INDEX} USING fts5(text, tokenize = 'trigram case_sensitive 1')"
    )
    db.execute_sql(f"DELETE FROM {SEARCH_INDEX}")
    db.execute_sql(SEARCH_INDEX_FILL)
    create_search_index_triggers(db)


UPGRADES: dict[int, Callable[[peewee.SqliteDatabase], None]] = {1: _v1, 2: _v2, 3: _v3, 4: _v4}
"""Upgrade to version N from N-1."""
