"""Who fills the search index a big import left unfilled (issue 12), and when: the engine's fill itself is
`models.backends.sqlite.fill` (an engine that keeps no such index has nothing to fill).

- `contacts import` starts `start_detached`: a process of its own session, which outlives the command
  (`python -m models.search_fill FILE`);
- the dashboard fills on a thread of its own (`fill_in_thread`) at open, when it finds the index incomplete, and
  after its own import;
- whoever opens the file next finishes the job of a filler that was stopped (killed, the machine turned off).

One filler at a time per file; searches answer through LIKE until the index is complete."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import peewee

from models.base import database
from models.db import backend
from models.errors import PortalError


def _engine_fills() -> bool:
    return database.obj is not None and backend().name == "sqlite"


def pending() -> bool:
    """Whether some contacts wait for the search index's fill: searches answer through LIKE until it is done."""
    if not _engine_fills():
        return False
    from models.backends.sqlite import fill

    return fill.pending(database)


def fill_now() -> bool:
    """Fill the search index now, in this thread, unless it is complete or another process is filling it; whether
    this call filled anything. Runs its own short transactions: call it outside any."""
    if not pending():
        return False
    from models.backends.sqlite import fill

    return fill.fill(database, database.database)


def fill_in_thread() -> threading.Thread:
    """`fill_now` on a daemon thread of its own, through the thread's own connection (closed when done). The
    thread looks first (at open, the dashboard's first frame is not kept waiting); a process that exits midway
    leaves the rest to the next opener (an unfinished chunk is rolled back)."""

    def run() -> None:
        try:
            fill_now()
        except Exception:  # noqa: BLE001 - busy past the timeout, the file gone or replaced: the next opener fills
            pass
        finally:
            try:
                if database.obj is not None and not database.is_closed():
                    database.close()  # this thread's connection only
            except peewee.DatabaseError:
                pass

    thread = threading.Thread(target=run, name="search-fill", daemon=True)
    thread.start()
    return thread


def start_detached() -> bool:
    """Start the fill in a process of its own session that outlives this one (the CLI's import returns at once);
    an in-memory database is filled here instead. Whether a fill goes on in the background."""
    if not pending():
        return False
    if database.database == ":memory:":
        fill_now()
        return False
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    try:
        # The file's absolute path: the child runs from the project's folder, and a relative path would name
        # another file there.
        target = os.path.abspath(database.database)
        subprocess.Popen([sys.executable, "-m", "models.search_fill", target],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True, env=env, cwd=str(root))
    except OSError:
        return False
    return True


def main(argv: list[str]) -> int:
    """The detached filler: open the file (as any opener would) and fill its search index."""
    from models.db import open_database

    if len(argv) != 1:
        print("usage: python -m models.search_fill DATABASE_FILE", file=sys.stderr)
        return 2
    if not os.path.isfile(argv[0]):  # never a new, empty database: the file must be the one imported into
        print(f"search index not filled: no such file: {argv[0]}", file=sys.stderr)
        return 1
    try:
        open_database(argv[0])
        fill_now()
    except (PortalError, peewee.DatabaseError, OSError) as exc:
        print(f"search index not filled: {exc}", file=sys.stderr)
        return 1
    finally:
        if database.obj is not None:
            database.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
