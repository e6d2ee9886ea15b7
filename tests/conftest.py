"""Shared fixtures: a real database per test (an SQLite file, or a database on the tests' own PostgreSQL server),
a frozen clock, and the CLI runner.

The model, mail and CLI tests run on both engines: in the modules named in BOTH_ENGINES every test that uses the
database runs twice, `[sqlite]` and `[postgres]` (tests/fixtures_pg.py starts the server). A test about SQLite's
files themselves (modes, headers, upgrades of old files) is named in SQLITE_ONLY, with why, and runs once.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from models import clock
from models.db import database, open_database

pytest_plugins = ["tests.fixtures_smtp", "tests.fixtures_tui", "tests.fixtures_browser", "tests.fixtures_pg"]

ENGINES = ("sqlite", "postgres")

BOTH_ENGINES = {
    "test_cli", "test_contacts", "test_csv_import_fast", "test_csv_roundtrip", "test_delivery_state", "test_expired",
    "test_hostile_models", "test_links", "test_table_order", "test_mail_bulk", "test_mail_cli", "test_mail_deadlines",
    "test_mail_kill", "test_mail_outbox", "test_mail_rows", "test_mail_templates", "test_mail_transports",
    "test_faults_templates",
}
"""The model, mail and CLI test modules: each of their database tests runs on every engine."""

BOTH_ENGINES_TESTS = {
    # Redeeming a link: the claim, the replay refused, two POSTs racing, the audit of every bad link.
    "test_portal_links::test_post_once_signs_in_and_a_second_post_gets_the_bad_link_page",
    "test_portal_links::test_two_concurrent_posts_sign_in_exactly_once",
    "test_portal_links::test_every_bad_link_gets_one_status_and_one_page_and_the_audit_has_the_reason",
    "test_portal_links::test_with_a_callback_the_post_redirects_with_a_one_time_code_and_no_token",
    "test_portal_links::test_an_open_link_of_a_contact_revoked_behind_its_back_is_refused_and_stays_unused",
    # The one-time code: exchanged once, its expiry compared in the database, keys unique among those in use.
    "test_portal_exchange::test_a_code_is_exchanged_once_for_the_contact",
    "test_portal_exchange::test_an_expired_code_is_refused",
    "test_portal_exchange::test_a_code_is_still_good_just_before_it_expires",
    "test_portal_exchange::test_a_code_whose_contact_was_revoked_since_is_refused",
    "test_portal_exchange::test_key_names_are_checked_and_unique_among_keys_in_use",
    # Asking for a new link: what is queued, and the sender thread that sends it.
    "test_portal_requests::test_the_answer_is_the_same_for_every_address_and_only_invited_or_joined_get_mail",
    "test_portal_requests::test_a_requested_link_arrives_through_smtp_and_works",
    # The database thread's group commit (savepoints inside one write transaction).
    "test_portal_dbthread::test_confirmations_queued_together_share_a_commit_and_a_bad_one_undoes_only_itself",
    # Real uvicorn, and `serve` as a process (its sender claims the outbox).
    "test_portal_serve::test_real_uvicorn_serves_a_link_and_logs_no_token",
    "test_portal_serve::test_serve_sends_queued_mail_serves_its_link_and_stops_on_sigterm",
}
"""Single tests of the other modules that also run on every engine: the portal's, where its code paths differ by
engine (writes, claims, redemption races); its pages, headers and limits are the same on both and run on SQLite
alone, as its browser tests do."""

SQLITE_ONLY: dict[str, str] = {
    "test_links::test_links_made_before_channels_count_as_emailed":
        "upgrades an SQLite file of schema 6 (PostgreSQL support starts at schema 7)",
    "test_expired::test_a_window_of_the_filter_walks_the_sort_index_instead_of_sorting_every_expired_contact":
        "reads SQLite's EXPLAIN QUERY PLAN of SQLite's search planner",
    "test_mail_bulk::test_a_send_leaves_the_connections_page_cache_as_it_was": "SQLite's PRAGMA cache_size",
    "test_csv_import_fast::test_import_ends_as_adding_one_by_one":
        "compares two SQLite files it makes itself (the PostgreSQL import is compared in "
        "test_a_failed_big_import_leaves_nothing_behind and the test_csv_roundtrip tests)",
    "test_csv_import_fast::test_latin1_file_at_the_bulk_path": "compares two SQLite files it makes itself",
    "test_table_order::test_the_name_order_plan_agrees_with_a_full_sort":
        "SQLite's name-rank column and its search index keyed by rank (PostgreSQL orders through its sort index)",
    "test_table_order::test_the_name_order_survives_adds_renames_deletes_and_crowding":
        "SQLite's name-rank column and its search index keyed by rank (PostgreSQL orders through its sort index)",
    "test_table_order::test_rows_written_behind_our_back_are_still_found_in_order":
        "SQLite's name-rank column and its search index keyed by rank (PostgreSQL orders through its sort index)",
    "test_table_order::test_narrowing_reuses_a_complete_result_only_while_it_is_current":
        "SQLite's name-rank column and its search index keyed by rank (PostgreSQL orders through its sort index)",
    "test_table_order::test_a_window_in_name_order_sorts_and_counts_nothing":
        "SQLite's name-rank column and its search index keyed by rank (PostgreSQL orders through its sort index)",
    "test_table_order::test_a_key_that_narrows_a_complete_result_runs_no_query":
        "SQLite's name-rank column and its search index keyed by rank (PostgreSQL orders through its sort index)",
}
"""`module::test` -> why it is about SQLite alone (it is then not run on PostgreSQL)."""

FIXED_NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)

DATA = Path(__file__).resolve().parent / "fixtures"
"""Sample inputs in real-world layouts (copied from shared/data so a bare clone has them)."""
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each database test of a BOTH_ENGINES module, and each test in BOTH_ENGINES_TESTS, on every engine (the
    others on SQLite, unparametrized)."""
    if "engine" not in metafunc.fixturenames:
        return
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    name = f"{module}::{metafunc.function.__name__}"
    if (module not in BOTH_ENGINES and name not in BOTH_ENGINES_TESTS) or name in SQLITE_ONLY:
        return
    metafunc.parametrize("engine", ENGINES, indirect=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The database engine this test runs on: `sqlite` unless parametrized (see `pytest_generate_tests`)."""
    return getattr(request, "param", "sqlite")


class DatabaseURL(str):
    """A PostgreSQL test database's URL, as `db_path` hands it out. `parent` is the folder where the client keeps
    its local files for a server database (the Maildir): the user data dir, which the fixture points under
    tmp_path. So a test reads `db_path.parent / "Maildir"` whichever engine it runs on."""

    parent: Path
    name = ""

    def __new__(cls, url: str, parent: Path) -> "DatabaseURL":
        made = super().__new__(cls, url)
        made.parent = parent
        return made


@pytest.fixture
def db_path(engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    """A fresh database, opened and migrated; also what the CLI uses: a file under tmp_path on SQLite, a database
    of its own on the tests' PostgreSQL server (a `DatabaseURL`)."""
    if engine == "postgres":
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the Maildir of a server database
        path = DatabaseURL(request.getfixturevalue("pg_url"), tmp_path / "data" / "client-portal")
    else:
        path = tmp_path / "portal.db"
    monkeypatch.setenv("CLIENT_PORTAL_DB", str(path))
    for var in ("CLIENT_PORTAL_SMTP_HOST", "CLIENT_PORTAL_SMTP_PORT", "CLIENT_PORTAL_SMTP_USER",
                "CLIENT_PORTAL_SMTP_PASSWORD", "CLIENT_PORTAL_SMTP_SECURITY", "CLIENT_PORTAL_MAIL_FROM",
                "SSH_CLIENT", "SSH_CONNECTION"):
        monkeypatch.delenv(var, raising=False)
    open_database(path)
    yield path
    database.close()
    if engine == "postgres":
        from models.backends.postgres import close_listeners

        close_listeners()  # before the database is dropped


@pytest.fixture
def db(db_path: Path):
    """The open database, with a default domain set up (most operations need one)."""
    from models import domains

    domains.add_domain("portal.example.com")
    return database


@pytest.fixture
def frozen_clock():
    """Freeze the domain clock at FIXED_NOW; `frozen_clock[0] = ...` moves it."""
    with clock.frozen(FIXED_NOW) as cell:
        yield cell


@pytest.fixture
def cli(db_path: Path):
    """Run the real `client-portal` command (click's runner) against the test database."""
    from tui.cli import main

    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        database.close()  # the command opens the file itself, as it would in its own process
        result = runner.invoke(main, ["--db", str(db_path), *args], input=input, catch_exceptions=False)
        return result

    return run


LONG_TESTS = (
    "test_pg_soak.py::", "test_soak_admins.py::", "test_soak_kill.py::",
    "test_table_order.py::test_every_order_filter_and_offset_shows_what_a_full_sort_shows",
    "test_mail_bulk.py::test_what_a_run_holds_does_not_grow_with_the_messages_it_sent",
    "test_csv_import_fast.py::test_import_ends_as_adding_one_by_one",
    "test_faults_terminal.py::test_every_bound_key_on_an_empty_database_without_a_domain",
)
"""The tests that take 15 s to 90 s each (the soak runs a minute of activity). Collected in file order, the
longest came near the end and ran alone on one worker while the other had finished: they run first instead, beside
the many short tests. None of them is a browser test (those stay last in their modules)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long tests first, longest first (in LONG_TESTS' order), the rest in their usual order."""
    def rank(item: pytest.Item) -> int:
        where = item.nodeid.rsplit("/", 1)[-1]
        return next((n for n, prefix in enumerate(LONG_TESTS) if where.startswith(prefix)), len(LONG_TESTS))

    items.sort(key=rank)
