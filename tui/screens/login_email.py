"""Send login emails to the selection (or the highlighted contact): plan, preview, confirm, progress, summary.

Opening the modal asks `models.portal.plan_login_emails` who would get one and who would be skipped and why
(nothing is queued yet) and renders the email for the first recipient. Enter queues the batch
(`models.outbox.queue_login_emails`) and sends it with a progress bar; escape cancels the send, and the
summary lists what failed and why. The stages are `tui.screens.planned_send`'s.
"""

from __future__ import annotations

from pathlib import Path

from models import outbox, portal
from models.outbox import QueueResult
from tui.screens.planned_send import MAX_SKIPPED_SHOWN, PlannedSendScreen, skipped_text
from tui.text import plural

__all__ = ["MAX_SKIPPED_SHOWN", "LoginEmailScreen", "skipped_text"]


class LoginEmailScreen(PlannedSendScreen):
    """Confirm and send a batch of login emails."""

    TITLE_TEXT = "Send login email"

    def __init__(self, data_dir: Path, contact_ids: list[int]) -> None:
        super().__init__(data_dir)
        self.contact_ids = contact_ids
        """Whom to send to (the selection, or the highlighted contact)."""

    def first_line(self) -> str:
        return f"Login email to {plural(len(self.contact_ids), 'contact')}…"

    def make_plan(self) -> QueueResult:
        return portal.plan_login_emails(self.contact_ids)

    def make_queue(self) -> QueueResult:
        return outbox.queue_login_emails(self.contact_ids)
