"""The `client-portal` command: opens the dashboard, and scripts every domain operation for cron jobs and admins.

Each subcommand calls the same function in `models/` (or `mail/`) that the dashboard calls. Bad input exits
non-zero with one line naming the problem, never a traceback.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import click

from models import audit, contacts, domains, links, portal, settings
from models.errors import PortalError
from models.words import plural
from models.states import CHANNEL_SHOWN, STATUS_NOT_INVITED
from tui.cli_common import PortalGroup, _open, _visible, emit_json, pass_ctx  # noqa: F401 - also this module's API
from tui.cli_common import one_or_other


LAZY_COMMANDS = {
    "login-email": "tui.cli_mail",
    "outbox": "tui.cli_mail",
    "templates": "tui.cli_mail",
    "serve": "tui.cli_portal",
    "api-keys": "tui.cli_portal",
    "web": "tui.cli_web",
    "db": "tui.cli_db",
}
"""Subcommands that live in modules of their own, imported only when one of them is run or listed (`--help`):
opening the dashboard then never pays for the mail stack, Starlette or aiohttp."""


class OneLineUsageError(click.UsageError):
    """A usage error said as ours are: one `error:` line, then one line on where the help is.

    Click's own takes three (the usage, "Try ... for help", a blank line, then the error last, where a reader
    of a cron mail or a scrolling terminal looks least).
    """

    def __init__(self, original: click.UsageError, ctx: click.Context | None = None) -> None:
        super().__init__(original.format_message(), original.ctx or ctx)
        self.exit_code = original.exit_code
        self.command_path = self.ctx.command_path if self.ctx is not None else ""
        """The command whose help the hint names (its group's, when click did not say which command)."""
        if original.ctx is None and ctx is not None and ctx.invoked_subcommand:
            self.command_path = f"{ctx.command_path} {ctx.invoked_subcommand}"

    def show(self, file=None) -> None:
        message = _visible(" ".join(self.format_message().split()))
        if message.endswith(".") and not message.endswith(".."):
            message = message[:-1]
        click.echo(f"error: {message[:1].lower() + message[1:]}", err=True)
        if self.command_path:
            help_option = self.ctx.help_option_names[0] if self.ctx is not None else "--help"
            click.echo(f"hint: {self.command_path} {help_option} shows how to use it", err=True)


class MainGroup(PortalGroup):
    """The `client-portal` group: its own commands, and LAZY_COMMANDS registered on first use. Usage errors
    (an unknown option, a missing argument, a value out of range) of every command are said in one line
    (`OneLineUsageError`)."""

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except OneLineUsageError:
            raise
        except click.UsageError as exc:
            raise OneLineUsageError(exc) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except OneLineUsageError:
            raise
        except click.UsageError as exc:  # a subcommand's (its arguments are parsed while this group runs)
            raise OneLineUsageError(exc, ctx) from None

    def _register(self, module_name: str) -> None:
        loaded = self.__dict__.setdefault("_lazy_loaded", set())
        if module_name not in loaded:
            loaded.add(module_name)
            importlib.import_module(module_name).register(self)  # a broken module fails loudly here

    def get_command(self, ctx: click.Context, name: str):
        if name not in self.commands and name in LAZY_COMMANDS:
            self._register(LAZY_COMMANDS[name])
        return super().get_command(ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for module_name in dict.fromkeys(LAZY_COMMANDS.values()):
            self._register(module_name)
        return super().list_commands(ctx)


# Help as wide as the terminal, up to 120 columns: at click's default 80 half the command summaries in
# `client-portal --help` were cut ("Keys the agency's portal uses to exchange handoff codes...").
@click.group(cls=MainGroup, name="client-portal", invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
@click.option("--db", type=click.Path(dir_okay=False), envvar="CLIENT_PORTAL_DB",
              help="The database: an SQLite file, or a team's server as postgresql://user@host:port/db.")
@click.option("--demo", is_flag=True, help="Open a sample database with a few hundred contacts to explore.")
@click.version_option(package_name="client-portal")
@pass_ctx
def main(ctx: click.Context, db: str | None, demo: bool) -> None:
    """client-portal: get your clients into the client portal.

    With no command, opens the dashboard.
    """
    ctx.ensure_object(dict)
    if demo:
        from models import demo as demo_data

        # The demo never touches real data: its own folder (database and Maildir), never the one of --db or
        # CLIENT_PORTAL_DB, and mail there is never sent whatever CLIENT_PORTAL_SMTP_* say (mail.config).
        if ctx.get_parameter_source("db") == click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError("--demo opens its own sample database; leave out --db")
        ctx.obj["db"] = demo_data.prepare_demo_folder() / demo_data.DEMO_DATABASE
        ctx.obj["demo"] = True
        _open(ctx)
        demo_data.ensure_demo()
    else:
        ctx.obj["db"] = db
    if ctx.invoked_subcommand is None:
        path = _open(ctx)
        _run_dashboard(path)


def _run_dashboard(path: Path) -> None:
    # `client-portal` alone or with `--db` in a terminal never gets here (`tui.launch` opens the dashboard
    # without click); a failure there, `--demo`, and every other way in do.
    from tui import start

    if not start.in_terminal():
        raise PortalError("the dashboard needs a terminal; use a subcommand (client-portal --help) in scripts")
    start.hold_collection()  # until the first frame with rows, as `tui.launch` does
    try:
        app = start.make_dashboard(path)
    except BaseException:
        start.release_collection()
        raise
    app.run()


# --- contacts -------------------------------------------------------------------------------------------------


@main.group(cls=PortalGroup)
def contacts_group() -> None:
    """Add, list, import and export contacts."""


main.add_command(contacts_group, name="contacts")


@contacts_group.command("add")
@click.argument("email")
@click.option("--first-name", default="")
@click.option("--last-name", default="")
@click.option("--company", default="")
@click.option("--phone", default="")
@click.option("--json", "as_json", is_flag=True, help="Print the new contact as JSON (with any warnings).")
@pass_ctx
def contacts_add(ctx, email, first_name, last_name, company, phone, as_json) -> None:
    """Add one contact."""
    _open(ctx)
    row = contacts.add_contact(email, first_name, last_name, company, phone)
    if as_json:
        emit_json({"added": {"id": row.id, "email": row.email, "first_name": row.first_name,
                             "last_name": row.last_name, "company": row.company, "phone": row.phone,
                             "status": row.status},
                   "warnings": list(row.warnings)})
        return
    for warning in row.warnings:
        click.echo(f"warning: {_visible(warning)}", err=True)
    click.echo(f"added {row.email}")


@contacts_group.command("list")
@click.option("--search", default="", help="Words to find in name, email or company.")
@click.option("--status", type=click.Choice(contacts.STATUS_FILTERS), default=None,
              help="Only this status; expired: invited, and the invitation link lapsed.")
@click.option("--sort", type=click.Choice(list(contacts.SORT_KEYS)), default="name")
@click.option("--desc", is_flag=True, help="Sort descending.")
@click.option("--limit", type=click.IntRange(0), default=100)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def contacts_list(ctx, search, status, sort, desc, limit, offset, as_json) -> None:
    """List contacts (filtered and sorted)."""
    _open(ctx)
    page = contacts.contact_page(contacts.ContactQuery(search, status, sort, desc), offset, limit)
    if as_json:
        emit_json({"total": page.total, "offset": page.offset, "contacts": page.rows})
        return
    for row in page.rows:
        click.echo(f"{_visible(row.email):<40} {row.status_label:<17} {_visible(row.full_name)}")
    click.echo(f"{len(page.rows):,} of {plural(page.total, 'contact')}", err=True)


@contacts_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--update", is_flag=True, help="Fill in details of contacts that already exist.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def contacts_import(ctx, file, update, as_json) -> None:
    """Import contacts from a CSV file (Google, Outlook, spreadsheet exports)."""
    _open(ctx)
    from models import csv_io, search_fill  # here: the dashboard's start need not import the CSV reader

    report = csv_io.import_file(file, update_existing=update, fill_later=True)
    # A big import returns before its contacts are in the search index: a detached process fills it.
    background = report.search_pending and search_fill.start_detached()
    if as_json:
        emit_json(
            {
                "added": report.added,
                "search_indexing": bool(background),
                "skipped": [{"line": line, "reason": reason} for line, reason in report.skipped],
                "skipped_count": report.skipped_count,
                "warnings": report.warnings,
                "warning_count": report.warning_count,
                "recoded_lines": report.recoded_lines,
                "columns": report.columns,
            }
        )
        return
    for warning in report.warnings:
        click.echo(f"warning: {_visible(warning)}", err=True)
    row_warnings = len(report.warnings) - (1 if report.recoded_count else 0)  # the file's own comes first
    if report.warning_count > row_warnings:
        click.echo(f"… and {report.warning_count - row_warnings:,} more warnings", err=True)
    for line, reason in report.skipped:
        click.echo(f"line {line}: skipped: {_visible(reason)}", err=True)
    if report.skipped_count > len(report.skipped):
        click.echo(f"… and {report.skipped_count - len(report.skipped):,} more rows skipped (the first "
                   f"{len(report.skipped):,} are listed)", err=True)
    click.echo(f"imported {plural(report.added, 'contact')}, skipped {report.skipped_count:,}")
    if background:
        click.echo("search is being indexed in the background (searches work meanwhile, more slowly)")


@contacts_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (the file's path, how many contacts).")
@pass_ctx
def contacts_export(ctx, file, as_json) -> None:
    """Export every contact to a CSV file ('-' for standard output)."""
    if file == "-" and as_json:
        raise click.UsageError("--json needs a file: with '-' the CSV itself goes to standard output")
    _open(ctx)
    from models import csv_io

    if file == "-":
        count = csv_io.export_contacts(sys.stdout)
    else:
        count = csv_io.export_file(file)
    if as_json:
        emit_json({"path": str(Path(file).expanduser().resolve()), "count": count})
        return
    click.echo(f"exported {plural(count, 'contact')}", err=True)


# --- portal operations ----------------------------------------------------------------------------------------


@main.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def stats(ctx, as_json) -> None:
    """Contacts, invited, joined, pending and expired invitations, and the outbox."""
    _open(ctx)
    s = portal.stats()
    if as_json:
        emit_json(s.as_dict())
        return
    for key, value in s.as_dict().items():
        click.echo(f"{key.replace('_', ' '):<16} {value}")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def url(ctx, as_json) -> None:
    """Print the portal URL (built from the selected domain, else the default one)."""
    _open(ctx)
    if as_json:
        emit_json({"url": domains.portal_url()})
        return
    click.echo(domains.portal_url())


@main.command("magic-link")
@click.argument("email")
@click.option("--purpose", type=click.Choice(["login", "invite"]), default="login")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def magic_link(ctx, email, purpose, as_json) -> None:
    """Print a fresh magic link for a contact.

    It replaces the link of the same purpose last printed or copied for them; a link they were emailed keeps
    working (`revoke` ends them all). For a contact not invited yet, the link is their invitation.
    """
    _open(ctx)
    was_invited = contacts.find_contact(email).status != STATUS_NOT_INVITED
    link = links.issue_link(email, purpose, CHANNEL_SHOWN)
    if as_json:
        emit_json({"url": link.url, "email": link.contact.email, "purpose": purpose, "expires_at": link.expires_at,
                   "channel": link.channel})
        return
    click.echo(link.url)
    click.echo(f"expires {link.expires_at:%Y-%m-%d %H:%M} UTC; emailed links keep working", err=True)
    if not was_invited:
        # As the dashboard's magic-link dialog says it: printing the link changed their status.
        click.echo(f"{_visible(link.contact.email)} had not been invited: this link is their invitation "
                   "(now: invited)", err=True)


@main.command()
@click.argument("emails", nargs=-1)
@click.option("--first-name", default="", help="For a new contact (one address only).")
@click.option("--last-name", default="", help="For a new contact (one address only).")
@click.option("--expired", is_flag=True,
              help="Invite again every invited contact whose invitation link lapsed, instead of a list.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def invite(ctx, emails, first_name, last_name, expired, as_json) -> None:
    """Invite contacts (a new address becomes a contact) and queue their invitation email."""
    if bool(emails) == expired:
        raise click.UsageError(one_or_other("email addresses", "--expired", given=expired))
    if expired and (first_name or last_name):
        raise click.UsageError("--first-name and --last-name are for one new address, not --expired")
    if (first_name or last_name) and len(emails) > 1:
        # They were dropped without a word: which of the addresses would the name be for?
        raise click.UsageError("--first-name and --last-name are for one new address; add the others' names with "
                               "contacts add (or contacts import) first")
    _open(ctx)
    result = portal.resend_expired() if expired else portal.invite(list(emails), first_name, last_name)
    if as_json:
        emit_json(
            {
                "batch": result.batch,
                "invited": [r.email for r in result.invited],
                "created": [r.email for r in result.created],
                "skipped": [{"email": e, "reason": r} for e, r in result.skipped],
                "warnings": result.warnings,
            }
        )
    else:
        for warning in result.warnings:
            click.echo(f"warning: {_visible(warning)}", err=True)
        if (first_name or last_name) and result.invited and not result.created:
            click.echo(f"note: {_visible(result.invited[0].email)} was already a contact: its name is left as it "
                       "was (change it in the dashboard)", err=True)
        for address, reason in result.skipped:
            click.echo(f"skipped {_visible(address)}: {_visible(reason)}", err=True)
        if expired and not result.invited and not result.skipped:
            click.echo("no invitation link has lapsed: nobody to invite again")
        elif not result.invited:
            click.echo("nobody invited: every address was skipped (above); nothing queued")
        else:
            count = len(result.invited)
            click.echo(f"invited {plural(count, 'contact')}; {'invitation' if count == 1 else 'invitations'} queued "
                       f"(batch {result.batch})")
    if not result.invited and result.skipped:
        ctx.exit(1)


_DASHED_VALUE = re.compile(r"-[A-Za-z0-9_-]{15,}|-[0-9.][0-9.eE+-]*|-.*\s.*")
"""An argument that starts with '-' but is a value, which click would take for an option: a bare token (base64url:
one token in 64 starts with '-'), a negative number, or text with a space in it."""


class _DashedValueCommand(click.Command):
    """A command whose arguments may start with '-': such a value is moved after `--` before click parses, so
    `redeem -Xy…` redeems the token and `settings set login_ttl_hours -5` says the range, instead of "No such
    option". Real options (and a mistyped one, `--jsn`) are still options."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" not in args:
            known = {name for param in self.get_params(ctx) for name in (*param.opts, *param.secondary_opts)}
            dashed = [a for a in args if a not in known and _DASHED_VALUE.fullmatch(a)]
            if dashed:
                # Arguments keep their order among themselves: everything before `--` that is not an option
                # value is an argument too, so the dashed ones cannot simply go last.
                args = self._reorder(ctx, args, set(dashed))
        return super().parse_args(ctx, args)

    def _reorder(self, ctx: click.Context, args: list[str], dashed: set[str]) -> list[str]:
        takes_value = {name for param in self.get_params(ctx) if isinstance(param, click.Option) and not param.is_flag
                       for name in param.opts}
        options: list[str] = []
        positional: list[str] = []
        index = 0
        while index < len(args):
            arg = args[index]
            if arg in dashed or not arg.startswith("-") or arg == "-":
                positional.append(arg)
            else:
                options.append(arg)
                if arg in takes_value and index + 1 < len(args):
                    index += 1
                    options.append(args[index])
            index += 1
        return options + ["--", *positional]


def _read_token(given: str | None) -> str:
    """The token or URL: the argument, or (for `-` or none) one line of standard input, so it stays out of `ps`."""
    if given is not None and given != "-":
        return given
    stdin = sys.stdin
    if stdin.isatty():
        text = click.prompt("Magic link or token", hide_input=True, default="", show_default=False)
    else:
        text = stdin.readline(64 * 1024)
    text = text.strip()
    if not text:
        raise click.UsageError("give the magic link or token as an argument, or on standard input")
    return text


@main.command(cls=_DashedValueCommand)
@click.argument("token_or_url", required=False)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def redeem(ctx, token_or_url, as_json) -> None:
    """Use a magic link, as the portal does when one is opened: logs the contact in (joined the first time).

    TOKEN_OR_URL may be left out, or given as '-', to read it from standard input (it then stays out of `ps`).
    """
    token_or_url = _read_token(token_or_url)
    _open(ctx)
    try:
        result = links.redeem(token_or_url)
    except links.RedeemFailed as exc:
        if as_json:
            emit_json({"ok": False, "reason": exc.reason, "message": str(exc)})
            ctx.exit(1)
        raise
    if as_json:
        emit_json({"ok": True, "email": result.contact.email, "first_login": result.first_login,
                   "purpose": result.purpose})
        return
    click.echo(f"{result.contact.email} logged in" + (" (joined the portal)" if result.first_login else ""))


@main.command()
@click.argument("emails", nargs=-1)
@click.option("--all-links", is_flag=True, help="Revoke every outstanding link of every contact.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def revoke(ctx, emails, all_links, as_json) -> None:
    """End contacts' portal access at once, or (--all-links) kill every outstanding magic link."""
    _open(ctx)
    if all_links == bool(emails):
        raise click.UsageError(one_or_other("email addresses", "--all-links", given=all_links))
    if all_links:
        count = links.revoke_all_links()
        if as_json:
            emit_json({"links_revoked": count})
        else:
            click.echo(f"revoked {plural(count, 'outstanding link')}")
        return
    # Every address is looked up before any is revoked, and an unknown one is skipped with its reason: a list of
    # leavers with one typo in it must still end the access of all the others.
    found, skipped = [], []
    for email in emails:
        try:
            found.append(contacts.find_contact(email).id)
        except PortalError as exc:
            skipped.append((email, str(exc)))
    revoked = [links.revoke_access(contact_id).email for contact_id in found]
    if as_json:
        emit_json({"revoked": revoked, "skipped": [{"email": e, "reason": r} for e, r in skipped]})
    else:
        for address, reason in skipped:
            click.echo(f"skipped {_visible(address)}: {_visible(reason)}", err=True)
        for address in revoked:
            click.echo(f"revoked {address}")
    if skipped:
        ctx.exit(1)


# --- domains --------------------------------------------------------------------------------------------------


@main.group(cls=PortalGroup, invoke_without_command=True)
@pass_ctx
def domains_group(ctx) -> None:
    """The default domain (invitations come from it) and custom domains (one may be selected for links)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(domains_list)


main.add_command(domains_group, name="domains")


@domains_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def domains_list(ctx, as_json=False) -> None:
    """List domains."""
    _open(ctx)
    rows = domains.list_domains()
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no domains yet: client-portal domains add portal.example.com", err=True)
    for row in rows:
        marks = ", ".join(m for m, on in (("default", row.is_default), ("selected", row.is_selected)) if on)
        click.echo(row.name + (f"  ({marks})" if marks else ""))


@domains_group.command("add")
@click.argument("name")
@click.option("--default", "make_default", is_flag=True, help="Make it the default domain.")
@click.option("--select", "make_selected", is_flag=True, help="Build links and the portal URL from it.")
@pass_ctx
def domains_add(ctx, name, make_default, make_selected) -> None:
    """Add a domain (the first becomes the default)."""
    _open(ctx)
    row = domains.add_domain(name, default=make_default, select=make_selected)
    click.echo(f"added {row.name}" + (" (default)" if row.is_default else ""))


@domains_group.command("select")
@click.argument("name", required=False)
@click.option("--none", "clear", is_flag=True, help="Go back to the default domain.")
@pass_ctx
def domains_select(ctx, name, clear) -> None:
    """Select the domain links and the portal URL are built from."""
    _open(ctx)
    if bool(name) == clear:
        raise click.UsageError("give a domain name or --none")
    domains.select_domain(None if clear else name)
    click.echo(f"portal URL: {domains.portal_url()}")


@domains_group.command("default")
@click.argument("name")
@pass_ctx
def domains_default(ctx, name) -> None:
    """Make a domain the default (invitations are sent from it)."""
    _open(ctx)
    row = domains.set_default(name)
    click.echo(f"default domain: {row.name}")


@domains_group.command("remove")
@click.argument("name")
@pass_ctx
def domains_remove(ctx, name) -> None:
    """Remove a domain."""
    _open(ctx)
    domains.remove_domain(name)
    click.echo(f"removed {name}")


# --- settings and audit ---------------------------------------------------------------------------------------


@main.group(cls=PortalGroup, invoke_without_command=True, name="settings")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as one JSON object.")
@pass_ctx
def settings_group(ctx, as_json) -> None:
    """Shared settings: link expiry, sender name, send rate, tries per email, portal callback URL."""
    if ctx.invoked_subcommand is None:
        _open(ctx)
        if as_json:
            emit_json({key: settings.get(key) for key in settings.SPECS})
            return
        width = max(map(len, settings.SPECS))
        for key, value in settings.all_settings().items():
            spec = settings.SPECS[key]
            shown = _visible(str(value)) if value != "" else "(none)"
            click.echo(f"{key:<{width}}  {shown:<14} {spec.help} ({spec.describe_range()})")


def _settings_set_help() -> str:
    """`settings set --help`: the keys and what each takes, from the settings themselves."""
    keys = "\n".join(f"  {key}: {spec.help}; {spec.describe_range()}" for key, spec in settings.SPECS.items())
    return f"Change a setting (shared by every admin of this database). KEY is one of:\n\n\b\n{keys}"


@settings_group.command("set", cls=_DashedValueCommand, help=_settings_set_help())
@click.argument("key")
@click.argument("value")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def settings_set(ctx, key, value, as_json) -> None:
    _open(ctx)
    settings.set_value(key, value)
    if as_json:
        emit_json({"key": key, "value": settings.get(key)})
        return
    click.echo(f"{key} = {settings.get(key)}")


@main.command("audit")
@click.option("--limit", type=click.IntRange(1), default=50)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def audit_cmd(ctx, limit, as_json) -> None:
    """Who did what, newest first."""
    _open(ctx)
    rows = audit.recent(limit)
    if as_json:
        emit_json(rows)
        return
    # Columns as wide as the longest entry shown ("portal.exchange_refused" overran a fixed 16 and shifted its line).
    shown = [(_visible(row.actor + (f" from {row.host}" if row.host else "")), _visible(row.action), row)
             for row in rows]
    who_width = max((len(who) for who, _, _ in shown), default=0)
    action_width = max((len(action) for _, action, _ in shown), default=0)
    for who, action, row in shown:
        click.echo(f"{row.at:%Y-%m-%d %H:%M:%S}  {who:<{who_width}}  {action:<{action_width}}  "
                   f"{_visible(row.subject)}  {_visible(row.detail)}")

