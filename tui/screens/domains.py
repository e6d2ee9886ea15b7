"""Domains: the default one (invitations are sent from it) and custom ones; the selected one builds the URL.

Type a host name and press enter to add it; tab to the list and press enter on one to build links and the
portal URL from it (`x` goes back to the default, `f` makes it the default, `d` removes it after a confirmation
that says which links change). The URL at the top follows. Every change runs by `Dialog.run_operation`.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from models import domains
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
        Binding("d,delete", "remove", "Remove", tooltip="Remove the highlighted domain (asks first)"),
    ]

    DEFAULT_CSS = """
    DomainsScreen OptionList {
        height: auto;
        max-height: 8;
        margin-top: 1;
    }
    """

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
        if action in ("use_default", "make_default", "remove") and isinstance(self.focused, Input):
            return None  # these letters type into the box: they are offered once the list has the focus
        if action == "use_default":
            return True if any(row.is_selected for row in self.rows) else None
        if action == "remove":
            return True if self._highlighted() is not None else None
        if action == "make_default":
            row = self._highlighted()
            return True if row is not None and not row.is_default else None
        return True

    @on(OptionList.OptionHighlighted)
    def _moved(self) -> None:
        self.refresh_bindings()

    def action_remove(self) -> None:
        """Ask, then remove the highlighted domain (the default one only when it is the last)."""
        row = self._highlighted()
        if row is None:
            return
        if row.is_default and len(self.rows) > 1:
            self.say("outcome", f"{row.name} is the default domain (mail is sent from it): make another one the "
                     "default first (f on it), then remove this one.", "problem")
            return
        self.app.push_screen(RemoveDomainScreen(row, self.rows), self._confirmed_remove)

    def _confirmed_remove(self, name: str | None) -> None:
        if name is not None:
            self._start("remove", name)

    def _start(self, what: str, name: str | None) -> None:
        """Add, select, make default or remove in a worker; keys typed meanwhile wait for the list it reloads."""
        self.run_operation(_change, what, name, done=lambda message: self._done(what, message), hold_keys=True)

    def _done(self, what: str, message: str) -> None:
        if what == "add":
            self.query_one("#new-domain", Input).value = ""
        self.say("outcome", message, "good")
        self.notify_plain(message, title="Domains")
        self._reload()
        self.app.post_message(DataChanged("domains"))

    def action_close(self) -> None:
        try:
            self.dismiss(domains.portal_url())
        except PortalError:
            self.dismiss(None)


def _change(what: str, name: str | None) -> str:
    """Do one change to the domains (in a worker); returns what was done, in words."""
    if what == "add":
        row = domains.add_domain(name)
        return f"Added {row.name}" + (" (the default)" if row.is_default else "")
    if what == "select":
        domains.select_domain(name)
        return f"Links now use {name}" if name else "Links use the default domain again"
    if what == "remove":
        domains.remove_domain(name)
        return f"Removed {name}"
    domains.set_default(name)
    return f"Invitations are now sent from {name}"


def removal_effects(row: DomainRow, rows: list[DomainRow]) -> list[str]:
    """What removing `row` changes, in words (one line each), given every domain `rows`."""
    default = next((r.name for r in rows if r.is_default and r.name != row.name), None)
    others = [r for r in rows if r.name != row.name]
    if not others:
        return [
            "No domain is left: there is no portal URL, and no magic link or invitation can be made until you "
            "add one.",
            f"Links already sent keep {row.name} in them: they work as long as {row.name} still reaches the "
            "portal service.",
        ]
    effects = []
    if row.is_selected:
        effects.append(f"New links and the portal URL use the default domain, {default}, instead of {row.name}.")
    else:
        using = next((r.name for r in others if r.is_selected), default)
        effects.append(f"New links and the portal URL do not change: they use {using}.")
    effects.append(f"Links already sent keep {row.name} in them: they work as long as {row.name} still reaches "
                   "the portal service.")
    return effects


class RemoveDomainScreen(Dialog[str]):
    """Confirm removing a domain, saying which links change; enter removes (dismisses with its name)."""

    TITLE_TEXT = "Remove domain"
    BINDINGS = [Binding("enter", "confirm", "Remove", priority=True)]

    def __init__(self, row: DomainRow, rows: list[DomainRow]) -> None:
        super().__init__()
        self.row = row
        self.rows = rows

    def compose_body(self) -> ComposeResult:
        yield Static(join("Remove ", (self.row.name, "bold"), "?"), classes="field-label")
        effects = Table.grid(padding=(0, 1))
        effects.add_column(width=3, justify="right")
        effects.add_column(ratio=1)
        for effect in removal_effects(self.row, self.rows):
            effects.add_row("–", Text(visible(effect)))
        yield Static(Group(Text("What changes:"), effects, Text("Adding it again undoes this.", style="dim")),
                     classes="box")
        yield Static("enter removes · escape keeps it", classes="hint")

    def action_confirm(self) -> None:
        self.dismiss(self.row.name)
