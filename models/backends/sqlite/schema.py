"""SQLite's schema: upgrades, one function per `PRAGMA user_version` step (later versions append to `UPGRADES`),
with the FTS5 search index and the triggers that keep the search column and the counts."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import peewee

from models.entities import ALL_MODELS, PORTAL_MODELS


def _v1(db: peewee.SqliteDatabase) -> None:
    db.create_tables(ALL_MODELS)
    # The outbox sender looks for the next due row of a status; the table pages by name.
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS outbox_message_due ON outbox_message (status, next_attempt_at)"
    )
    db.execute_sql("CREATE INDEX IF NOT EXISTS contact_names ON contact (last_name, first_name)")
    db.execute_sql("CREATE INDEX IF NOT EXISTS magic_link_open ON magic_link (contact_id, purpose, created_at)")


SEARCH_TEXT_SQL = "{p}first_name || ' ' || {p}last_name || ' ' || {p}email || ' ' || {p}company"
"""What a contact is found by: one stored column, so a search is one LIKE per word over one column (the same value as
`models.entities.search_text`)."""


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
"""FTS5 table (trigram tokenizer) over `contact.search_text`: a word of three or more characters is found through
its trigrams instead of a LIKE over every row. It holds `lower(search_text)` (SQLite's lower() folds ASCII only)
with a case-sensitive tokenizer, so a match is exactly what LIKE finds (case-insensitive for ASCII and nothing
else). Since schema v8 its rowid is the contact's rank in name order (`contact.name_rank`), and it keeps no copy of
the text (contentless: the text is stored once, in `contact.search_text`); until v8 its rowid was the contact id."""

SEARCH_INDEX_TEXT = "lower({p}search_text) || '  '"
"""What the index holds for a contact (schema v5): the search text lower-cased for ASCII, and two spaces after it,
so every occurrence of a one- or two-character word (search words hold no spaces) begins one of the text's
trigrams. A two-letter word is then looked up as the index's terms that start with it (`search._plan`)."""

_V4_FILL = f"INSERT INTO {SEARCH_INDEX} (rowid, text) SELECT id, {SEARCH_INDEX_TEXT.format(p='')} FROM contact"
"""Index every contact by id (schema v4-v7's index, which v8 replaces)."""

SEARCH_TERMS = "temp.contact_fts_terms"
"""The search index's vocabulary (an `fts5vocab` table, one per connection, see `create_search_terms`): its
trigrams in order, so "the terms starting with `lo`" is one range lookup."""


def create_search_terms(db) -> None:
    """Create SEARCH_TERMS on this connection (a temp table: nothing is stored in the file)."""
    _execute(db, f"CREATE VIRTUAL TABLE IF NOT EXISTS {SEARCH_TERMS} USING fts5vocab(main, {SEARCH_INDEX}, 'row')")

_V4_TRIGGERS = {
    "contact_fts_insert": f"AFTER INSERT ON contact WHEN NEW.search_text <> '' BEGIN "
    f"INSERT INTO {SEARCH_INDEX} (rowid, text) VALUES (NEW.id, {SEARCH_INDEX_TEXT.format(p='NEW.')}); END",
    "contact_fts_update": f"AFTER UPDATE OF search_text ON contact BEGIN "
    f"DELETE FROM {SEARCH_INDEX} WHERE rowid = OLD.id; "
    f"INSERT INTO {SEARCH_INDEX} (rowid, text) VALUES (NEW.id, {SEARCH_INDEX_TEXT.format(p='NEW.')}); END",
    "contact_fts_delete": f"AFTER DELETE ON contact BEGIN DELETE FROM {SEARCH_INDEX} WHERE rowid = OLD.id; END",
}
"""Schema v4-v7's triggers keeping the index (rowid = contact id) in step with every writer (v8 replaces them)."""


def _execute(db, sql: str) -> None:
    (db.execute_sql if isinstance(db, (peewee.Database, peewee.DatabaseProxy)) else db.execute)(sql)


def _create_v4_triggers(db) -> None:
    for name, body in _V4_TRIGGERS.items():
        _execute(db, f"CREATE TRIGGER IF NOT EXISTS {name} {body}")


def _drop_v4_triggers(db) -> None:
    for name in _V4_TRIGGERS:
        _execute(db, f"DROP TRIGGER IF EXISTS {name}")


def _v4(db: peewee.SqliteDatabase) -> None:
    """Trigram full-text index over the search column (SQLite >= 3.34), filled from the existing contacts."""
    db.execute_sql(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {SEARCH_INDEX} USING fts5(text, tokenize = 'trigram case_sensitive 1')"
    )
    db.execute_sql(f"DELETE FROM {SEARCH_INDEX}")
    db.execute_sql(_V4_FILL)
    _create_v4_triggers(db)


def _v5(db: peewee.SqliteDatabase) -> None:
    """The search index again with two spaces after each text (SEARCH_INDEX_TEXT: two-letter words are looked up
    in it too), and the contact's name keyed by id: a search's matches are sorted by name from this small index
    instead of from the contact rows (a search matching 5% of a million contacts sorts twice as fast); and the
    count of open invitations per hour they lapse in (`_expiry_counts`)."""
    _drop_v4_triggers(db)
    db.execute_sql(f"DELETE FROM {SEARCH_INDEX}")
    db.execute_sql(_V4_FILL)
    _create_v4_triggers(db)
    db.execute_sql(f"CREATE INDEX IF NOT EXISTS {NAMES_BY_ID} ON contact (id, last_name, first_name)")
    _expiry_counts(db)


EXPIRY_HOUR = "COALESCE(CAST(strftime('%s', {p}invite_expires_at) AS INTEGER) / 3600, 0)"
"""The hour (since 1970, UTC) an invitation lapses in: the key of `invite_expiry_count`. A value SQLite cannot read
as a time counts as lapsed long ago."""


def _expiry_counts(db: peewee.SqliteDatabase) -> None:
    """How many open invitations lapse in each hour, kept by triggers: the header's "expired" is then a sum over
    the past hours plus one short index range for the current hour, instead of counting every lapsed invitation
    (a quarter of a million rows at a million contacts)."""
    db.execute_sql(
        "CREATE TABLE IF NOT EXISTS invite_expiry_count (hour INTEGER PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID"
    )
    db.execute_sql("DELETE FROM invite_expiry_count")
    db.execute_sql(
        f"INSERT INTO invite_expiry_count (hour, n) SELECT {EXPIRY_HOUR.format(p='')}, COUNT(*) FROM contact "
        "WHERE status = 'invited' AND invite_expires_at IS NOT NULL GROUP BY 1"
    )
    open_new = "NEW.status = 'invited' AND NEW.invite_expires_at IS NOT NULL"
    open_old = "OLD.status = 'invited' AND OLD.invite_expires_at IS NOT NULL"
    up = (f"INSERT INTO invite_expiry_count (hour, n) SELECT {EXPIRY_HOUR.format(p='NEW.')}, 1 WHERE {open_new} "
          "ON CONFLICT (hour) DO UPDATE SET n = n + 1;")
    down = f"UPDATE invite_expiry_count SET n = n - 1 WHERE {open_old} AND hour = {EXPIRY_HOUR.format(p='OLD.')};"
    db.execute_sql(f"CREATE TRIGGER IF NOT EXISTS contact_expiry_insert AFTER INSERT ON contact WHEN {open_new} "
                   f"BEGIN {up} END")
    db.execute_sql(f"CREATE TRIGGER IF NOT EXISTS contact_expiry_delete AFTER DELETE ON contact WHEN {open_old} "
                   f"BEGIN {down} END")
    db.execute_sql(
        "CREATE TRIGGER IF NOT EXISTS contact_expiry_update AFTER UPDATE OF status, invite_expires_at ON contact "
        "WHEN OLD.status IS NOT NEW.status OR OLD.invite_expires_at IS NOT NEW.invite_expires_at "
        f"BEGIN {down} {up} END"
    )


NAMES_BY_ID = "contact_id_names"
"""Index of (id, last name, first name): sorting a search's matches by name reads only it (schema v5)."""


def _v6(db: peewee.SqliteDatabase) -> None:
    """The portal service's tables: one-time handoff codes and the API keys portals exchange them with. A key's
    name is unique among the keys in use, so a revoked key's name can be given to its replacement."""
    db.create_tables(PORTAL_MODELS)
    db.execute_sql("CREATE UNIQUE INDEX IF NOT EXISTS api_key_live_name ON api_key (name) WHERE revoked_at IS NULL")
DELIVERY_OF_OUTBOX = (
    "CASE {p}status WHEN 'sent' THEN 'sent' WHEN 'failed' THEN 'failed' WHEN 'skipped' THEN NULL ELSE 'queued' END"
)
"""An invitation's delivery state (`Contact.invite_delivery`) from the status of its outbox row: waiting or being
sent (a deferred one waits for its retry) is `queued`; a row taken out of the queue (access revoked) sent nothing."""

DELIVERY_KEY = "COALESCE({p}invite_delivery, 'no_mail')"
"""The key of `invite_delivery_count`: the delivery state, `no_mail` for none."""


def _columns(db: peewee.SqliteDatabase, table: str) -> set[str]:
    return {row[1] for row in db.execute_sql(f'PRAGMA table_info("{table}")').fetchall()}


def _v7(db: peewee.SqliteDatabase) -> None:
    """The channel of each magic link (a link shown to an admin no longer supersedes an emailed one), and each
    invited contact's invitation delivery state, kept by triggers on the outbox, with its counts for the header.

    Written to run again harmlessly (every step checks or replaces what it makes)."""
    if "channel" not in _columns(db, "magic_link"):
        # Links from before this version may be in a mailbox: they count as emailed, so no shown link ends them.
        db.execute_sql("ALTER TABLE magic_link ADD COLUMN channel VARCHAR(255) NOT NULL DEFAULT 'email'")
    if "invite_delivery" not in _columns(db, "contact"):
        db.execute_sql("ALTER TABLE contact ADD COLUMN invite_delivery VARCHAR(255)")
    # Each contact's latest invitation row says where their invitation is (only contacts that have one are read);
    # an invited contact never sent an invitation was invited by a login email: the latest of those says it.
    db.execute_sql(
        f"UPDATE contact SET invite_delivery = (SELECT {DELIVERY_OF_OUTBOX.format(p='o.')} FROM outbox_message o "
        "WHERE o.contact_id = contact.id AND o.kind = 'invite' ORDER BY o.id DESC LIMIT 1) "
        "WHERE id IN (SELECT contact_id FROM outbox_message WHERE kind = 'invite')"
    )
    db.execute_sql(
        f"UPDATE contact SET invite_delivery = (SELECT {DELIVERY_OF_OUTBOX.format(p='o.')} FROM outbox_message o "
        "WHERE o.contact_id = contact.id ORDER BY o.id DESC LIMIT 1) "
        "WHERE status = 'invited' AND id IN (SELECT contact_id FROM outbox_message WHERE kind = 'login') "
        "AND id NOT IN (SELECT contact_id FROM outbox_message WHERE kind = 'invite')"
    )
    _delivery_triggers(db)
    _delivery_counts(db)


DELIVERY_TRIGGERS = ("outbox_invite_queued", "outbox_invite_outcome", "outbox_login_queued", "outbox_login_outcome")


def _delivery_triggers(db: peewee.SqliteDatabase) -> None:
    """Keep `contact.invite_delivery` in step with the email that carries the contact's invitation, in the
    statement (and so the transaction) that queues the row or records its outcome: every writer of the outbox
    (the sender, a retry, a revocation, a claim that gives up) keeps it right without knowing about it.

    That email is the contact's latest invitation row; for an invited contact who was never sent an invitation
    (a login email to a contact not yet invited invites them), their latest login row. Once a contact has an
    invitation row, login emails no longer change the state: it says where the invitation is."""
    new = DELIVERY_OF_OUTBOX.format(p="NEW.")
    set_state = f"UPDATE contact SET invite_delivery = {new} WHERE id = NEW.contact_id AND invite_delivery IS NOT {new}"
    no_invitation = ("NOT EXISTS (SELECT 1 FROM outbox_message AS other WHERE other.contact_id = NEW.contact_id "
                     "AND other.kind = 'invite')")
    for name in DELIVERY_TRIGGERS:
        db.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
    db.execute_sql(
        f"CREATE TRIGGER outbox_invite_queued AFTER INSERT ON outbox_message WHEN NEW.kind = 'invite' "
        f"BEGIN {set_state}; END"
    )
    # Only the latest row speaks for the contact: an older one retried or failed later does not.
    db.execute_sql(
        "CREATE TRIGGER outbox_invite_outcome AFTER UPDATE OF status ON outbox_message "
        "WHEN NEW.kind = 'invite' AND OLD.status IS NOT NEW.status "
        f"BEGIN {set_state} AND NOT EXISTS (SELECT 1 FROM outbox_message AS later "
        "WHERE later.contact_id = NEW.contact_id AND later.kind = 'invite' AND later.id > NEW.id); END"
    )
    db.execute_sql(
        "CREATE TRIGGER outbox_login_queued AFTER INSERT ON outbox_message WHEN NEW.kind = 'login' "
        f"BEGIN {set_state} AND status = 'invited' AND {no_invitation}; END"
    )
    db.execute_sql(
        "CREATE TRIGGER outbox_login_outcome AFTER UPDATE OF status ON outbox_message "
        "WHEN NEW.kind = 'login' AND OLD.status IS NOT NEW.status "
        f"BEGIN {set_state} AND status = 'invited' AND NOT EXISTS (SELECT 1 FROM outbox_message AS other "
        "WHERE other.contact_id = NEW.contact_id AND (other.kind = 'invite' OR other.id > NEW.id)); END"
    )


def _delivery_counts(db: peewee.SqliteDatabase) -> None:
    """How many invited contacts are in each delivery state, kept by triggers: the header and `stats` read four
    rows instead of counting the invited contacts by state."""
    db.execute_sql(
        "CREATE TABLE IF NOT EXISTS invite_delivery_count (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID"
    )
    db.execute_sql("DELETE FROM invite_delivery_count")
    db.execute_sql(
        f"INSERT INTO invite_delivery_count (state, n) SELECT {DELIVERY_KEY.format(p='')}, COUNT(*) FROM contact "
        "WHERE status = 'invited' GROUP BY 1"
    )
    up = (f"INSERT INTO invite_delivery_count (state, n) SELECT {DELIVERY_KEY.format(p='NEW.')}, 1 "
          "WHERE NEW.status = 'invited' ON CONFLICT (state) DO UPDATE SET n = n + 1;")
    down = ("UPDATE invite_delivery_count SET n = n - 1 "
            f"WHERE OLD.status = 'invited' AND state = {DELIVERY_KEY.format(p='OLD.')};")
    for name in ("contact_delivery_insert", "contact_delivery_delete", "contact_delivery_update"):
        db.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
    db.execute_sql("CREATE TRIGGER contact_delivery_insert AFTER INSERT ON contact WHEN NEW.status = 'invited' "
                   f"BEGIN {up} END")
    db.execute_sql("CREATE TRIGGER contact_delivery_delete AFTER DELETE ON contact WHEN OLD.status = 'invited' "
                   f"BEGIN {down} END")
    db.execute_sql(
        "CREATE TRIGGER contact_delivery_update AFTER UPDATE OF status, invite_delivery ON contact "
        "WHEN (OLD.status = 'invited' OR NEW.status = 'invited') "
        "AND (OLD.status IS NOT NEW.status OR OLD.invite_delivery IS NOT NEW.invite_delivery) "
        f"BEGIN {down} {up} END"
    )


# --- schema v8: the name order kept in the data -------------------------------------------------------------------

NAME_GAP = 64
"""How far apart neighbouring contacts' name ranks are after a renumbering. The search index is keyed by rank and
stores the distance between neighbouring keys, so a wider gap makes it bigger (at 100k contacts: 13.7 MB with no
gap, 15.2 with 16, 17.7 with 128, 31 MB with 2**32); a narrower one runs out sooner where contacts are added at one
place in the order (a gap of 64 takes six there before `place_unranked` spreads the neighbourhood)."""

NAME_ORDER = "{p}last_name, {p}first_name, {p}id"
"""The name order (`models.listing.SORT_KEYS['name']`), which `contact.name_rank` follows."""

RANK_INDEX = "contact_name_rank"
STATUS_RANK_INDEX = "contact_status_rank"

_INDEX_TEXT = "lower({p}search_text) || '  '"


def _neighbour_sql(before: bool, key: str) -> str:
    """The rank of the nearest ranked contact before (or after) the name-order key `key`, through the names index."""
    op, direction = ("<", "DESC") if before else (">", "ASC")
    return (f"SELECT o.name_rank FROM contact AS o WHERE (o.last_name, o.first_name, o.id) {op} ({key}) "
            f"AND o.name_rank IS NOT NULL ORDER BY o.last_name {direction}, o.first_name {direction}, "
            f"o.id {direction} LIMIT 1")


_NEW_KEY = "NEW.last_name, NEW.first_name, NEW.id"

RANK_OF_NEW = (
    f"(SELECT CASE WHEN p IS NULL THEN COALESCE(s - {NAME_GAP}, 0) WHEN s IS NULL THEN p + {NAME_GAP} "
    f"WHEN s - p >= 2 THEN p + (s - p) / 2 END "
    f"FROM (SELECT ({_neighbour_sql(True, _NEW_KEY)}) AS p, ({_neighbour_sql(False, _NEW_KEY)}) AS s))"
)
"""A new (or renamed) contact's rank: halfway between its neighbours' in name order, NAME_GAP past the last, or
NULL when its neighbours' ranks are adjacent (`place_unranked` then makes room)."""

SEARCH_INDEX_TRIGGERS = {
    "contact_rank_insert": "AFTER INSERT ON contact WHEN NEW.name_rank IS NULL BEGIN "
    f"UPDATE contact SET name_rank = {RANK_OF_NEW} WHERE id = NEW.id; END",
    "contact_rank_update": "AFTER UPDATE OF first_name, last_name ON contact "
    "WHEN OLD.first_name IS NOT NEW.first_name OR OLD.last_name IS NOT NEW.last_name BEGIN "
    f"UPDATE contact SET name_rank = {RANK_OF_NEW} WHERE id = NEW.id; END",
    "contact_fts_insert": "AFTER INSERT ON contact WHEN NEW.name_rank IS NOT NULL BEGIN "
    f"INSERT INTO {SEARCH_INDEX} (rowid, text) VALUES (NEW.name_rank, {_INDEX_TEXT.format(p='NEW.')}); END",
    "contact_fts_update": "AFTER UPDATE OF name_rank, search_text ON contact "
    "WHEN OLD.name_rank IS NOT NEW.name_rank OR OLD.search_text IS NOT NEW.search_text BEGIN "
    f"INSERT INTO {SEARCH_INDEX} ({SEARCH_INDEX}, rowid, text) SELECT 'delete', OLD.name_rank, "
    f"{_INDEX_TEXT.format(p='OLD.')} WHERE OLD.name_rank IS NOT NULL; "
    f"INSERT INTO {SEARCH_INDEX} (rowid, text) SELECT NEW.name_rank, {_INDEX_TEXT.format(p='NEW.')} "
    "WHERE NEW.name_rank IS NOT NULL; END",
    "contact_fts_delete": "AFTER DELETE ON contact WHEN OLD.name_rank IS NOT NULL BEGIN "
    f"INSERT INTO {SEARCH_INDEX} ({SEARCH_INDEX}, rowid, text) VALUES ('delete', OLD.name_rank, "
    f"{_INDEX_TEXT.format(p='OLD.')}); END",
}
"""Schema v8's triggers: a contact added or renamed gets its rank in name order, and the search index (keyed by
rank, storing no text: a `delete` names the text it indexed, which the old row still holds) follows every change
of rank or search text. They replace v4's `SEARCH_INDEX_TRIGGERS` (same three index trigger names)."""

INDEX_TRIGGERS = ("contact_fts_insert", "contact_fts_update", "contact_fts_delete")


def _rows(db, sql: str, params=()) -> list[tuple]:
    if isinstance(db, (peewee.Database, peewee.DatabaseProxy)):
        return db.execute_sql(sql, params).fetchall()
    return db.execute(sql, params).fetchall()


def create_search_index_triggers(db) -> None:
    """(Re)create SEARCH_INDEX_TRIGGERS; `db` is a Peewee database (or the proxy) or a sqlite3 connection."""
    for name, body in SEARCH_INDEX_TRIGGERS.items():
        _execute(db, f"CREATE TRIGGER IF NOT EXISTS {name} {body}")


def drop_search_index_triggers(db) -> None:
    """Drop SEARCH_INDEX_TRIGGERS, for a bulk insert that then ranks and indexes its rows at the end
    (`renumber_names` or `place_unranked`): row by row, a trigram index makes an insert about ten times slower."""
    for name in SEARCH_INDEX_TRIGGERS:
        _execute(db, f"DROP TRIGGER IF EXISTS {name}")


def renumber_names(db) -> None:
    """Every contact's rank again, NAME_GAP apart in name order, and the search index filled again in rank order
    (in key order, FTS5 appends: a million contacts in seconds, where filling it in id order took a minute)."""
    for name in INDEX_TRIGGERS:
        _execute(db, f"DROP TRIGGER IF EXISTS {name}")
    _execute(db, f"INSERT INTO {SEARCH_INDEX} ({SEARCH_INDEX}) VALUES ('delete-all')")
    _execute(db, f"UPDATE contact SET name_rank = r.n * {NAME_GAP} FROM (SELECT id, row_number() OVER "
                 f"(ORDER BY {NAME_ORDER.format(p='')}) AS n FROM contact) AS r WHERE contact.id = r.id "
                 f"AND contact.name_rank IS NOT r.n * {NAME_GAP}")
    with _fill_buffer(db):
        _execute(db, f"INSERT INTO {SEARCH_INDEX} (rowid, text) SELECT name_rank, {_INDEX_TEXT.format(p='')} "
                     "FROM contact ORDER BY name_rank")
    create_search_index_triggers(db)


FILL_HASH_BYTES = 64 * 1024 * 1024
"""How much index data FTS5 gathers in memory before writing it out as a segment, while `renumber_names` fills the
index (FTS5's `hashsize`; its default is 1 MiB). A million contacts make about 400 MB of entries: at 1 MiB they go
out as hundreds of small segments, merged again and again as they pile up (the fill took 17-21 s at 1M); at
64 MiB 7-10 s, for about 64 MB more memory while it runs (16 MiB: 10-11 s; 128 MiB: 8 s for 64 MB more). A fill
of 100k is about the same either way. (The fill alone, 1M rows, on two shared cores.)"""

DEFAULT_HASH_BYTES = 1024 * 1024
"""FTS5's own `hashsize`, put back after the fill: a transaction of ordinary writes keeps little pending."""


@contextmanager
def _fill_buffer(db) -> Iterator[None]:
    """FILL_HASH_BYTES for the statements in the block, FTS5's default again after (in the caller's transaction,
    so a rollback undoes both). An SQLite without the setting fills the index as before."""
    try:
        _execute(db, f"INSERT INTO {SEARCH_INDEX} ({SEARCH_INDEX}, rank) VALUES ('hashsize', {FILL_HASH_BYTES})")
        buffered = True
    except (peewee.OperationalError, sqlite3.OperationalError):
        buffered = False
    try:
        yield
    finally:
        if buffered:
            _execute(db, f"INSERT INTO {SEARCH_INDEX} ({SEARCH_INDEX}, rank) VALUES ('hashsize', {DEFAULT_HASH_BYTES})")


RENUMBER_SHARE = 20
"""`place_unranked` renumbers everyone instead when more than one contact in this many has no rank (a big import):
one pass over the table beats spreading neighbourhoods again and again."""

INLINE_FILL_LIMIT = 20_000
"""Above this many contacts, `place_unranked` leaves a renumbering of everyone to the background fill
(`models.backends.sqlite.fill`) instead of doing it in the caller's transaction: after a big import, an invite or
an edit must not rank and index a million contacts (seconds) while it holds the write lock. At or below it the
renumbering is a tenth of a second or less."""


def place_unranked(db, *, inline_limit: int | None = INLINE_FILL_LIMIT) -> int:
    """Give every contact without a rank its place in the name order: halfway between its neighbours, or, where
    their ranks are adjacent, after spreading the ranks around them (`_make_room`). Runs in the caller's
    transaction; returns how many contacts it placed. Every write of ours that adds or renames contacts ends
    with it; the triggers leave a contact unranked only where the ranks had no room, and a big import leaves its
    contacts unranked for the background fill. When more than one contact in RENUMBER_SHARE has no rank and the
    table holds more than `inline_limit` contacts (None: no limit), nothing is done here: that is the background
    fill's work (searches answer through LIKE meanwhile, `search.ranked`)."""
    missing, everyone = _rows(db, "SELECT (SELECT COUNT(*) FROM contact WHERE name_rank IS NULL), "
                                  "(SELECT COALESCE(SUM(n), 0) FROM contact_status_count)")[0]
    if not missing:
        return 0
    if missing * RENUMBER_SHARE > everyone:
        if inline_limit is not None and everyone > inline_limit:
            return 0
        renumber_names(db)
        return missing
    placed = 0
    while True:
        found = _rows(db, f"SELECT id, last_name, first_name FROM contact WHERE name_rank IS NULL "
                          f"ORDER BY {NAME_ORDER.format(p='')} LIMIT 1")
        if not found:
            return placed
        contact_id, last, first = found[0]
        key = (last, first, contact_id)
        before = _rows(db, _neighbour_sql(True, "?, ?, ?"), key)
        after = _rows(db, _neighbour_sql(False, "?, ?, ?"), key)
        p, s = (before[0][0] if before else None), (after[0][0] if after else None)
        if p is None:
            rank = 0 if s is None else s - NAME_GAP
        elif s is None:
            rank = p + NAME_GAP
        elif s - p >= 2:
            rank = p + (s - p) // 2
        else:
            if not _make_room(db, p, s):
                renumber_names(db)
                return placed + 1
            continue
        _rows(db, "UPDATE contact SET name_rank = ? WHERE id = ?", (rank, contact_id))
        placed += 1


def _make_room(db, p: int, s: int) -> bool:
    """Spread the ranks around the adjacent pair (p, s) evenly over the narrowest span (8, 32, 128... contacts on
    each side) that leaves at least 16 between neighbours; False when not even the whole table has such a span.

    The search index keys its entries by rank, so no two contacts may hold one rank even for a moment: the ones
    moving down move first, lowest first, then the ones moving up, highest first."""
    side = 8
    while True:
        lo = _rows(db, "SELECT name_rank FROM contact WHERE name_rank <= ? ORDER BY name_rank DESC LIMIT 1 OFFSET ?",
                   (p, side))
        hi = _rows(db, "SELECT name_rank FROM contact WHERE name_rank >= ? ORDER BY name_rank LIMIT 1 OFFSET ?",
                   (s, side))
        if not lo or not hi:
            return False
        lo, hi = lo[0][0], hi[0][0]
        inside = _rows(db, "SELECT id, name_rank FROM contact WHERE name_rank > ? AND name_rank < ? "
                           "ORDER BY name_rank", (lo, hi))
        step = (hi - lo) // (len(inside) + 1)
        if step >= 16:
            moves = [(contact_id, old, lo + i * step) for i, (contact_id, old) in enumerate(inside, start=1)]
            for contact_id, _, rank in [m for m in moves if m[2] < m[1]] + [m for m in reversed(moves) if m[2] > m[1]]:
                _rows(db, "UPDATE contact SET name_rank = ? WHERE id = ?", (rank, contact_id))
            return True
        side *= 4


def _v8(db: peewee.SqliteDatabase) -> None:
    """The name order kept in the data (issue 12): each contact's rank in name order (`name_rank`, gapped, kept by
    triggers), and the search index keyed by it, so the first window of a search in name order is the index's
    first matches, with no sort and no count. The index stores no copy of the text (contentless: the text is in
    `contact.search_text` once) nor document sizes. The names-by-id and status-and-names indexes go (the rank does
    their work); status and rank serve a filtered list in name order."""
    for name in ("contact_fts_insert", "contact_fts_update", "contact_fts_delete"):
        db.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
    db.execute_sql(f"DROP TABLE IF EXISTS {SEARCH_INDEX}")
    db.execute_sql(f"DROP INDEX IF EXISTS {NAMES_BY_ID}")
    db.execute_sql("DROP INDEX IF EXISTS contact_status_names")
    if "name_rank" not in _columns(db, "contact"):
        db.execute_sql("ALTER TABLE contact ADD COLUMN name_rank INTEGER")
    db.execute_sql(f"CREATE INDEX IF NOT EXISTS {RANK_INDEX} ON contact (name_rank)")
    db.execute_sql(f"CREATE INDEX IF NOT EXISTS {STATUS_RANK_INDEX} ON contact (status, name_rank)")
    db.execute_sql(f"CREATE VIRTUAL TABLE {SEARCH_INDEX} USING fts5(text, content='', columnsize=0, "
                   "tokenize = 'trigram case_sensitive 1')")
    renumber_names(db)


def _v9(db: peewee.SqliteDatabase) -> None:
    """Version 9 is PostgreSQL's (its search alphabet, for two-letter words): nothing to do in an SQLite file."""


def _v10(db: peewee.SqliteDatabase) -> None:
    """Version 10 is PostgreSQL's (finer statistics on its search key): nothing to do in an SQLite file."""


UPGRADES: dict[int, Callable[[peewee.SqliteDatabase], None]] = {1: _v1, 2: _v2, 3: _v3, 4: _v4, 5: _v5, 6: _v6, 7: _v7, 8: _v8,
                                                                9: _v9, 10: _v10}
"""Upgrade to version N from N-1."""
