"""What the dashboard's start imports: not the PostgreSQL driver on SQLite (Peewee would import it, 90-240 ms of
the start; `models` hides it while Peewee is imported and the PostgreSQL backend binds it when first used)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_dashboard_and_the_cli_start_without_the_postgresql_driver():
    assert _run("import sys, tui.cli, tui.app, models.db; print('psycopg' in sys.modules)") == "False"


def test_the_driver_is_bound_when_a_postgresql_database_is_made():
    pytest.importorskip("psycopg")
    out = _run(
        "import models, peewee, sys; assert peewee.psycopg is None and 'psycopg' not in sys.modules; "
        "from models.backends.postgres.database import PostgresDatabase; "
        "db = PostgresDatabase('postgresql://nobody@127.0.0.1:1/none'); "
        "print(peewee.psycopg is sys.modules['psycopg'], type(db._adapter).__name__, "
        "peewee.Psycopg3Adapter.txn_idle is not None)"
    )
    assert out == "True Psycopg3Adapter True"


FIRST_FRAME = """
import asyncio, sys
from tui.start import make_dashboard, open_given
app = make_dashboard(open_given(sys.argv[1]))

async def run():
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one("#contacts")
        for _ in range(2000):
            if table.row_count:
                break
            await asyncio.sleep(0.005)
        await pilot.pause()
        assert table.row_count, "no rows"
        assert not app.screen.query("Select"), "a Select was composed"
        parsed = [name for _, name in app.stylesheet.source if name.startswith(("Select", "OptionList"))]
        assert not parsed, parsed
        print(" ".join(sorted(m for m in sys.modules if m.startswith(tuple(sys.argv[2].split()))
                              or m in sys.argv[2].split())))

asyncio.run(run())
"""

KEPT_OUT = (
    "click tui.cli tui.cli_common "  # the command line: `client-portal` opens the dashboard without it
    "mail.outbox mail.templates mail.transports mail.message email.mime smtplib yagmail jinja2 "  # the mail stack
    "models.csv_io "  # what only subcommands and dialogs use
    "tui.screens.help tui.screens.dialog tui.screens.invite tui.screens.contact_detail tui.screens.templates "
    "tui.screens.settings "
    "tui.screens.magic_link tui.screens.outbox tui.screens.import_csv tui.screens.domains "
    "segno pyperclip starlette uvicorn aiohttp textual_serve psycopg"
)
"""Modules the dashboard's start, up to its first frame with rows, does without. (The header's mail route,
read after that frame, imports `mail.config`; the status filter's `Select` module is imported by Textual's own
command palette, but no `Select` is composed and its stylesheets are not parsed: the test checks that too.)"""


def test_the_first_frame_imports_none_of_the_heavy_modules(tmp_path):
    db = tmp_path / "c.db"
    added = subprocess.run([sys.executable, "-c", "from tui.cli import main; main()", "--db", str(db), "contacts",
                            "add", "ada@example.com"], capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr
    done = subprocess.run([sys.executable, "-c", FIRST_FRAME, str(db), KEPT_OUT], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_header_numbers_and_the_portal_url_are_imported_when_first_read_not_at_start():
    """`models.portal` (with `models.outbox`) and `models.domains` serve only the header's read, after the first
    frame, and the portal-URL action: importing the dashboard does without them."""
    out = _run("import sys, tui.start, tui.app, tui.screens.main; "
               "print(sorted(m for m in ('models.portal', 'models.outbox', 'models.domains') if m in sys.modules))")
    assert out == "[]"
