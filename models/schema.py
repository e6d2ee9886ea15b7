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


UPGRADES: dict[int, Callable[[peewee.SqliteDatabase], None]] = {1: _v1, 2: _v2, 3: _v3}
"""Upgrade to version N from N-1."""
