"""Errors the domain operations raise, each with a message written for the person at the keyboard."""

from __future__ import annotations


class PortalError(Exception):
    """A refusal or failure the user can act on; `str(error)` is one line that names the problem."""


class NotFound(PortalError):
    """The contact, domain, link or template asked for does not exist."""


class InvalidInput(PortalError):
    """A value (email, domain, CSV, template) was malformed; nothing was changed."""


class DatabaseBusy(PortalError):
    """Another admin held the write lock for longer than we were willing to wait."""


class RedeemFailed(PortalError):
    """A magic link could not be used. `reason` is one of `RedeemFailed.REASONS`."""

    REASONS = ("unknown", "expired", "revoked", "used", "superseded", "malformed")

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class DiskFull(PortalError):
    """A write failed because the disk (or the database's size limit) is full; the transaction was undone."""

    MESSAGE = "the disk is full (or the database reached its size limit): nothing was saved; free space and try again"

    def __init__(self, message: str = MESSAGE) -> None:
        super().__init__(message)
