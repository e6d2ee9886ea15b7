"""Copy a magic link for the highlighted contact: a fresh login link, shown with its expiry, copied, and drawn as
a QR code for a client who sits next to staff with a phone.

The token is never stored (only its hash), so a link can only be shown at the moment it is made: opening this
modal issues a new login link of the `shown` channel. It supersedes only the login link last shown or copied
for this contact; a link the contact was emailed keeps working (`models.links`). `r` revokes this link alone.

A revoked contact gets no link (`models.links` refuses one): the box says so and how to give access back, and
offers no key that could not work. The QR code goes beside the text, or under it, where the terminal has room;
otherwise a line says how large the terminal must be, and `f` shows the code alone on the whole screen.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Horizontal, Middle, Vertical
from textual.geometry import Size
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import LoadingIndicator, Static

from models import contacts, links
from models.contacts import ContactRow
from models.db import database
from models.states import CHANNEL_SHOWN, PURPOSE_LOGIN, STATUS_NOT_INVITED, STATUS_REVOKED
from models.errors import PortalError
from tui.messages import DataChanged
from tui.screens.dialog import Dialog
from tui.text import join, literal, when
from tui.widgets.qr_code import QrCode, qr_size

DIALOG_CHROME = Size(4, 3)
"""Cells the box takes around its body: border and padding across; border and the footer down."""

TEXT_MIN_WIDTH = 32
"""The narrowest text column worth having beside the code (the link folds into three lines of it)."""

TEXT_BESIDE_WIDTH = 44
"""The text column beside the code when the terminal has room (the box widens to hold both)."""

TEXT_UNDER_ROWS = 10
"""Rows the text takes above a code drawn under it (name, link box, expiry, status)."""


def qr_placement(terminal: Size, code: Size) -> str:
    """Where the code fits in a terminal this size: `beside` the text, `under` it, or `none`."""
    if terminal.width >= beside_size(code).width and terminal.height >= beside_size(code).height:
        return "beside"
    if terminal.width >= code.width + DIALOG_CHROME.width and terminal.height >= under_height(code):
        return "under"
    return "none"


def beside_size(code: Size) -> Size:
    """The smallest terminal that shows the code beside the text."""
    return Size(DIALOG_CHROME.width + TEXT_MIN_WIDTH + 1 + code.width, DIALOG_CHROME.height + code.height)


def under_height(code: Size) -> int:
    """The lowest terminal that shows the code under the text."""
    return DIALOG_CHROME.height + TEXT_UNDER_ROWS + code.height


class MagicLinkScreen(Dialog[str]):
    """A new login link for one contact; enter closes, `c` copies again, `r` revokes it, `f` shows the QR code."""

    TITLE_TEXT = "Magic link"
    BINDINGS = [
        Binding("enter", "done", "Done", priority=True),
        Binding("c", "copy", "Copy again"),
        Binding("r", "revoke", "Revoke link"),
        Binding("f", "qr_full_screen", "QR full screen"),
    ]

    DEFAULT_CSS = """
    MagicLinkScreen #link-layout {
        height: auto;
    }
    MagicLinkScreen #link-text {
        height: auto;
    }
    MagicLinkScreen #link-layout.beside #link-text {
        width: 1fr;
        margin-right: 1;
    }
    MagicLinkScreen #link-layout.under {
        layout: vertical;
    }
    """

    class Outcome(Message):
        """A worker issued or revoked the link, found the contact revoked, or failed."""

        def __init__(self, link: links.IssuedLink | None = None, revoked: int | None = None, error: str = "",
                     refused: ContactRow | None = None) -> None:
            super().__init__()
            self.link = link
            self.revoked = revoked
            self.error = error
            self.refused = refused
            """The contact as the database has it now, when their access is revoked (no link for them)."""

    def __init__(self, contact: ContactRow) -> None:
        super().__init__()
        self.contact = contact
        """Whom the link is for."""
        self.link: links.IssuedLink | None = None
        """The link once issued."""
        self.revoked = False
        """The link was revoked here."""
        self.settled = False
        """The worker has answered: from now on a key that has no link to act on is hidden, not dimmed."""
        self.revoke_armed = False
        """`r` was pressed once: the next `r` revokes, any other key keeps the link (it may be pasted already)."""

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="link-layout"):
            with Vertical(id="link-text"):
                yield Static(
                    join("Login link for ", (self.contact.full_name or self.contact.email, "bold"), " <",
                         (self.contact.email, ""), ">"),
                    id="who",
                )
                yield LoadingIndicator(id="issuing")
                yield Static("", id="url", classes="box value")
                yield Static("", id="expiry", classes="hint")
                yield Static("", id="status", classes="hint")
                yield Static("", id="qr-hint", classes="hint")

    def on_mount(self) -> None:
        for widget_id in ("url", "qr-hint"):
            self.query_one(f"#{widget_id}").display = False
        self._issue()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _issue(self) -> None:
        try:
            with database.connection_context():
                # Read afresh: the row in the table may predate a revoke or a new invitation.
                now = contacts.get_contact(self.contact.id)
                if now.status == STATUS_REVOKED:
                    self.post_message(self.Outcome(refused=now))
                    return
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
        self.settled = True
        self.query_one("#issuing").display = False
        if message.error:
            self.say("status", message.error, "problem")
        elif message.refused is not None:
            self._say_refused(message.refused)
        elif message.link is not None:
            self._show_link(message.link)
        elif message.revoked is not None:
            self.revoked = True
            self.say("status", "Revoked: this link no longer works (emailed links are untouched).", "problem")
            self.query_one("#url", Static).update(Text(self.link.url if self.link else "", style="strike"))
            # A code left on screen would still be scanned: it goes with the link.
            self.query("#qr").remove()
            self.query_one("#qr-hint").display = False
            self.query_one("#link-layout").set_classes("")
            self.notify_plain(f"Revoked the login link shown for {self.contact.email}")
            self.app.post_message(DataChanged("revoke-link"))
        self.refresh_bindings()

    def _show_link(self, link: links.IssuedLink) -> None:
        self.link = link
        url = self.query_one("#url", Static)
        url.display = True
        url.update(literal(link.url, overflow="fold"))
        expiry = (f"Single use; expires {when(link.expires_at)} UTC. It replaces the login link last shown here; "
                  "a link sent by email keeps working.")
        if self.contact.status == STATUS_NOT_INVITED:
            expiry += " They had not been invited: this link is their invitation (now: invited)."
        self.say("expiry", expiry, "hint")
        self.query_one("#link-layout").mount(QrCode(link.url, id="qr"))
        self._place_qr()
        self.action_copy()
        self.app.post_message(DataChanged("magic-link"))

    def _say_refused(self, contact: ContactRow) -> None:
        revoked = f" on {when(contact.revoked_at)} UTC" if contact.revoked_at else ""
        self.say(
            "status",
            f"No link: this contact's portal access was revoked{revoked}, so a login link would not work. To give "
            "access back, invite them again: close this (escape) and press i on the dashboard.",
            "problem",
        )

    def on_resize(self) -> None:
        self._place_qr()

    def _place_qr(self) -> None:
        """Put the code beside or under the text, or say how large the terminal must be for it."""
        codes = self.query(QrCode)
        if not codes:
            return
        code = codes.first()
        size = qr_size(code.data)
        placement = qr_placement(self.app.size, size)
        layout = self.query_one("#link-layout")
        layout.set_classes(placement)
        code.display = placement != "none"
        box = self.query_one("#dialog")
        # The box widens to hold the code beside the text (it stays 84 wide otherwise, as every dialog).
        box.styles.width = (DIALOG_CHROME.width + TEXT_BESIDE_WIDTH + 1 + size.width) if placement == "beside" \
            else None
        hint = self.query_one("#qr-hint", Static)
        hint.display = placement == "none"
        if placement == "none":
            # Only the dimension that falls short grows: a wide but low terminal is told a height.
            least = beside_size(size)
            need = Size(max(least.width, self.app.size.width), max(least.height, self.app.size.height))
            hint.update(Text(f"Enlarge the terminal to {need.width}x{need.height} to show the QR code here, "
                             "or press f to show it alone.", end=""))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("copy", "revoke", "qr_full_screen"):
            if self.link is not None and not self.revoked:
                return True
            # Dimmed while the link is being made; hidden once it is clear there is none to act on.
            return False if self.settled else None
        return True

    def on_key(self, event) -> None:
        if self.revoke_armed and event.key != "r":
            self._disarm()
            self.say("status", "Kept: the link still works.", "hint")

    def _disarm(self) -> None:
        self.revoke_armed = False
        self.refresh_bindings()

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
        if not any(code.display for code in self.query(QrCode)):
            # Beside a code the box's line says it: a toast would cover the code while a phone scans it.
            self.notify_plain(f"Copied a magic link for {self.contact.email}")

    def action_revoke(self) -> None:
        """Revoke the link just made, and only it (the contact keeps their access and any emailed link). The first
        `r` asks, the second revokes: a link already copied may be in a client's hands, and revoking cannot be
        undone."""
        if self.link is None or self.revoked:
            return
        if not self.revoke_armed:
            self.revoke_armed = True
            self.say("status", "Press r again to revoke this link: whoever has it can no longer sign in with it. "
                     "Any other key keeps it.", "problem")
            self.refresh_bindings()
            return
        self._disarm()
        self._revoke(self.link)

    def action_qr_full_screen(self) -> None:
        """Show the QR code alone, as large as the terminal allows a scanner to read it."""
        if self.link is not None and not self.revoked:
            self.app.push_screen(QrCodeScreen(self.link.url))

    def action_done(self) -> None:
        self.dismiss(self.link.url if self.link and not self.revoked else None)


class QrCodeScreen(ModalScreen[None]):
    """The QR code of a link alone on the screen; any of escape, enter, f or q goes back."""

    DEFAULT_CSS = """
    QrCodeScreen {
        background: $background;
        align: center middle;
    }
    QrCodeScreen #qr-alone-hint {
        width: 100%;
        text-align: center;
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "back", "Back", show=False),
        Binding("f", "back", "Back", show=False),
        Binding("q", "back", "Back", show=False),
    ]

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        """What the code encodes."""

    def compose(self) -> ComposeResult:
        with Middle():
            with Center():
                yield QrCode(self.url, id="qr")
            yield Static("", id="qr-alone-hint")

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        size = qr_size(self.url)
        terminal = self.app.size
        fits = terminal.width >= size.width and terminal.height >= size.height
        self.query_one(QrCode).display = fits
        hint = self.query_one("#qr-alone-hint", Static)
        # The line goes under the code only where it leaves the code whole.
        hint.display = not fits or terminal.height > size.height
        if fits:
            hint.update(Text("Scan with a phone's camera · escape goes back", end=""))
        else:
            hint.update(Text(f"Enlarge the terminal to {size.width}x{size.height} to show the QR code · escape "
                             "goes back", end=""))

    def action_back(self) -> None:
        self.dismiss(None)
