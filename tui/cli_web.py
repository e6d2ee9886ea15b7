"""`client-portal web`: the dashboard in a browser, for admins who cannot use SSH.

Kept apart from `tui/cli.py` (and textual-serve, aiohttp imported only when the command runs); `register(main)`
adds the command to the main group. The server itself is `tui.web.DashboardServer`.
"""

from __future__ import annotations

import ipaddress
import shlex

import click
from tui import cli_common as base  # the shared options and output helpers



def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(main: click.Group) -> None:
    """Add `web` to the `client-portal` group."""

    @main.command("web")
    @click.option("--host", default="127.0.0.1", show_default=True,
                  help="The address to listen on. Keep loopback and reach it through ssh -L or a TLS proxy.")
    @click.option("--port", type=click.IntRange(0, 65535), default=8081, show_default=True,
                  help="The port to listen on (0: any free port).")
    @click.option("--public-url", default=None, metavar="URL",
                  help="The address browsers use when a TLS proxy is in front, e.g. https://dash.example.com.")
    @click.option("--print-url", is_flag=True,
                  help="Print a new one-time URL for the server already running on this database, and exit.")
    @click.pass_context
    def web(ctx: click.Context, host: str, port: int, public_url: str | None, print_url: bool) -> None:
        """Serve the dashboard to browsers, behind a one-time URL and a session cookie.

        Prints a URL that works once; opening it signs that browser in. `--print-url` makes another one (for a
        second admin, or a second browser) while the server runs.
        """
        from tui import web as web_server  # textual-serve and aiohttp only when the command runs

        from models.copy import display_name

        path = base._open(ctx)
        if print_url:
            click.echo(web_server.new_url(web_server.state_path(web_server.database_target(path))))
            return
        server = web_server.DashboardServer(path, host=host, port=port, public_url=public_url)
        if not _loopback(host) and not (public_url or "").startswith("https:"):
            click.echo(f"warning: listening on {host} over plain http: the session cookie crosses the network "
                       "unencrypted; put a TLS proxy in front (see the README)", err=True)

        shown = display_name(path)  # a password in a URL is never printed

        def announce(url: str) -> None:
            click.echo(f"Serving the dashboard of {shown}")
            click.echo(f"Open this URL once (it expires in {web_server.TOKEN_SECONDS // 60} minutes):")
            click.echo(f"  {url}")
            note = "*** is the password; " if shown != str(path) else ""
            click.echo(f"Another browser: client-portal --db {shlex.quote(shown)} web --print-url   "
                       f"({note}ctrl+c stops the server)")

        server.run(announce)
