"""The outbox sender's heartbeat: when a long-running sender (`serve`, `outbox send --watch`) last looked at the
queue, so the dashboard can say "no sender running" while mail waits.

It is one row in the `setting` table (not a setting in `settings.SPECS`: nobody sets it), written at most every
`BEAT_SECONDS`: each write moves the change token (`models.db.changes_token`), which makes every open dashboard refresh.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from models import clock
from models.db import database, sender_transaction
from models.entities import Setting

KEY = "sender_heartbeat"

BEAT_SECONDS = 30.0
"""How often a running sender records that it is alive."""

STALE_AFTER = timedelta(seconds=BEAT_SECONDS * 3)
"""A heartbeat older than this means no sender is running."""


@sender_transaction
def beat(sender: str) -> None:
    """Record that `sender` (host:pid) is running now."""
    Setting.insert(key=KEY, value=f"{clock.now().isoformat()} {sender}").on_conflict_replace().execute()


def last_beat() -> tuple[datetime, str] | None:
    """When a sender last recorded that it runs, and which one; None if none ever did."""
    row = database.execute_sql('SELECT "value" FROM "setting" WHERE "key" = ?', (KEY,)).fetchone()
    if row is None:
        return None
    when, _, sender = row[0].partition(" ")
    try:
        return datetime.fromisoformat(when), sender
    except ValueError:
        return None


def sender_running(now: datetime | None = None) -> bool:
    """Whether a sender recorded a heartbeat recently enough to count as running."""
    last = last_beat()
    return last is not None and (now or clock.now()) - last[0] < STALE_AFTER
