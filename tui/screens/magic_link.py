"""Copy a magic link for the highlighted contact: a fresh login link, shown with its expiry and copied.

The token is never stored (only its hash), so a link can only be shown at the moment it is made: opening this
modal issues a new login link of the `shown` channel. It supersedes only the login link last shown or copied
for this contact; a link the contact was emailed keeps working (`models.links`). `r` revokes this link alone.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import LoadingIndicator, Static

from models import links
from models.contacts import ContactRow
from models.db import database
from models.entities import CHANNEL_SHOWN, PURPOSE_LOGIN
from models.errors import PortalError
from tui.messages import DataChanged
from tui.screens.dialog import Dialog
from tui.text import join, literal, when


class MagicLinkScreen(Dialog[str]):
    """A new login link for one contact; enter closes, `c` copies again, `r` revokes it."""

    TITLE_TEXT = "Magic link"
    BINDINGS = [
        Binding("enter", "done", "Done", priority=True),
        Binding("c", "copy", "Copy again"),
        Binding("r", "revoke", "Revoke link"),
    ]

    class Outcome(Message):
        """A worker issued or revoked the link (or failed to)."""

        def __init__(self, link: links.IssuedLink | None = None, revoked: int | None = None, error: str = "") -> None:
            super().__init__()
            self.link = link
            self.revoked = revoked
            self.error = error

    def __init__(self, contact: ContactRow) -> None:
        super().__init__()
        self.contact = contact
        """Whom the link is for."""
        self.link: links.IssuedLink | None = None
        """The link once issued."""
        self.revoked = False

    def compose_body(self) -> ComposeResult:
        yield Static(
            join("Login link for ", (self.contact.full_name or self.contact.email, "bold"), " <",
                 (self.contact.email, ""), ">"),
            id="who",
        )
        yield LoadingIndicator(id="issuing")
        yield Static("", id="url", classes="box value")
        yield Static("", id="expiry", classes="hint")
        yield Static("", id="status", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#url").display = False
        self._issue()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _issue(self) -> None:
        try:
            with database.connection_context():
                link = links.issue_link(self.contact.id, PURPOSE_LOGIN, CHANNEL_SHOWN)
        except PortalError as exc:
            self.post_message(self.Outcome(error=str(exc)))
            return
        self.post_message(self.Outcome(link=link))

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _revoke(self, link: links.IssuedLink) -> None:
        try:
            with database.connection_context():
                count = links.revoke_issued(link)
        except PortalError as exc:
            self.post_message(self.Outcome(error=str(exc)))
            return
        self.post_message(self.Outcome(revoked=count))

    @on(Outcome)
    def _outcome(self, message: Outcome) -> None:
        self.query_one("#issuing").display = False
        if message.error:
            self.say("status", message.error, "problem")
        elif message.link is not None:
            self.link = message.link
            url = self.query_one("#url", Static)
            url.display = True
            url.update(literal(message.link.url, overflow="fold"))
            self.say(
                "expiry",
                f"Single use; expires {when(message.link.expires_at)} UTC. It replaces the login link last shown "
                "here; a link sent by email keeps working.",
                "hint",
            )
            self.action_copy()
            self.app.post_message(DataChanged("magic-link"))
        elif message.revoked is not None:
            self.revoked = True
            self.say("status", "Revoked: this link no longer works (emailed links are untouched).", "problem")
            self.query_one("#url", Static).update(Text(self.link.url if self.link else "", style="strike"))
            self.notify_plain(f"Revoked the login link shown for {self.contact.email}")
            self.app.post_message(DataChanged("revoke-link"))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("copy", "revoke"):
            return True if self.link is not None and not self.revoked else None
        return True

    def action_copy(self) -> None:
        """Copy the link and say where it went."""
        if self.link is None:
            return
        where = self.app.copy_text(self.link.url)
        if where is None:
            self.say("status", "Not copied: this browser page may not use the clipboard (only https and localhost "
                     "pages may). "
                     "Select the link above to copy it.", "problem")
            return
        self.say("status", f"Copied {where}. You can also select the link above by hand.", "good")
        self.notify_plain(f"Copied a magic link for {self.contact.email}")

    def action_revoke(self) -> None:
        """Revoke the link just made, and only it (the contact keeps their access and any emailed link)."""
        if self.link is not None and not self.revoked:
            self._revoke(self.link)

    def action_done(self) -> None:
        self.dismiss(self.link.url if self.link and not self.revoked else None)
