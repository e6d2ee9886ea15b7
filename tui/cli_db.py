"""`client-portal db copy SOURCE TARGET`: move a whole database between a SQLite file and a PostgreSQL server.

Kept apart from `tui/cli.py` (imported only when a `db` command runs or `--help` lists them); `register(main)` adds
the group. The copy itself is `models.copy.copy_database`.
"""

from __future__ import annotations

import click

from tui import cli_common as base  # the shared group class and output helpers


def register(main: click.Group) -> None:
    """Add the `db` group to the `client-portal` group."""

    @main.group("db", cls=base.PortalGroup)
    def db_group() -> None:
        """Whole-database operations: copy one database into another."""

    @db_group.command("copy")
    @click.argument("source")
    @click.argument("target")
    @click.option("--json", "as_json", is_flag=True, help="Print the counts and both stats as JSON.")
    @click.pass_context
    def db_copy(ctx: click.Context, source: str, target: str, as_json: bool) -> None:
        """Copy every table of SOURCE into TARGET, keeping ids.

        Each is a SQLite path or a postgresql://user@host:port/db URL. TARGET must be empty (a new SQLite file is
        made). Afterwards the command checks that TARGET's `stats` equal SOURCE's. Stop the senders and the
        dashboards first: changes made to SOURCE during the copy are not copied.
        """
        from models import copy  # here: only this command needs it

        def progress(table: str, rows: int) -> None:
            """A line on stderr at each 100,000 rows of a big table."""
            if not as_json and rows >= 100_000 and rows % 100_000 < copy.READ_BATCH:
                click.echo(f"  {table}: {rows:,} rows copied", err=True)

        report = copy.copy_database(source, target, progress=progress)
        if as_json:
            base.emit_json({"source": copy.display_name(source), "target": copy.display_name(target),
                            "counts": report.counts, "stats_match": report.stats_match,
                            "source_stats": report.source_stats, "target_stats": report.target_stats})
        else:
            width = max(len(name) for name in report.counts)
            for table, rows in report.counts.items():
                click.echo(f"{table:<{width}}  {rows:>12,}")
            if report.stats_match:
                click.echo(f"copied into {copy.display_name(target)}: its stats equal the source's "
                           f"({report.target_stats.get('contacts', 0):,} contacts)")
        if not report.stats_match:
            click.echo(f"error: the copy's stats differ from the source's ({'; '.join(report.differences())}): "
                       "was the source changed during the copy?", err=True)
            ctx.exit(1)
