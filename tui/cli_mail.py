"""The mail commands of `client-portal`: `login-email`, `outbox list|send|retry`, `templates list|show|set|...`.

Kept apart from `tui/cli.py` so the mail layer's commands live beside nothing else; `register(main)` adds them to
the main group. They call the same functions the dashboard calls (`mail.outbox.OutboxSender`,
`mail.templates`), so a cron job running `client-portal outbox send` does exactly what the outbox screen does.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import click

from mail.config import MailConfig
from mail.outbox import OutboxSender, SendProgress, SendSummary, retry_failed
from mail.templates import (
    PART_LABELS,
    PLACEHOLDERS,
    TEMPLATE_NAMES,
    get_template,
    preview,
    reset_template,
    save_template,
)
from models import clock, contacts, outbox
from models.contacts import ContactQuery, ContactRow
from models.db import data_dir_for
from models.states import OUTBOX_STATUSES, STATUS_NOT_INVITED, STATUSES
from models.errors import PortalError
from models.words import plural
from tui import cli_common as base  # the shared options and output helpers

PARTS = {"subject": "subject", "text": "text_body", "html": "html_body"}
"""The names `templates show --part` takes, and the field each one means."""

EXIT_SENT = 0
"""`outbox send`: every message due was sent (or skipped on purpose, its access revoked), or none was due."""
EXIT_ERROR = 1
"""Bad input, configuration or database: nothing was tried (click's own usage errors exit 2)."""
EXIT_FAILED = 3
"""At least one message failed for good (a refused address, an email that cannot be made): see
`outbox list --status failed`, fix, then `outbox retry`. The others were sent."""
EXIT_DEFERRED = 4
"""Mail is still queued: the server could not be reached or stopped answering, or messages wait for a retry.
Nothing is lost; a later `outbox send` sends it."""
EXIT_INTERRUPTED = 130
"""Stopped with Ctrl+C (what a shell expects); the rest stays queued."""


def send_exit_code(summary: SendSummary) -> int:
    """What `outbox send` exits with after `summary`: the most urgent of the codes above."""
    if summary.cancelled:
        return EXIT_INTERRUPTED
    if summary.failed:
        return EXIT_FAILED
    if summary.error or summary.retrying:
        return EXIT_DEFERRED
    return EXIT_SENT



def _visible(text: str) -> str:
    return base._visible(text)


def _mail_config(ctx: click.Context) -> MailConfig:
    path = base._open(ctx)
    return MailConfig.from_env(data_dir_for(path))


# --- login-email ----------------------------------------------------------------------------------------------


@click.command("login-email")
@click.argument("emails", nargs=-1)
@click.option("--status", type=click.Choice(STATUSES), default=None,
              help="Every contact in this portal status instead of a list of addresses.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def login_email(ctx: click.Context, emails: tuple[str, ...], status: str | None, as_json: bool) -> None:
    """Queue a login email (a fresh magic link) to contacts; `outbox send` sends it."""
    base._open(ctx)
    if bool(emails) == bool(status):
        raise click.UsageError(base.one_or_other("email addresses", "--status STATUS", given=bool(status)))
    skipped: list[tuple[str, str]] = []
    if status:
        ids = contacts.contact_ids(ContactQuery(status=status))
    else:
        ids = []
        for address in emails:
            try:
                ids.append(contacts.find_contact(address).id)
            except PortalError as exc:
                skipped.append((address, str(exc)))
    result = outbox.queue_login_emails(ids)
    skipped += [(row.email, reason) for row, reason in result.skipped]
    if as_json:
        base.emit_json({"batch": result.batch, "queued": [r.email for r in result.queued],
                           "skipped": [{"email": e, "reason": r} for e, r in skipped]})
    else:
        for address, reason in skipped:
            click.echo(f"skipped {_visible(address)}: {_visible(reason)}", err=True)
        if result.queued:
            click.echo(f"queued {plural(len(result.queued), 'login email')} (batch {result.batch}); "
                       "send with: client-portal outbox send")
            # Sending it invites them (the dashboard's magic link says so for its link): say it before it is sent.
            uninvited = [row.email for row in result.queued if row.status == STATUS_NOT_INVITED]
            if uninvited:
                who = (_visible(uninvited[0]) if len(result.queued) == 1
                       else plural(len(uninvited), "of them was", "of them were"))
                click.echo(f"note: {who} not invited yet: the login email, once sent, is their invitation", err=True)
        else:
            click.echo("no login email queued: " + ("every address was skipped (above)" if skipped
                                                    else f"no contact is {status.replace('_', ' ')}"))
    if not result.queued and skipped:
        ctx.exit(1)


# --- outbox ---------------------------------------------------------------------------------------------------


@click.group("outbox", invoke_without_command=True)
@click.pass_context
def outbox_group(ctx: click.Context) -> None:
    """Show, send or retry queued mail (with no subcommand: list)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(outbox_list)


@outbox_group.command("list")
@click.option("--status", type=click.Choice(OUTBOX_STATUSES), default=None)
@click.option("--batch", default=None, help="Only this batch.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def outbox_list(ctx: click.Context, status=None, batch=None, limit=50, as_json=False) -> None:
    """Queued, sent and failed mail, newest first."""
    base._open(ctx)
    outbox.check_batch(batch)
    rows = outbox.list_outbox(status=status, batch=batch, limit=limit)
    if as_json:
        base.emit_json({"counts": outbox.outbox_counts(), "messages": rows})
        return
    for row in rows:
        if row.status == "sent" and row.sent_at:
            when = f"sent {row.sent_at:%Y-%m-%d %H:%M}"
        elif row.status == "queued":
            when = f"due {row.next_attempt_at:%Y-%m-%d %H:%M}"
        else:
            when = ""
        line = f"{row.id:>6}  {row.status:<8} {row.kind:<6} {_visible(row.email):<36} {row.attempts:>2}x  {when}"
        click.echo(line.rstrip() + (f"  {_visible(row.last_error)}" if row.last_error else ""))
    counts = outbox.outbox_counts()
    click.echo(", ".join(f"{n} {name}" for name, n in counts.items()), err=True)


@outbox_group.command("send")
@click.option("--batch", default=None, help="Only this batch.")
@click.option("--once", is_flag=True, help="One pass over what is due now; do not wait for retries.")
@click.option("--rate", type=click.FloatRange(min=0), default=None,
              help="Messages per second at most over SMTP (default: the send_rate setting; 0: no limit).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--watch", is_flag=True, help="Keep running and send mail as it falls due (what `serve` runs inside); "
                                            "SIGTERM or Ctrl+C ends it.")
@click.pass_context
def outbox_send(ctx: click.Context, batch: str | None, once: bool, rate: float | None, as_json: bool,
                watch: bool = False) -> None:
    """Send queued mail until the queue is empty (or, with --once, one pass; with --watch, for good).

    Messages that fail for a while are retried with growing waits; without --once the command waits for them.
    Ctrl+C stops after the message being sent; the rest stays queued.

    \b
    Exit status:
      0    every message due was sent (or skipped: access revoked), or none was due
      1    bad input, configuration or database; nothing was tried (2: a usage error)
      3    some messages failed for good (the others were sent): outbox list --status failed
      4    mail is still queued: the server was unreachable or stopped answering, or
           messages wait for a retry (--once); nothing is lost, send again later
      130  stopped with Ctrl+C; the rest stays queued
    With --watch, SIGTERM or Ctrl+C is its normal end: 0 (1 for bad configuration).
    """
    config = _mail_config(ctx)
    if watch:
        if batch or once or rate is not None or as_json:
            raise click.UsageError("--watch sends all mail at the send_rate setting; it takes no other option")
        from tui.cli_portal import watch_outbox

        watch_outbox(config)
        return
    outbox.check_batch(batch)  # a mistyped batch sent nothing and exited 0, as if all was sent
    if not as_json:
        click.echo(f"sending through {config.describe()}", err=True)
    sender = OutboxSender(config, rate=rate)
    cancel = threading.Event()
    show_bar = not as_json and sys.stderr.isatty()
    summaries: list[SendSummary] = []
    while True:
        summary = _run_with_progress(sender, batch, once, cancel, show_bar)
        summaries.append(summary)
        if once or summary.error or summary.cancelled:
            break
        due = outbox.next_due_at(batch)
        if due is None:
            break
        waiting = outbox.queued_count(batch)
        if not as_json:
            click.echo(f"{plural(waiting, 'email')} {'waits' if waiting == 1 else 'wait'} for a retry; next attempt at {due:%H:%M:%S} UTC "
                       "(Ctrl+C to stop: they stay queued)", err=True)
        if cancel.wait(max(0.0, (due - clock.now()).total_seconds()) + 0.05):
            break
    total = _merge(summaries)
    _print_summary(total, as_json)
    if total.error:
        click.echo(f"error: {_visible(total.error)} (the mail stays queued)", err=True)
    ctx.exit(send_exit_code(total))


def _run_with_progress(sender: OutboxSender, batch, once, cancel: threading.Event, show_bar: bool) -> SendSummary:
    """Run the sender in a thread, as the dashboard does, so Ctrl+C can ask it to stop between messages."""
    result: list = []
    bar = click.progressbar(length=1, label="sending", file=sys.stderr, show_pos=True,
                            item_show_func=lambda item: item) if show_bar else None

    def progress(p: SendProgress) -> None:
        if bar is not None:
            bar.length = max(p.total, 1)
            bar.update(1, current_item=_visible(p.email)[:40])

    finished = threading.Event()

    def work() -> None:
        try:
            result.append(sender.send(batch, progress=progress, cancel=cancel, once=once))
        except BaseException as exc:  # handed to the main thread, which reports it like any error
            result.append(exc)
        finally:
            finished.set()

    worker = threading.Thread(target=work, name="outbox-sender", daemon=True)
    if bar is not None:
        bar.__enter__()
    try:
        worker.start()
        # An Event, not Thread.join: a join interrupted by Ctrl+C can leave the thread looking finished.
        while not finished.is_set():
            try:
                finished.wait(0.2)
            except KeyboardInterrupt:
                cancel.set()
                click.echo("\nstopping after the message being sent...", err=True)
        worker.join()
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _merge(summaries: list[SendSummary]) -> SendSummary:
    last = summaries[-1]
    return SendSummary(
        sent=sum(s.sent for s in summaries),
        failed=[item for s in summaries for item in s.failed],
        retrying=last.retrying,
        skipped=list(dict.fromkeys(item for s in summaries for item in s.skipped)),
        cancelled=last.cancelled,
        error=last.error,
    )


def _print_summary(summary: SendSummary, as_json: bool) -> None:
    if as_json:
        base.emit_json({
            "sent": summary.sent,
            "failed": [{"email": e, "reason": r} for e, r in summary.failed],
            "retrying": summary.retrying,
            "skipped": [{"email": e, "reason": r} for e, r in summary.skipped],
            "cancelled": summary.cancelled,
            "error": summary.error,
            "exit_code": send_exit_code(summary),
        })
        return
    for address, reason in summary.failed:
        click.echo(f"failed {_visible(address)}: {_visible(reason)}", err=True)
    for address, reason in summary.skipped:
        click.echo(f"skipped {_visible(address)}: {_visible(reason)}", err=True)
    parts = [f"sent {summary.sent}", f"failed {len(summary.failed)}", f"skipped {len(summary.skipped)}"]
    if summary.retrying:
        parts.append(f"{summary.retrying} waiting to be retried")
    if summary.cancelled:
        parts.append("stopped early (the rest stays queued)")
    click.echo(", ".join(parts))


@outbox_group.command("retry")
@click.option("--batch", default=None, help="Only this batch.")
@click.pass_context
def outbox_retry(ctx: click.Context, batch: str | None) -> None:
    """Put failed mail back in the queue (each keeps its Message-ID); `outbox send` sends it."""
    base._open(ctx)
    outbox.check_batch(batch)
    count = retry_failed(batch)
    click.echo(f"{plural(count, 'failed email')} queued again")


# --- templates ------------------------------------------------------------------------------------------------


def _template_name(ctx, param, value: str) -> str:
    if value not in TEMPLATE_NAMES:
        raise click.BadParameter(f"{value!r}: the templates are {', '.join(TEMPLATE_NAMES)}")
    return value


@click.group("templates", invoke_without_command=True)
@click.pass_context
def templates_group(ctx: click.Context) -> None:
    """The invite and login email templates (with no subcommand: list)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(templates_list)


@templates_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def templates_list(ctx: click.Context, as_json: bool = False) -> None:
    """The templates, whether each is edited or the built-in default, and the custom values they can use."""
    base._open(ctx)
    items = {name: get_template(name) for name in TEMPLATE_NAMES}
    if as_json:
        base.emit_json({
            "templates": [{"name": n, "subject": t.subject, "is_default": t.is_default} for n, t in items.items()],
            "values": PLACEHOLDERS,
        })
        return
    for name, source in items.items():
        state = "default" if source.is_default else "edited"
        click.echo(f"{name:<8} {state:<8} {_visible(source.subject)}")
    click.echo("\ncustom values (write them as {{ contact.first_name }}):")
    for key, help_text in PLACEHOLDERS.items():
        click.echo(f"  {key:<20} {help_text}")


@templates_group.command("show")
@click.argument("name", callback=_template_name)
@click.option("--part", type=click.Choice(list(PARTS)), default=None, help="Print only this part, as it is.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def templates_show(ctx: click.Context, name: str, part: str | None, as_json: bool) -> None:
    """Print a template (all three parts, or one with --part, ready to edit and `set` again)."""
    base._open(ctx)
    source = get_template(name)
    if as_json:
        base.emit_json(source)
        return
    if part:
        text = getattr(source, PARTS[part])
        click.echo(text, nl=not text.endswith("\n"))
        return
    click.echo(f"# {name} ({'built-in default' if source.is_default else 'edited'})")
    for field_name in PARTS.values():
        click.echo(f"\n## {PART_LABELS[field_name]}\n")
        text = getattr(source, field_name)
        click.echo(text, nl=not text.endswith("\n"))


def _read(path: str | None) -> str | None:
    if path is None:
        return None
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PortalError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


@templates_group.command("set")
@click.argument("name", callback=_template_name)
@click.option("--subject", default=None, help="The new subject line.")
@click.option("--body-file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="File with the new plain-text body ('-': standard input).")
@click.option("--html-file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="File with the new HTML body ('-': standard input).")
@click.pass_context
def templates_set(ctx: click.Context, name: str, subject, body_file, html_file) -> None:
    """Change a template. An unknown custom value, a syntax error or a body without {{ link.url }} is refused."""
    base._open(ctx)
    if body_file == "-" and html_file == "-":
        raise click.UsageError("only one of --body-file and --html-file can read standard input")
    save_template(name, subject=subject, text_body=_read(body_file), html_body=_read(html_file))
    click.echo(f"saved the {name} template")


@templates_group.command("reset")
@click.argument("name", callback=_template_name)
@click.pass_context
def templates_reset(ctx: click.Context, name: str) -> None:
    """Go back to the built-in default of a template."""
    base._open(ctx)
    reset_template(name)
    click.echo(f"the {name} template is the built-in default again")


@templates_group.command("preview")
@click.argument("name", callback=_template_name)
@click.argument("email", required=False)
@click.option("--html", "show_html", is_flag=True, help="Print the HTML body instead of the text.")
@click.pass_context
def templates_preview(ctx: click.Context, name: str, email: str | None, show_html: bool) -> None:
    """Show an email as a contact would get it (a stand-in for the link; nothing is issued or sent)."""
    base._open(ctx)
    if email:
        contact = contacts.find_contact(email)
    else:
        contact = ContactRow(id=0, email="ada@example.com", first_name="Ada", last_name="Lovelace",
                             company="Acme Ltd", phone="", status="invited", invited_at=None, last_login_at=None)
    rendered = preview(name, contact)
    click.echo(f"Subject: {_visible(rendered.subject)}\n")
    body = rendered.html if show_html else rendered.text
    click.echo(body, nl=not body.endswith("\n"))


def register(main: click.Group) -> None:
    """Add the mail commands to the `client-portal` group."""
    for command in (login_email, outbox_group, templates_group):
        main.add_command(command)
