"""The command line registers its mail, portal and web commands on first use: opening the dashboard never imports
the mail stack, Starlette or aiohttp, and every lazily named command is really there."""

from __future__ import annotations

import subprocess
import sys

import click

from tui import cli


def test_the_dashboards_path_imports_no_mail_portal_or_web_module():
    code = (
        "import sys, tui.cli\n"
        "heavy = [m for m in ('tui.cli_mail', 'tui.cli_portal', 'tui.cli_web', 'mail.outbox', 'mail.templates',\n"
        "                     'starlette', 'uvicorn', 'aiohttp', 'textual_serve', 'models.csv_io', 'jinja2')\n"
        "         if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_lazy_command_is_registered_by_its_module():
    group = cli.main
    names = set(group.list_commands(click.Context(group)))
    assert set(cli.LAZY_COMMANDS) <= names
    for name, module in cli.LAZY_COMMANDS.items():
        command = group.get_command(click.Context(group), name)
        assert command is not None and command.callback.__module__ == module, name


def test_a_lazy_command_runs_and_its_help_is_listed(cli):
    result = cli("outbox", "list")
    assert result.exit_code == 0, result.output
    from click.testing import CliRunner

    listing = CliRunner().invoke(__import__("tui.cli", fromlist=["main"]).main, ["--help"])
    for name in ("outbox", "serve", "web", "templates", "api-keys", "login-email"):
        assert name in listing.output
