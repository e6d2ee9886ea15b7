"""Revoke portal access: one contact (the highlighted one, or from the contact's own view) or the selection.

The box first counts, in a worker, what would stop working (`models.links.plan_revoke`): their open links, their
queued mail, and that they can no longer sign in; it names how many contacts and how to undo it (invite them
again). Enter revokes, in a worker (`Dialog.run_operation`); a `PortalError` is shown in the box, which stays
open. Escape keeps everyone's access.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from models import links
from models.contacts import ContactRow
from models.errors import PortalError
from tui.messages import DataChanged
from tui.screens.dialog import Dialog
from tui.text import join, plural, visible


class RevokeScreen(Dialog[int]):
    """Confirm ending some contacts' access, saying what stops working, then end it; dismisses with how many
    contacts were revoked (None when nothing was done)."""

    TITLE_TEXT = "Revoke portal access"
    BINDINGS = [Binding("enter", "confirm", "Revoke access", priority=True)]

    DEFAULT_CSS = """
    RevokeScreen .box {
        padding: 0 1;
    }
    """

    def __init__(self, contact_ids: list[int], contact: ContactRow | None = None) -> None:
        """
        Args:
            contact_ids: whose access to end.
            contact: the one contact, when there is one, to name them (their address is not read again).
        """
        super().__init__()
        self.contact_ids = sorted(set(contact_ids))
        self.contact = contact if len(self.contact_ids) == 1 else None
        self.plan: links.RevokePlan | None = None
        """What revoking would do, once counted."""
        self.revoking = False

    def compose_body(self) -> ComposeResult:
        yield Static(self._question(None), id="question", classes="field-label")
        yield Static(Text("Counting their open links and queued mail…", end=""), id="effects", classes="box")
        yield Static("", id="outcome", classes="hint")

    def on_mount(self) -> None:
        self.run_operation(links.plan_revoke, self.contact_ids, done=self._planned, failed=self._failed)

    def _question(self, plan: links.RevokePlan | None) -> Text:
        row = self.contact
        if row is not None:
            return join("End ", (row.full_name or row.email, "bold"), " <", (row.email, ""),
                        ">'s access to the portal?")
        count = plan.contacts if plan is not None else len(self.contact_ids)
        text = Text(f"End the portal access of {plural(count, 'contact')}", end="", style="bold")
        if plan is not None and plan.sample:
            names = ", ".join(visible(email) for email in plan.sample)
            more = count - len(plan.sample)
            text.append(f" ({names}{f' and {more:,} more' if more > 0 else ''})", style="")
        text.append("?")
        return text

    def _planned(self, plan: links.RevokePlan) -> None:
        self.plan = plan
        self.say("question", self._question(plan))
        text = Text(end="")
        if plan.contacts == 0:
            if plan.already_revoked:
                text.append(("This contact's access is" if plan.already_revoked == 1 else
                             f"The access of all {plural(plan.already_revoked, 'contact')} is")
                            + " already revoked: nothing to do.\n")
            if plan.missing:
                text.append(f"{plural(plan.missing, 'contact')} no longer "
                            f"{'exists' if plan.missing == 1 else 'exist'} (deleted elsewhere).\n")
            text.append("Inviting them again gives their access back.", style="dim")
            self.say("effects", text, "box")
            self.say("outcome", "enter or escape closes", "hint")
            self.refresh_bindings()
            return
        lines: list[tuple[str, str]] = []
        n = plan.open_links
        lines.append(("–", f"{plural(n, 'open link')} (invitation or login) {'stops' if n == 1 else 'stop'} "
                           "working (revoked)" if n else "no link of theirs is open now"))
        n = plan.queued_messages
        lines.append(("–", f"{plural(n, 'queued email')} will not be sent (skipped)"
                           if n else "no email to them is waiting to be sent"))
        lines.append(("–", "they can no longer sign in, nor ask for a new login link"))
        if plan.already_revoked:
            lines.append(("", f"({plural(plan.already_revoked, 'contact')} already revoked "
                              f"{'is' if plan.already_revoked == 1 else 'are'} left as they are)"))
        if plan.missing:
            lines.append(("", f"({plural(plan.missing, 'contact')} deleted elsewhere "
                              f"{'is' if plan.missing == 1 else 'are'} left out)"))
        effects = Table.grid(padding=(0, 1))
        effects.add_column(width=3, justify="right")
        effects.add_column(ratio=1)
        for mark, words in lines:
            effects.add_row(Text(mark), Text(words))
        text = Group(Text("What stops working at once:"), effects,
                     Text("To undo: invite them again (i), which gives their access back.", style="dim"))
        self.query_one("#effects", Static).update(text)
        whom = "their access" if self.contact is not None else f"the access of {plural(plan.contacts, 'contact')}"
        self.say("outcome", f"enter revokes {whom} · escape keeps it", "hint")
        self.refresh_bindings()

    def _failed(self, error: PortalError) -> None:
        self.revoking = False
        self.say("outcome", "✗ Not revoked: " + str(error), "problem")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            if self.plan is not None and self.plan.contacts == 0:
                return True  # closes
            return True if self.plan is not None and not self.revoking else False
        return True

    def action_confirm(self) -> None:
        """Revoke (once counted); with nobody to revoke, close."""
        if self.plan is None or self.revoking:
            return
        if self.plan.contacts == 0:
            self.dismiss(None)
            return
        self.revoking = True
        self.say("outcome", "Revoking…", "hint")
        self.refresh_bindings()
        self.run_operation(links.revoke_access_many, self.contact_ids, done=self._revoked, failed=self._failed,
                           hold_keys=True)

    def _revoked(self, result: links.RevokeResult) -> None:
        if self.contact is not None and result.revoked == 1:
            said = f"Revoked {self.contact.email}'s portal access"
        else:
            said = f"Revoked the portal access of {plural(result.revoked, 'contact')}"
        if result.links:
            said += f" ({plural(result.links, 'open link')} revoked)"
        self.notify_plain(said)
        self.app.post_message(DataChanged("revoke"))
        self.dismiss(result.revoked)
