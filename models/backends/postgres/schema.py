"""PostgreSQL's schema: the tables (Peewee's DDL for the models), then what SQLite's schema does with its own
tools, in PostgreSQL's: a `pg_trgm` GIN index for search, the header's counts kept by plpgsql triggers, the
invitation delivery state kept by triggers on the outbox, a NOTIFY for every committed change, and the version
table with its upgrades.

Schema versions are the same numbers as SQLite's. PostgreSQL support starts at version 7: on PostgreSQL, version
1 creates the whole schema of version 7, and 2 to 7 have nothing left to do. A later version adds its upgrade for
both engines.

Text sorts as SQLite sorts it (by code point): the sort indexes are `COLLATE "C"` whatever the database's locale,
and timestamps sort NULLs first as SQLite does, so a listing comes back in the same order on both engines.
"""

from __future__ import annotations

import peewee

from models.errors import PortalError

VERSION_TABLE = "portal_schema"
"""One row, one column: the schema version of the database (SQLite keeps it in `PRAGMA user_version`)."""

CHANGES_CHANNEL = "client_portal_changes"
"""The LISTEN/NOTIFY channel every committed change to a portal table is announced on (payload: the table)."""

ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ASCII_LOWER = str.maketrans(ASCII_UPPER, ASCII_UPPER.lower())
"""Lower case for ASCII letters only, as SQLite's LIKE folds case (`str.translate` table)."""

SEARCH_KEY = "search_key"
"""What a search word is matched against: a column (PostgreSQL's only) holding the search text lower-cased for
ASCII letters only, as SQLite's LIKE folds case, so both engines find exactly the same contacts. Kept by the
search trigger (and filled by a bulk import itself); the trigram index is on it. A column, not an index on the
expression: `translate()` costs tens of microseconds a row, once per write here instead of once per row searched."""

SEARCH_KEY_SQL = f"translate({{p}}search_text, '{ASCII_UPPER}', '{ASCII_UPPER.lower()}')"


def search_key(text: str) -> str:
    """The same value the trigger stores, for bulk inserts that fill it themselves."""
    return text.translate(ASCII_LOWER)


SEARCH_TEXT = "{p}first_name || ' ' || {p}last_name || ' ' || {p}email || ' ' || {p}company"
"""What a contact is found by (the same text SQLite's `search_text` holds)."""

SEARCH_INDEX = "contact_search_trgm"
"""The `pg_trgm` GIN index over `contact.search_text`: `search_text ILIKE '%word%'` is answered from it for words
of three or more characters."""

ALPHABET = "search_alphabet"
"""Every character outside printable ASCII that some contact's search key holds or held (kept by triggers, never
emptied: a character too many costs a lookup, one missing would lose matches). With printable ASCII, the
characters every search key is made of: a word of two letters, from which pg_trgm extracts no trigram, is looked
up in the trigram index as the three-letter strings it makes with each of them (`search.pair_patterns`).
Schema version 9."""

OUTSIDE_ASCII = "'[^ -~]'"
"""A regular expression that finds a character outside printable ASCII (the characters `ALPHABET` keeps)."""

_ALPHABET_FILL = (f"INSERT INTO {ALPHABET} (ch) SELECT DISTINCT c FROM {{rows}}, "
                  "regexp_split_to_table(regexp_replace({p}search_key, '[ -~]', '', 'g'), '') AS c "
                  f"WHERE {{p}}search_key ~ {OUTSIDE_ASCII} AND c <> '' ON CONFLICT DO NOTHING")
"""Add the characters outside printable ASCII of the search keys of `rows` (`p`: how their columns are named)."""

EXPIRY_HOUR = "FLOOR(EXTRACT(EPOCH FROM {p}) / 3600)::bigint"
"""The hour (since 1970, UTC) a timestamp falls in: the key of `invite_expiry_count`."""

_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION portal_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_text := {SEARCH_TEXT.format(p="NEW.")};
    NEW.search_key := {SEARCH_KEY_SQL.format(p="NEW.")};
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION portal_count_contact(p_status text, p_expires timestamp, p_delivery text, delta int)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO contact_status_count AS c (status, n) VALUES (p_status, delta)
        ON CONFLICT (status) DO UPDATE SET n = c.n + delta;
    IF p_status = 'invited' THEN
        IF p_expires IS NOT NULL THEN
            INSERT INTO invite_expiry_count AS c (hour, n) VALUES ({EXPIRY_HOUR.format(p="p_expires")}, delta)
                ON CONFLICT (hour) DO UPDATE SET n = c.n + delta;
        END IF;
        INSERT INTO invite_delivery_count AS c (state, n) VALUES (COALESCE(p_delivery, 'no_mail'), delta)
            ON CONFLICT (state) DO UPDATE SET n = c.n + delta;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION portal_contact_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM portal_count_contact(NEW.status, NEW.invite_expires_at, NEW.invite_delivery, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM portal_count_contact(OLD.status, OLD.invite_expires_at, OLD.invite_delivery, -1);
    ELSIF OLD.status IS DISTINCT FROM NEW.status OR OLD.invite_expires_at IS DISTINCT FROM NEW.invite_expires_at
            OR OLD.invite_delivery IS DISTINCT FROM NEW.invite_delivery THEN
        PERFORM portal_count_contact(OLD.status, OLD.invite_expires_at, OLD.invite_delivery, -1);
        PERFORM portal_count_contact(NEW.status, NEW.invite_expires_at, NEW.invite_delivery, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION portal_outbox_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    state text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.status IS NOT DISTINCT FROM NEW.status THEN
            RETURN NULL;
        END IF;
    END IF;
    state := CASE NEW.status WHEN 'sent' THEN 'sent' WHEN 'failed' THEN 'failed' WHEN 'skipped' THEN NULL
             ELSE 'queued' END;
    IF NEW.kind = 'invite' THEN
        -- Only the contact's latest invitation row speaks for it: an older one retried or failed later does not.
        UPDATE contact SET invite_delivery = state
        WHERE id = NEW.contact_id AND invite_delivery IS DISTINCT FROM state
          AND (TG_OP = 'INSERT' OR NOT EXISTS (SELECT 1 FROM outbox_message AS later
               WHERE later.contact_id = NEW.contact_id AND later.kind = 'invite' AND later.id > NEW.id));
    ELSIF NEW.kind = 'login' THEN
        -- An invited contact never sent an invitation was invited by a login email: its latest one says where.
        UPDATE contact SET invite_delivery = state
        WHERE id = NEW.contact_id AND invite_delivery IS DISTINCT FROM state AND status = 'invited'
          AND NOT EXISTS (SELECT 1 FROM outbox_message AS other WHERE other.contact_id = NEW.contact_id
               AND (other.kind = 'invite' OR (TG_OP = 'UPDATE' AND other.id > NEW.id)));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION portal_alphabet_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_ALPHABET_FILL.format(rows="added", p="added.")};
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION portal_alphabet_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_ALPHABET_FILL.format(rows="(SELECT NEW.search_key) AS changed (search_key)", p="changed.")};
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION portal_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANGES_CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END $$;
"""
"""The plpgsql functions the triggers call (replaced as a whole on every upgrade)."""

_COUNT_TABLES = """
CREATE TABLE IF NOT EXISTS contact_status_count (status TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS invite_expiry_count (hour BIGINT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS invite_delivery_count (state TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""

_ALPHABET_TABLE = f"CREATE TABLE IF NOT EXISTS {ALPHABET} (ch TEXT PRIMARY KEY)"

_COUNT_FILL = f"""
DELETE FROM contact_status_count;
INSERT INTO contact_status_count (status, n) SELECT status, COUNT(*) FROM contact GROUP BY status;
DELETE FROM invite_expiry_count;
INSERT INTO invite_expiry_count (hour, n) SELECT {EXPIRY_HOUR.format(p="invite_expires_at")}, COUNT(*) FROM contact
    WHERE status = 'invited' AND invite_expires_at IS NOT NULL GROUP BY 1;
DELETE FROM invite_delivery_count;
INSERT INTO invite_delivery_count (state, n) SELECT COALESCE(invite_delivery, 'no_mail'), COUNT(*) FROM contact
    WHERE status = 'invited' GROUP BY 1;
"""
"""Recount everything the count triggers keep (after a bulk load that ran without them)."""

_INDEXES = f"""
CREATE INDEX IF NOT EXISTS outbox_message_due ON outbox_message (status, next_attempt_at, id);
CREATE INDEX IF NOT EXISTS magic_link_open ON magic_link (contact_id, purpose, created_at);
CREATE INDEX IF NOT EXISTS magic_link_open_invite ON magic_link (expires_at)
    WHERE purpose = 'invite' AND used_at IS NULL AND revoked_at IS NULL AND superseded_at IS NULL;
CREATE INDEX IF NOT EXISTS contact_names ON contact (last_name COLLATE "C", first_name COLLATE "C", id);
CREATE INDEX IF NOT EXISTS contact_email_order ON contact (email COLLATE "C");
CREATE INDEX IF NOT EXISTS contact_invited_order ON contact (invited_at NULLS FIRST, id);
CREATE INDEX IF NOT EXISTS contact_login_order ON contact (last_login_at NULLS FIRST, id);
CREATE INDEX IF NOT EXISTS contact_status_invited ON contact (status, invited_at NULLS FIRST, id);
CREATE INDEX IF NOT EXISTS contact_status_login ON contact (status, last_login_at NULLS FIRST, id);
CREATE INDEX IF NOT EXISTS contact_status_names ON contact (status, last_name COLLATE "C", first_name COLLATE "C", id);
DROP INDEX IF EXISTS contact_status;
DROP INDEX IF EXISTS contact_invited_at;
DROP INDEX IF EXISTS contact_last_login_at;
CREATE INDEX IF NOT EXISTS contact_invite_expiry ON contact (status, invite_expires_at);
CREATE UNIQUE INDEX IF NOT EXISTS api_key_live_name ON api_key (name) WHERE revoked_at IS NULL;
CREATE INDEX IF NOT EXISTS {SEARCH_INDEX} ON contact USING gin ({SEARCH_KEY} gin_trgm_ops);
"""
"""The indexes SQLite's schema has, spelled for PostgreSQL's sorts (see the module docstring), and the trigram
index. Peewee's single-column indexes that these make redundant are dropped (each costs every insert)."""

COUNT_TRIGGERS = {
    "contact_search_insert": "BEFORE INSERT ON contact FOR EACH ROW EXECUTE FUNCTION portal_search_text()",
    "contact_search_update": "BEFORE UPDATE OF first_name, last_name, email, company ON contact "
                             "FOR EACH ROW EXECUTE FUNCTION portal_search_text()",
    "contact_count_insert": "AFTER INSERT ON contact FOR EACH ROW EXECUTE FUNCTION portal_contact_counts()",
    "contact_count_change": "AFTER DELETE OR UPDATE OF status, invite_expires_at, invite_delivery ON contact "
                            "FOR EACH ROW EXECUTE FUNCTION portal_contact_counts()",
    "outbox_delivery": "AFTER INSERT OR UPDATE OF status ON outbox_message "
                       "FOR EACH ROW EXECUTE FUNCTION portal_outbox_delivery()",
}
"""Row triggers that keep the search text, the header's counts and the invitation delivery state. The contact's
insert triggers are apart from the others, so a bulk import can set those aside alone (`InsertUpkeep`)."""

ALPHABET_TRIGGERS = {
    "contact_alphabet_insert": "AFTER INSERT ON contact REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
                               "EXECUTE FUNCTION portal_alphabet_added()",
    "contact_alphabet_update": f"AFTER UPDATE ON contact FOR EACH ROW WHEN (NEW.search_key ~ {OUTSIDE_ASCII} AND "
                               "NEW.search_key IS DISTINCT FROM OLD.search_key) "
                               "EXECUTE FUNCTION portal_alphabet_changed()",
}
"""The triggers that keep `ALPHABET`: once per statement for inserts (one pass over a bulk import's rows, whatever
path they came by: COPY, INSERT ... SELECT, with the other insert triggers set aside or not), and for each row
whose key changed to one with a character outside printable ASCII (a rename: rare)."""

INSERT_TRIGGERS = ("contact_search_insert", "contact_count_insert")
"""The contact table's per-row insert upkeep: a bulk import switches these off and does their work once."""


def _tables() -> list[str]:
    from models.entities import ALL_MODELS

    return [model._meta.table_name for model in ALL_MODELS]


def _run_script(db: peewee.Database, script: str) -> None:
    for statement in _split(script):
        db.execute_sql(statement)


def _split(script: str) -> list[str]:
    """Statements of a script; a `$$ ... $$` body stays whole."""
    out, current, in_body = [], [], False
    for line in script.splitlines():
        if not line.strip() and not current:
            continue
        current.append(line)
        in_body ^= line.count("$$") % 2 == 1
        if not in_body and line.rstrip().endswith(";"):
            out.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if "".join(current).strip():
        out.append("\n".join(current))
    return out


def create_triggers(db: peewee.Database) -> None:
    """(Re)create every trigger: the row triggers above and one NOTIFY per statement on each portal table."""
    _run_script(db, _FUNCTIONS)
    for name, body in {**COUNT_TRIGGERS, **ALPHABET_TRIGGERS}.items():
        table = body.split(" ON ")[1].split()[0]
        db.execute_sql(f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"')
        db.execute_sql(f'CREATE TRIGGER "{name}" {body}')
    for table in _tables():
        db.execute_sql(f'DROP TRIGGER IF EXISTS "{table}_notify" ON "{table}"')
        db.execute_sql(f'CREATE TRIGGER "{table}_notify" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "{table}" '
                       "FOR EACH STATEMENT EXECUTE FUNCTION portal_notify_change()")


def drop_row_triggers(db: peewee.Database) -> None:
    """Drop the count and search-text triggers, for a bulk load that then fills and counts in one statement each."""
    for name, body in COUNT_TRIGGERS.items():
        table = body.split(" ON ")[1].split()[0]
        db.execute_sql(f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"')


def recount(db: peewee.Database) -> None:
    """Recompute every kept count from the rows."""
    _run_script(db, _COUNT_FILL)


def create_schema(db: peewee.Database) -> None:
    """The whole schema as of version 7 (and the alphabet's empty table, which its triggers need), in the caller's
    transaction."""
    from models.entities import ALL_MODELS

    _ensure_trigram(db)
    with db.bind_ctx(ALL_MODELS):  # the models' own database may be another one (the source of `db copy`)
        db.create_tables(ALL_MODELS)
    db.execute_sql(f"ALTER TABLE contact ADD COLUMN IF NOT EXISTS {SEARCH_KEY} TEXT NOT NULL DEFAULT ''")
    _run_script(db, _COUNT_TABLES)
    db.execute_sql(_ALPHABET_TABLE)
    _run_script(db, _INDEXES)
    db.execute_sql(f'ALTER TABLE contact CLUSTER ON "{NAME_ORDER_INDEX}"')  # see `store_in_name_order`
    create_triggers(db)
    recount(db)


NAME_ORDER_INDEX = "contact_names"
"""The index whose order the contacts are stored in, where we write them in bulk (`store_in_name_order`): the
name order, the dashboard's default and the search's own (`search._walk`, `search._sliced`)."""


def store_in_name_order(db: peewee.Database) -> None:
    """Rewrite the contact table in name order (CLUSTER on `NAME_ORDER_INDEX`, in the caller's transaction), and
    mark that index as the one the table is clustered on, so a plain `CLUSTER contact` (or `clusterdb`) run later
    by the server's admin puts it back in that order.

    A walk or a slice of the name order then reads a few contacts per page instead of one page per contact: at a
    million contacts, stored in id order, a window of 'x' read 28 ms, 'mary' 20 ms; in name order 3.5 and 8.4 ms.
    Answers never depend on it: contacts added or renamed later go wherever the server puts them, and every road
    sorts what it reads (tests/test_pg_search.py checks a table in another order). The table's ACCESS EXCLUSIVE
    lock is held to the end of the transaction: for a table being filled (`db copy`), not a live one."""
    db.execute_sql(f'CLUSTER contact USING "{NAME_ORDER_INDEX}"')


def _nothing(db: peewee.Database) -> None:
    """Versions 2 to 7: already part of what version 1 creates on PostgreSQL."""


SEARCH_KEY_STATISTICS = 1_000
"""How many values of the search key ANALYZE keeps (PostgreSQL's default: 100). The planner reads a LIKE's share
of the contacts from them (`search._estimate`, and the plan of a slice of the sort order, `search._sliced`): with
100, a word of 0.7 % ('mary') was estimated at 0.01 % or 1 %, as one sampled key held it or none did, and a slice
read every match of the word instead of the slice's own. With 1,000, in steps of 0.1 %. ANALYZE samples 300 rows
per value (300,000 rows: seconds at a million contacts, run by autovacuum in the background)."""


def _v10(db: peewee.Database) -> None:
    """Finer statistics on the search key (`SEARCH_KEY_STATISTICS`), taken at the next ANALYZE."""
    db.execute_sql(f"ALTER TABLE contact ALTER COLUMN {SEARCH_KEY} SET STATISTICS {SEARCH_KEY_STATISTICS}")


def _v9(db: peewee.Database) -> None:
    """The search alphabet (`ALPHABET`), its triggers, and the characters the contacts already have."""
    db.execute_sql(_ALPHABET_TABLE)
    create_triggers(db)
    db.execute_sql(_ALPHABET_FILL.format(rows="contact", p="contact."))


UPGRADES = {1: create_schema, 2: _nothing, 3: _nothing, 4: _nothing, 5: _nothing, 6: _nothing, 7: _nothing,
            8: _nothing,  # v8 is SQLite's name-ordered search index; the trigram index here needs no rank
            9: _v9, 10: _v10}
"""Upgrade to version N from N-1."""


def has_tables(db: peewee.Database) -> bool:
    return db.execute_sql("SELECT to_regclass('contact') IS NOT NULL").fetchone()[0]


def schema_version(db: peewee.Database) -> int:
    """The schema version recorded in the database (0: a new, empty database)."""
    if not db.execute_sql(f"SELECT to_regclass('{VERSION_TABLE}') IS NOT NULL").fetchone()[0]:
        return 0
    row = db.execute_sql(f"SELECT MAX(version) FROM {VERSION_TABLE}").fetchone()
    return row[0] or 0


def set_schema_version(db: peewee.Database, version: int) -> None:
    """Record `version`; never lowers it (a client that waited for another's upgrade records nothing older)."""
    db.execute_sql(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)")
    if db.execute_sql(f"UPDATE {VERSION_TABLE} SET version = GREATEST(version, ?)", (int(version),)).rowcount == 0:
        db.execute_sql(f"INSERT INTO {VERSION_TABLE} (version) VALUES (?)", (int(version),))


def upgrade(db: peewee.Database, version: int) -> None:
    """Bring the schema from `version - 1` to `version`, in the caller's transaction (which holds the write lock:
    a second client that started at the same time finds the work done, and does nothing)."""
    if schema_version(db) >= version:
        return
    UPGRADES[version](db)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _ensure_trigram(db: peewee.Database) -> None:
    try:
        with db.atomic():  # a savepoint: a refused CREATE EXTENSION leaves the transaction usable for the message
            db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except peewee.DatabaseError as exc:
        from urllib.parse import unquote, urlsplit

        name = unquote(urlsplit(db.database or '').path.lstrip('/'))
        raise PortalError(
            f"PostgreSQL's pg_trgm extension is not available in the database {name!r} ({_first_line(exc)}): "
            "install postgresql-contrib on the server and run CREATE EXTENSION pg_trgm in it as a superuser"
        ) from None


