"""Invite again every contact whose invitation link lapsed: plan, preview, confirm, progress, summary.

Opening the modal asks `models.portal.plan_resend_expired` who would get a new invitation and who would be
skipped and why (nothing is queued yet: the real operation, rolled back) and renders the invitation for the first
of them. Enter runs `models.portal.resend_expired` (one transaction) and sends the batch with a progress bar;
escape cancels the send, and the summary lists what failed and why. The stages are `tui.screens.planned_send`'s.
"""

from __future__ import annotations

from rich.text import Text

from models import portal
from models.portal import InviteResult
from tui.screens.planned_send import PlannedSendScreen
from tui.text import plural


class ResendExpiredScreen(PlannedSendScreen):
    """Confirm and send a new invitation to every contact whose invitation link lapsed."""

    TITLE_TEXT = "Resend expired invitations"
    KIND = "invite"
    NOUN = "invitation"
    CHANGED = "invite"
    NOTIFY_TITLE = "Resend expired invitations"
    NOTHING_QUEUED = "Nothing was queued (everyone was skipped, or no link has lapsed now)."

    def first_line(self) -> str:
        return "Finding the invitations whose link lapsed…"

    def make_plan(self) -> InviteResult:
        return portal.plan_resend_expired()

    def make_queue(self) -> InviteResult:
        return portal.resend_expired()

    def headline(self, plan: InviteResult) -> Text:
        head = Text(end="")
        if plan.invited or plan.skipped:
            head.append(f"{plural(len(plan.invited), 'new invitation')}", style="bold")
            head.append(" for contacts whose invitation link lapsed")
            if plan.skipped:
                head.append(f", {len(plan.skipped):,} skipped:")
        else:
            head.append("No invitation link has lapsed.", style="bold")
        return head
