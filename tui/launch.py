"""The `client-portal` command's entry point: the dashboard opens without importing the command line.

`client-portal` alone, or with nothing but `--db FILE`, in a terminal opens the dashboard. That path needs neither
click nor the modules every subcommand imports (`tui.cli`: links, settings, click's whole parser, 20-30 ms of a
start whose floor, a bare Textual app, is about 200 ms). So it is recognised here, from the arguments alone, and
anything else is the click group's (`tui.cli.main`), unchanged: a subcommand, `--help`, `--demo`, `--version`, an
option click would refuse, a `--db` click's `Path` type would refuse, no terminal. When opening the database or
making the dashboard fails before it runs, the click group runs instead and says what went wrong in its own words,
as it always did.
"""

from __future__ import annotations

import os
import stat
import sys

from tui.start import DATABASE_VARIABLE, hold_collection, in_terminal, make_dashboard, open_given, release_collection


def dashboard_database(args: list[str]) -> tuple[bool, str | None]:
    """Whether `args` (the command line after the program's name) only open the dashboard, and the database they
    name (None: the default one). Only the forms the click group would accept and treat the same way are
    recognised: no arguments, `--db FILE` or `--db=FILE`, with `CLIENT_PORTAL_DB` standing in for `--db`."""
    if not args:
        given = os.environ.get(DATABASE_VARIABLE)
        if given is not None and not given:
            return False, None  # click reads an empty variable as unset; leave such corners to it
    elif len(args) == 2 and args[0] == "--db":
        given = args[1]
    elif len(args) == 1 and args[0].startswith("--db="):
        given = args[0][len("--db="):]
    else:
        return False, None
    if given is not None and not _path_click_accepts(given):
        return False, None
    return True, given


def _path_click_accepts(value: str) -> bool:
    """What `click.Path(dir_okay=False)` lets through without a word: a name, and if it exists, not a folder and
    readable. Anything else goes to click, which says what is wrong."""
    if not value or value.startswith("-"):  # `--db --help`: leave what click makes of it to click
        return False
    try:
        st = os.stat(value)
    except OSError:
        return True
    return not stat.S_ISDIR(st.st_mode) and os.access(value, os.R_OK)


def main() -> None:
    """`client-portal`: the dashboard straight away when the arguments only open it, else the click group."""
    dashboard, given = dashboard_database(sys.argv[1:])
    app = None
    if dashboard and in_terminal():
        hold_collection()  # until the first frame with rows (the main screen releases it)
        try:
            app = make_dashboard(open_given(given))
        except Exception:  # noqa: BLE001 - the click group does it again and says what went wrong, in one line
            app = None
    if app is None:
        release_collection()
        from tui.cli import main as command_line

        command_line()
        return
    app.run()
