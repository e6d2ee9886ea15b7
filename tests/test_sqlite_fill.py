"""The search index's bulk fill (`schema.renumber_names`) gathers FTS5 entries in a larger in-memory buffer
(`FILL_HASH_BYTES`) while it runs, and puts FTS5's own setting back after, on success and on failure, inside the
caller's transaction. (The time it saves is measured in benchmarks/, never here.)"""

from __future__ import annotations

import pytest

from models import csv_io
from models.backends.sqlite import schema
from models.db import database, write_transaction
from tests.fixtures_search import index_matches_contacts


def _hashsize() -> int | None:
    row = database.execute_sql(f"SELECT v FROM {schema.SEARCH_INDEX}_config WHERE k = 'hashsize'").fetchone()
    return None if row is None else int(row[0])


def test_the_fill_buffer_is_set_for_the_block_and_put_back_after(db_path):
    with database.atomic():
        with schema._fill_buffer(database):
            assert _hashsize() == schema.FILL_HASH_BYTES
        assert _hashsize() == schema.DEFAULT_HASH_BYTES
    with pytest.raises(RuntimeError), database.atomic():
        with schema._fill_buffer(database):
            raise RuntimeError("the fill failed")
    assert _hashsize() == schema.DEFAULT_HASH_BYTES


def test_a_failed_write_rolls_the_setting_back_with_the_rows(db_path):
    before = _hashsize()

    @write_transaction
    def failing() -> None:
        with schema._fill_buffer(database):
            assert _hashsize() == schema.FILL_HASH_BYTES
            raise RuntimeError("midway")

    with pytest.raises(RuntimeError):
        failing()
    assert _hashsize() == before


def test_a_big_import_fills_the_index_completely_and_leaves_the_default(db_path):
    rows = "\n".join(f"First{n},Last{n % 997},person{n}@example.com,Company {n % 89}" for n in range(12_000))
    report = csv_io.import_contacts("First Name,Last Name,Email,Company\n" + rows + "\n")
    assert report.added == 12_000  # above REBUILD_AT: the indexes set aside, everyone renumbered, one fill
    assert _hashsize() == schema.DEFAULT_HASH_BYTES
    assert index_matches_contacts(database)
