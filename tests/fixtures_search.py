"""What the SQLite search index must hold, read back from the index itself (schema v8: it stores no text).

The index is contentless and keyed by each contact's rank in name order, so `SELECT text` returns nothing to
compare. Its vocabulary in `instance` form (`fts5vocab`) lists every token the index holds, with the rank and the
offset: that list, with ranks turned into contact ids, must equal the one an index built afresh from the contacts'
search text has. Ranks themselves depend on the path that made them (a bulk import numbers them evenly, a row by
row insert halves gaps), so the comparisons here use contact ids and the order of the ranks, never their values.
"""

from __future__ import annotations


def index_entries(database) -> list[tuple]:
    """Every (contact id, term, offset) the search index holds, read from the index."""
    database.execute_sql("CREATE VIRTUAL TABLE IF NOT EXISTS temp.held_terms USING fts5vocab(main, contact_fts, "
                         "'instance')")
    return sorted(database.execute_sql(
        "SELECT c.id, v.term, v.offset FROM temp.held_terms AS v JOIN contact AS c ON c.name_rank = v.doc"
    ).fetchall())


def expected_entries(database) -> list[tuple]:
    """Every (contact id, term, offset) an index built afresh from the contacts holds."""
    database.execute_sql("DROP TABLE IF EXISTS temp.fresh_terms")
    database.execute_sql("DROP TABLE IF EXISTS temp.fresh_index")
    database.execute_sql("CREATE VIRTUAL TABLE temp.fresh_index USING fts5(text, tokenize = 'trigram case_sensitive 1')")
    database.execute_sql("INSERT INTO temp.fresh_index (rowid, text) SELECT id, lower(search_text) || '  ' FROM contact")
    database.execute_sql("CREATE VIRTUAL TABLE temp.fresh_terms USING fts5vocab(temp, fresh_index, 'instance')")
    return sorted(database.execute_sql("SELECT doc, term, offset FROM temp.fresh_terms").fetchall())


def held_entry_count(database) -> int:
    database.execute_sql("CREATE VIRTUAL TABLE IF NOT EXISTS temp.held_terms USING fts5vocab(main, contact_fts, "
                         "'instance')")
    return database.execute_sql("SELECT COUNT(*) FROM temp.held_terms").fetchone()[0]


def in_name_order(database) -> bool:
    """Every contact has a rank, no two the same, and the ranks run in name order (last, first name, id)."""
    by_rank = [row[0] for row in database.execute_sql("SELECT id FROM contact ORDER BY name_rank, id")]
    by_name = [row[0] for row in database.execute_sql("SELECT id FROM contact ORDER BY last_name, first_name, id")]
    unranked, repeated = database.execute_sql(
        "SELECT (SELECT COUNT(*) FROM contact WHERE name_rank IS NULL), "
        "(SELECT COUNT(*) FROM (SELECT name_rank FROM contact GROUP BY name_rank HAVING COUNT(*) > 1))").fetchone()
    return by_rank == by_name and unranked == 0 and repeated == 0


def index_matches_contacts(database) -> bool:
    """The index holds exactly each contact's search text (lower-cased for ASCII, two spaces after it) under the
    contact's rank, nothing more (no stale entry under a rank no contact holds), and the ranks are in name order."""
    held = index_entries(database)
    return in_name_order(database) and held == expected_entries(database) and len(held) == held_entry_count(database)
