"""The stats header: the portal URL, invited and joined users, and what needs attention, always current.

"Invited" counts the contacts whose status is invited, as the table's status filter does (joined contacts are
in "Joined" only), followed by where their invitations are: sent, queued, failed, or no mail (the contact holds a
link an admin showed them). These numbers are the ones `client-portal stats` prints.

The numbers come from `models.portal.stats()` (a handful of indexed queries), the mail route from
`mail.config.MailConfig`. The dashboard calls `reload()` whenever the database moved; the reading happens on
`tui.reader`'s thread so a big database never stalls the screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget

from models import clock, heartbeat
from models.errors import PortalError
from tui import reader
from tui.text import plural, visible

if TYPE_CHECKING:
    from models.portal import Stats


STALE_MARGIN_SECONDS = 0.5
"""How long after a sender's heartbeat grows stale the header reads again (so that it is stale by then)."""


class HeaderInfo(NamedTuple):
    """Everything the header shows, read in one go. (A named tuple, immutable as a frozen dataclass is, without
    the generated methods a dataclass compiles at every start.)"""

    stats: Stats
    url: str | None
    """The portal URL, or `None` when no domain is set up."""
    url_problem: str = ""
    mail: str = ""
    """Where mail goes, in words (`MailConfig.describe()`)."""
    uses_smtp: bool | None = None
    """`True` for SMTP, `False` for the local Maildir, `None` when unknown."""
    sender_running: bool = True
    """Whether a long-running sender (`serve`, `outbox send --watch`) has recorded a recent heartbeat."""
    sender_stale_in: float | None = None
    """Seconds until that heartbeat grows stale (the header then reads again, to say no sender runs); None when
    no sender runs."""


def mail_route(data_dir: Path) -> tuple[str, bool | None]:
    """Where mail goes: (description, uses SMTP). Never raises: a broken setting is shown, not fatal."""
    try:
        from mail.config import MailConfig
    except ImportError:
        return "mail is not set up in this installation", None
    try:
        config = MailConfig.from_env(data_dir)
        return config.describe(), bool(config.uses_smtp)
    except Exception as exc:  # a bad environment variable: say so in the header
        return f"mail settings: {exc}", None


def load_header_info(data_dir: Path) -> HeaderInfo:
    """Read the header's numbers (call inside a database connection)."""
    # Imported here, on the reading thread after the first frame: `models.portal` brings `models.outbox` (5 ms
    # of the start, which only this read needs).
    from models import domains, portal

    stats = portal.stats()
    try:
        url, problem = domains.portal_url(), ""
    except PortalError as exc:
        url, problem = None, str(exc)
    mail, uses_smtp = mail_route(data_dir)
    last = heartbeat.last_beat()
    left = (last[0] + heartbeat.STALE_AFTER - clock.now()).total_seconds() if last is not None else 0.0
    return HeaderInfo(stats=stats, url=url, url_problem=problem, mail=mail, uses_smtp=uses_smtp,
                      sender_running=left > 0, sender_stale_in=left if left > 0 else None)


class StatsHeader(Widget):
    """Three lines at the top of the dashboard: URL and mail route, people, attention."""

    DEFAULT_CSS = """
    StatsHeader {
        height: 3;
        padding: 0 1;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    StatsHeader > .stats-header--label {
        color: $text-muted;
    }
    StatsHeader > .stats-header--value {
        text-style: bold;
    }
    StatsHeader > .stats-header--url {
        color: $text-primary;
        text-style: bold;
    }
    StatsHeader > .stats-header--warning {
        color: $text-warning;
        text-style: bold;
    }
    StatsHeader > .stats-header--error {
        color: $text-error;
        text-style: bold;
    }
    StatsHeader > .stats-header--ok {
        color: $text-success;
    }
    """

    COMPONENT_CLASSES = {
        "stats-header--label",
        "stats-header--value",
        "stats-header--url",
        "stats-header--warning",
        "stats-header--error",
        "stats-header--ok",
    }

    info: reactive[HeaderInfo | None] = reactive(None, layout=False)
    """What is shown; `None` until the first read."""

    class Loaded(Message):
        def __init__(self, info: HeaderInfo | None, error: str = "") -> None:
            super().__init__()
            self.info = info
            self.error = error

    def __init__(self, data_dir: Path, *, id: str | None = None, read_on_mount: bool = True) -> None:
        """
        Args:
            data_dir: Where the local Maildir lives.
            read_on_mount: Read the numbers as soon as the header is mounted; False: when `reload()` is first
                called (the dashboard reads its first contacts first: both go through one reading thread, and the
                header's first read, cold, took 145 ms at a million contacts).
        """
        super().__init__(id=id)
        self.data_dir = data_dir
        """Where the local Maildir lives (beside the database)."""
        self._sender_timer: Timer | None = None
        self._read_on_mount = read_on_mount

    def on_mount(self) -> None:
        if self._read_on_mount:
            self.reload()

    def reload(self) -> None:
        """Read the numbers again (in a worker)."""
        self._load()

    @work(exclusive=True, group="stats-header", exit_on_error=False)
    async def _load(self) -> None:
        try:
            info = await reader.read(load_header_info, self.data_dir)
        except Exception as exc:
            self.post_message(self.Loaded(None, str(exc)))
            return
        self.post_message(self.Loaded(info))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        message.stop()
        if message.info is not None:
            self.info = message.info
            self._watch_sender(message.info.sender_stale_in)

    def _watch_sender(self, stale_in: float | None) -> None:
        """A sender that stops writes nothing, so no change of the database says so: read again once, when its
        last heartbeat grows stale (each new heartbeat is a change, which reads again and moves this)."""
        if self._sender_timer is not None:
            self._sender_timer.stop()
            self._sender_timer = None
        if stale_in is not None:
            self._sender_timer = self.set_timer(stale_in + STALE_MARGIN_SECONDS, self.reload, name="sender-stale")

    def _style(self, name: str):
        return self.get_component_rich_style(f"stats-header--{name}", partial=True)

    ATTENTION_WORDS = (
        # (full, shorter): the words after each count, singular and plural; `compact` 1 and 2 use the shorter.
        (("invite pending", "invites pending"), ("pending", "pending")),
        (("link expired", "links expired"), ("expired", "expired")),
        (("mail queued", "mail queued"), ("queued", "queued")),
        (("failed", "failed"), ("failed", "failed")),
    )

    def _invited(self, info: HeaderInfo, compact: int) -> Text:
        """Invited and joined: in full (`compact` 0), "of N" without the word contacts (1), and without where the
        invitations are too (2)."""
        s = info.stats
        label, value = self._style("label"), self._style("value")
        second = Text(no_wrap=True, overflow="ellipsis", end="")
        second.append("Invited ", style=label)
        second.append(f"{s.invited:,}", style=value)
        delivery = [
            (s.invites_sent, "sent", value),
            (s.invites_queued, "queued", self._style("warning")),
            (s.invites_failed, "failed", self._style("error")),
            (s.invites_no_mail, "no mail", value),
        ]
        shown = [(count, word, style) for count, word, style in delivery if count] if compact < 2 else []
        if shown:
            second.append(" (", style=label)
            for index, (count, word, style) in enumerate(shown):
                if index:
                    second.append(" · ", style=label)
                second.append(f"{count:,}", style=style)
                second.append(f" {word}", style=label)
            second.append(")", style=label)
        second.append("  Joined ", style=label)
        second.append(f"{s.joined:,}", style=self._style("ok") + value)
        second.append(f"  of {plural(s.contacts, 'contact')}" if not compact else f" of {s.contacts:,}", style=label)
        return second

    def _attention(self, info: HeaderInfo, compact: int) -> Text:
        """The attention line: in full (`compact` 0), in shorter words (1), and without its label too (2)."""
        s = info.stats
        label, value = self._style("label"), self._style("value")
        third = Text(no_wrap=True, overflow="ellipsis", end="")
        if compact < 2:
            third.append("Attention ", style=label)
        counts = [(s.pending, "warning"), (s.expired, "warning"), (s.outbox_queued + s.outbox_sending, "warning"),
                  (s.outbox_failed, "error")]
        for index, ((count, level), words) in enumerate(zip(counts, self.ATTENTION_WORDS)):
            one, many = words[1 if compact else 0]
            if index:
                third.append(" · ", style=label)
            third.append(f"{count:,}", style=self._style(level) if count else value)
            third.append(" " + (one if count == 1 else many), style=label)
            if index == 2 and count and getattr(self.app, "sending", False):
                # Under a dialog that is sending it: the mail is going out now (the panel's end reloads this).
                third.append(" (sending now)" if not compact else " (sending)", style=label)
            elif index == 2 and count and not info.sender_running:
                # Queued mail goes out only while `serve` or `outbox send --watch` runs somewhere.
                third.append(" (no sender running: client-portal serve)" if not compact else " (no sender)",
                             style=self._style("warning"))
        return third

    def render(self) -> Text:
        info = self.info
        if info is None:
            return Text("Reading the database…", end="")
        label, value = self._style("label"), self._style("value")
        lines: list[Text] = []

        first = Text(no_wrap=True, overflow="ellipsis", end="")
        first.append("Portal ", style=label)
        if info.url:
            first.append(visible(info.url), style=self._style("url"))
        else:
            first.append("no domain yet — press d to add one", style=self._style("warning"))
        # The mail route shares the first line: the second needs its width for where the invitations are.
        first.append("  ·  Mail → ", style=label)
        first.append(visible(info.mail), style=value if info.uses_smtp else label)
        lines.append(first)

        # What staff act on comes last on each line and matters most: where a line would be cut, it says the same
        # in fewer words rather than lose the counts at its end (the contacts in all, the failed mail).
        width = self.content_region.width or self.size.width
        for compact in (0, 1, 2):
            second = self._invited(info, compact)
            if not width or second.cell_len <= width:
                break
        lines.append(second)

        for compact in (0, 1, 2):
            third = self._attention(info, compact)
            if not width or third.cell_len <= width:
                break
        lines.append(third)
        text = Text("\n", end="", no_wrap=True, overflow="ellipsis").join(lines)
        text.no_wrap = True
        text.overflow = "ellipsis"
        return text
