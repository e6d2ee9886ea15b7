"""Messages that cross screens: what a modal or a worker tells the dashboard when it changed the database.

Widget-local messages (a window of rows arrived, a send made progress) live on the widget that posts them;
only the ones several screens post or handle are here.
"""

from __future__ import annotations

from textual.message import Message


class DataChanged(Message):
    """Something this dashboard did wrote to the database: the header and the table should be read again.

    Changes made by other connections come from the app's change waiter (`tui.change_waiter`); this message makes
    our own changes show at once, without waiting for it.
    """

    def __init__(self, reason: str = "") -> None:
        super().__init__()
        self.reason = reason
        """What changed, for logs and tests (`"invite"`, `"import"`...)."""
