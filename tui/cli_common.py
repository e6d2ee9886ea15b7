"""What every `client-portal` command module shares: opening the database once per command, printing JSON and
values safe for a terminal, and the group that turns errors into one line. `tui.cli` and the command modules it
loads lazily (`cli_mail`, `cli_portal`, `cli_web`) import this; it imports none of them, so they form no loop."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from datetime import datetime
from pathlib import Path

import click

from models.db import database_error_message
from models.errors import PortalError


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


def emit_json(data) -> None:
    """Print `data` as JSON (datetimes in ISO 8601)."""
    click.echo(json.dumps(data, default=_json_default, indent=2, ensure_ascii=False))


def one_or_other(first: str, second: str, *, given: bool) -> str:
    """The usage error of a command that takes `first` or `second` but not both: `given` says the second came with
    the first, else neither came (and "not both" would only confuse)."""
    return f"give {first} or {second}, not both" if given else f"give {first} or {second}"


def _visible(text: str) -> str:
    """A value safe to print on a terminal: control characters shown as escapes, never sent raw."""
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii") for ch in text)


class PortalGroup(click.Group):
    """A group that turns our errors into one line on stderr and a non-zero exit."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PortalError as exc:
            click.echo(f"error: {_visible(str(exc))}", err=True)
            ctx.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise  # a nested group already said what went wrong (its exit carries the error as context)
        except Exception as exc:  # noqa: BLE001 - re-raised unless it is a database error or a full disk
            # SQLite's errors (through Peewee or not) and a full disk (ENOSPC from a file write) in words.
            message = database_error_message(exc)
            if message is None:
                raise
            click.echo(f"error: {_visible(message)}", err=True)
            ctx.exit(1)


def _open(ctx: click.Context) -> Path | str:
    """Open the database named by --db / CLIENT_PORTAL_DB (once per command).

    Only the default path (in the user data dir) has its folder created: a path given by --db or CLIENT_PORTAL_DB
    whose folder does not exist is a typo, and an error rather than a new empty database somewhere unexpected.
    """
    obj = ctx.ensure_object(dict)
    if not obj.get("opened"):
        from tui.start import open_given  # the dashboard's own way in (no click) opens the database the same way

        obj["db"] = open_given(obj.get("db"))
        obj["opened"] = True
    return obj["db"]


pass_ctx = click.pass_context
