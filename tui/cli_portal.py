"""The portal commands of `client-portal`: `serve`, `api-keys create|list|revoke`, and the loop behind
`outbox send --watch`.

`serve` imports the portal package only when it runs, so the dashboard and every other command start without
loading Starlette and uvicorn (and `tui/` depends on `portal/` in this one place).
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import threading
from pathlib import Path

import click

from mail.config import MailConfig
from models import api_keys
from models.db import data_dir_for
from tui import cli_common as base  # the shared options and output helpers

DEFAULT_PROXIES = ("127.0.0.1", "::1")
"""Trusted by default: a TLS proxy on this host. Mirrors `portal.app.DEFAULT_TRUSTED_PROXIES` (not imported here,
so `client-portal --help` does not load the web stack)."""



def _proxies(ctx, param, values: tuple[str, ...]) -> tuple[str, ...]:
    if not values:
        return DEFAULT_PROXIES
    if any(v.strip().lower() == "none" for v in values):
        if len(values) > 1:
            raise click.BadParameter("'none' cannot be combined with addresses")
        return ()
    checked = []
    for value in values:
        try:
            checked.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise click.BadParameter(f"{value!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)") from None
    return tuple(checked)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--trusted-proxy", "trusted_proxies", multiple=True, callback=_proxies, metavar="IP",
              help="A proxy whose X-Forwarded-Proto/-For are believed (repeat for more; a network such as "
                   "10.0.0.0/8 works). Default: 127.0.0.1 and ::1. 'none': believe no one.")
@click.option("--no-sender", is_flag=True, help="Do not send queued mail from this process.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, trusted_proxies: tuple[str, ...], no_sender: bool) -> None:
    """Run the portal service (the pages magic links open, and the code exchange API) until SIGTERM or Ctrl+C.

    Put it behind a TLS proxy at the portal domain. It also sends queued mail as it falls due, unless
    --no-sender is given (then run `client-portal outbox send --watch` somewhere).
    """
    path = base._open(ctx)
    from portal.serve import configure_logging, listen, serve as run_server  # the web stack only for this command

    config = MailConfig.from_env(data_dir_for(path))
    sock = listen(host, port)  # a port in use is one line, and nothing (not the sender) has started
    port = sock.getsockname()[1]  # the one the system chose for --port 0
    configure_logging()
    log = logging.getLogger("portal")
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL
    log.info("portal service for %s on http://%s:%d; mail %s", path, shown, port,
             "not sent from here (--no-sender)" if no_sender else f"sent through {config.describe()}")
    log.info("proxy headers believed from: %s", ", ".join(trusted_proxies) or "no one")
    run_server(path, sockets=[sock], host=host, port=port, trusted_proxies=trusted_proxies,
               run_sender=not no_sender, mail_config=config)


# --- api-keys -------------------------------------------------------------------------------------------------


@click.group("api-keys", invoke_without_command=True)
@click.pass_context
def api_keys_group(ctx: click.Context) -> None:
    """Keys the agency's portal uses to exchange handoff codes (with no subcommand: list)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(api_keys_list)


@api_keys_group.command("create")
@click.argument("name")
@click.pass_context
def api_keys_create(ctx: click.Context, name: str) -> None:
    """Make a key named NAME and print it. It is shown this once: only its hash is stored."""
    base._open(ctx)
    new = api_keys.create_key(name)
    click.echo(new.key)
    click.echo(f"API key {new.row.name} created; it is shown only now: store it in the portal's secrets "
               "(Authorization: Bearer <key>)", err=True)


@api_keys_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def api_keys_list(ctx: click.Context, as_json: bool = False) -> None:
    """The keys in use: name, first characters, who made it and when, when last used."""
    base._open(ctx)
    rows = api_keys.list_keys()
    if as_json:
        base.emit_json(rows)
        return
    visible = base._visible
    for row in rows:
        used = f"last used {row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never used"
        click.echo(f"{visible(row.name):<24} {row.prefix}…  created {row.created_at:%Y-%m-%d %H:%M} by "
                   f"{visible(row.created_by)}, {used}")
    if not rows:
        click.echo("no API keys; make one with: client-portal api-keys create NAME", err=True)


@api_keys_group.command("revoke")
@click.argument("name")
@click.pass_context
def api_keys_revoke(ctx: click.Context, name: str) -> None:
    """Stop the key named NAME from working, at once."""
    base._open(ctx)
    row = api_keys.revoke_key(name)
    click.echo(f"API key {row.name} ({row.prefix}…) revoked")


# --- outbox send --watch --------------------------------------------------------------------------------------


def watch_outbox(config: MailConfig, stop: threading.Event | None = None) -> None:
    """Send mail as it falls due until SIGTERM or Ctrl+C (or `stop`): `client-portal outbox send --watch`.

    The first signal asks the loop to stop after the message being sent (the rest stays queued); a second one
    interrupts at once.
    """
    from mail.outbox import run_forever

    stop = stop or threading.Event()

    def on_signal(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        click.echo("stopping after the message being sent (the rest stays queued)...", err=True)
        stop.set()

    def report(summary) -> None:
        parts = [f"sent {summary.sent}", f"failed {len(summary.failed)}", f"skipped {len(summary.skipped)}"]
        if summary.retrying:
            parts.append(f"{summary.retrying} waiting to be retried")
        click.echo(", ".join(parts), err=True)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    click.echo(f"sending through {config.describe()} as mail falls due (Ctrl+C or SIGTERM to stop)", err=True)
    try:
        run_forever(config, stop, report=report)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("stopped", err=True)


def register(main: click.Group) -> None:
    """Add the portal commands to the `client-portal` group."""
    for command in (serve, api_keys_group):
        main.add_command(command)
