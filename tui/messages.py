"""Messages that cross screens: what a modal or a worker tells the dashboard when it changed the database.

Widget-local messages (a window of rows arrived, a send made progress) live on the widget that posts them;
only the ones several screens post or handle are here.
"""

from __future__ import annotations

from textual.message import Message


class DataChanged(Message):
    """Something this dashboard did wrote to the database: the header and the table should be read again.

    Changes made by other processes are found by polling the change token (`models.db.changes_token`); this
    message makes our own changes show at once instead of on the next poll.
    """

    def __init__(self, reason: str = "") -> None:
        super().__init__()
        self.reason = reason
        """What changed, for logs and tests (`"invite"`, `"import"`...)."""
