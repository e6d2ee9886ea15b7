"""The time as the domain sees it: UTC, and replaceable so tests can move it (expiry, backoff)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

_now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)


def now() -> datetime:
    """The current time, timezone-aware UTC, truncated to the microsecond SQLite keeps."""
    return _now()


def set_clock(func: Callable[[], datetime] | None) -> None:
    """Replace the clock (`None` restores the real one)."""
    global _now
    _now = func if func is not None else (lambda: datetime.now(timezone.utc))


@contextmanager
def frozen(at: datetime) -> Iterator[list[datetime]]:
    """Freeze the clock at `at`; the yielded one-item list can be changed to move time. Afterwards the clock is
    what it was before (a freeze inside another one gives the outer one back, not the real clock)."""
    global _now
    previous = _now
    cell = [at]
    set_clock(lambda: cell[0])
    try:
        yield cell
    finally:
        _now = previous
