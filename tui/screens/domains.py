"""Domains: the default one (invitations are sent from it) and custom ones; the selected one builds the URL.

Type a host name and press enter to add it; tab to the list and press enter on one to build links and the
portal URL from it (`x` goes back to the default, `f` makes it the default). The URL at the top follows.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from models import domains
from models.db import database
from models.domains import DomainRow
from models.errors import PortalError
from tui.messages import DataChanged
from tui.screens.dialog import Dialog
from tui.text import MAX_DOMAIN_LENGTH, join, visible


class DomainsScreen(Dialog[str]):
    """Add, select and set the default domain; dismisses with the portal URL."""

    TITLE_TEXT = "Domains"
    BINDINGS = [
        Binding("enter", "choose", "Add / select", priority=True),
        Binding("x", "use_default", "Use default"),
        Binding("f", "make_default", "Make default"),
    ]

    DEFAULT_CSS = """
    DomainsScreen OptionList {
        height: auto;
        max-height: 8;
        margin-top: 1;
    }
    """

    class Done(Message):
        def __init__(self, message: str = "", error: str = "") -> None:
            super().__init__()
            self.message = message
            self.error = error

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[DomainRow] = []

    def compose_body(self) -> ComposeResult:
        yield Static("", id="url", classes="value")
        yield Static("Add a domain (a host name such as portal.example.com)", classes="hint field-label")
        yield Input(placeholder="e.g. clients.your-agency.com", id="new-domain", compact=True,
                    max_length=MAX_DOMAIN_LENGTH)
        yield Static("", id="check", classes="hint")
        yield OptionList(id="domain-list")
        yield Static("", id="outcome", classes="hint")

    def on_mount(self) -> None:
        self._reload()
        self.query_one("#new-domain", Input).focus()

    def _reload(self) -> None:
        self.rows = domains.list_domains()
        try:
            url = Text("Portal URL: ", end="") + Text(visible(domains.portal_url()), style="bold")
        except PortalError:
            url = Text("No domain yet: add the one your portal answers on; invitations are sent from it.")
        self.say("url", url)
        list_widget = self.query_one(OptionList)
        highlighted = list_widget.highlighted
        list_widget.clear_options()
        for row in self.rows:
            marks = ", ".join(m for m, on_ in (("default: mail is sent from it", row.is_default),
                                                ("links use it", row.is_selected)) if on_)
            label = join((row.name, "bold"), f"  ({marks})" if marks else "")
            list_widget.add_option(Option(label, id=row.name))
        if self.rows:
            list_widget.highlighted = min(highlighted or 0, len(self.rows) - 1)
        self.refresh_bindings()

    def _highlighted(self) -> DomainRow | None:
        index = self.query_one(OptionList).highlighted
        return self.rows[index] if index is not None and 0 <= index < len(self.rows) else None

    @on(Input.Changed, "#new-domain")
    def _check(self, event: Input.Changed) -> None:
        if not event.value.strip():
            self.say("check", "", "hint")
            return
        try:
            name = domains.normalize_domain(event.value)
        except PortalError as exc:
            self.say("check", "✗ " + str(exc), "problem")
        else:
            self.say("check", join("✓ ", (name, "bold")), "good")

    @on(Input.Submitted, "#new-domain")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self._start("add", event.value)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._start("select", event.option.id)

    def action_choose(self) -> None:
        """Add the typed domain, or select the highlighted one."""
        box = self.query_one("#new-domain", Input)
        if self.focused is box:
            if box.value.strip():
                self._start("add", box.value)
            else:
                self.say("outcome", "Type a domain to add, or tab to the list to select one.", "hint")
        elif (row := self._highlighted()) is not None:
            self._start("select", row.name)

    def action_use_default(self) -> None:
        """Build links from the default domain again."""
        self._start("select", None)

    def action_make_default(self) -> None:
        """Send invitations from the highlighted domain."""
        if (row := self._highlighted()) is not None:
            self._start("default", row.name)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "use_default":
            return True if any(row.is_selected for row in self.rows) else None
        if action == "make_default":
            row = self._highlighted()
            return True if row is not None and not row.is_default else None
        return True

    @on(OptionList.OptionHighlighted)
    def _moved(self) -> None:
        self.refresh_bindings()

    def _start(self, what: str, name: str | None) -> None:
        """Add, select or make default in a worker; keys typed meanwhile wait for the list it reloads."""
        self.hold_keys_until_done(self._run(what, name))

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _run(self, what: str, name: str | None) -> None:
        try:
            with database.connection_context():
                if what == "add":
                    row = domains.add_domain(name)
                    message = f"Added {row.name}" + (" (the default)" if row.is_default else "")
                elif what == "select":
                    domains.select_domain(name)
                    message = f"Links now use {name}" if name else "Links use the default domain again"
                else:
                    domains.set_default(name)
                    message = f"Invitations are now sent from {name}"
        except PortalError as exc:
            self.post_message(self.Done(error=str(exc)))
            return
        self.post_message(self.Done(message))

    @on(Done)
    def _done(self, message: Done) -> None:
        if message.error:
            self.say("outcome", message.error, "problem")
            return
        self.query_one("#new-domain", Input).value = ""
        self.say("outcome", message.message, "good")
        self.notify_plain(message.message, title="Domains")
        self._reload()
        self.app.post_message(DataChanged("domains"))

    def action_close(self) -> None:
        try:
            self.dismiss(domains.portal_url())
        except PortalError:
            self.dismiss(None)
