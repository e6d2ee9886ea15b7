"""The tables: one Peewee model each. Domain logic lives in the modules named after what it does.

Portal access (status and its timestamps) is kept on the contact row rather than in a 1:1 table: the dashboard
filters and sorts 100k+ contacts by status, invited at and last login, and single-table indexes serve that
without a join.
"""

from __future__ import annotations

import peewee

from models.base import BaseModel, UTCDateTimeField

STATUS_NOT_INVITED = "not_invited"
STATUS_INVITED = "invited"
STATUS_JOINED = "joined"
STATUS_REVOKED = "revoked"
STATUSES = (STATUS_NOT_INVITED, STATUS_INVITED, STATUS_JOINED, STATUS_REVOKED)
"""Every portal status a contact can be in, in the order a person reads them."""

STATUS_LABELS = {
    STATUS_NOT_INVITED: "not invited",
    STATUS_INVITED: "invited",
    STATUS_JOINED: "joined",
    STATUS_REVOKED: "revoked",
}

PURPOSE_INVITE = "invite"
PURPOSE_LOGIN = "login"
PURPOSES = (PURPOSE_INVITE, PURPOSE_LOGIN)

CHANNEL_EMAIL = "email"
CHANNEL_SHOWN = "shown"
CHANNELS = (CHANNEL_EMAIL, CHANNEL_SHOWN)
"""How a link reached its holder: in an email the outbox sent, or shown to an admin (copied in the dashboard,
printed by `client-portal magic-link`). A new link supersedes only older links of its own channel (schema v6): a
link an admin looks at never kills the one in the email the contact is about to click."""

DELIVERY_QUEUED = "queued"
DELIVERY_SENT = "sent"
DELIVERY_FAILED = "failed"
DELIVERY_NO_MAIL = "no_mail"
DELIVERY_STATES = (DELIVERY_QUEUED, DELIVERY_SENT, DELIVERY_FAILED, DELIVERY_NO_MAIL)
"""Where an invited contact's invitation email is: waiting in the outbox (or deferred by the server, waiting for
its retry), accepted by the server, failed for good, or none at all (the contact holds a link an admin showed
them). A contact invited by a login email (sent to a contact not invited yet) has that email's state. Stored as
`Contact.invite_delivery`, where `no_mail` is NULL."""

DELIVERY_LABELS = {
    DELIVERY_QUEUED: "queued",
    DELIVERY_SENT: "sent",
    DELIVERY_FAILED: "failed",
    DELIVERY_NO_MAIL: "no mail",
}


def search_text(first_name: str, last_name: str, email: str, company: str) -> str:
    """What `Contact.search_text` holds (every engine's triggers compute the same): for bulk inserts that fill it
    themselves."""
    return f"{first_name} {last_name} {email} {company}"


class Contact(BaseModel):
    """A person the agency works with, and their access to the portal."""

    email = peewee.CharField(unique=True)
    """Normalised address (trimmed, lower case, domain in IDNA ASCII); the identity of the contact."""
    first_name = peewee.CharField(default="")
    last_name = peewee.CharField(default="")
    phone = peewee.CharField(default="")
    company = peewee.CharField(default="")
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()

    status = peewee.CharField(default=STATUS_NOT_INVITED, index=True)
    """One of `STATUSES`."""
    invited_at = UTCDateTimeField(null=True, index=True)
    invited_by = peewee.CharField(null=True)
    invite_count = peewee.IntegerField(default=0)
    joined_at = UTCDateTimeField(null=True)
    last_login_at = UTCDateTimeField(null=True, index=True)
    revoked_at = UTCDateTimeField(null=True)
    revoked_by = peewee.CharField(null=True)
    invite_expires_at = UTCDateTimeField(null=True)
    """When the contact's current invitation link lapses (None: no link yet, e.g. still queued). Kept here, not
    only on the link, so "expired invitations" is one index range count (schema v3)."""
    search_text = peewee.TextField(default="")
    """Names, email and company in one column for search; kept current by triggers (schema v2)."""
    invite_delivery = peewee.CharField(null=True)
    """The state of the contact's latest invitation email (or, never sent one, their latest login email):
    `queued`, `sent`, `failed`, or NULL for none (`DELIVERY_STATES`). Kept by triggers on the outbox (schema v6),
    in the transaction that queues the email or records its outcome, so the table and the header read it from the
    contact row, without a join."""

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class Domain(BaseModel):
    """A host name the portal answers on. One is the default (mail is sent from it); one may be selected."""

    name = peewee.CharField(unique=True)
    """Lower-case host name in IDNA ASCII form, no scheme, no path."""
    is_default = peewee.BooleanField(default=False)
    is_selected = peewee.BooleanField(default=False)
    created_at = UTCDateTimeField()


class MagicLink(BaseModel):
    """A password-less login link. Only the SHA-256 of its token is kept; the token itself is shown once."""

    contact = peewee.ForeignKeyField(Contact, backref="links", on_delete="CASCADE")
    purpose = peewee.CharField()
    """`invite` or `login`; a new link supersedes the contact's older open link of the same purpose."""
    token_hash = peewee.CharField(unique=True)
    created_at = UTCDateTimeField()
    created_by = peewee.CharField()
    expires_at = UTCDateTimeField(index=True)
    used_at = UTCDateTimeField(null=True)
    revoked_at = UTCDateTimeField(null=True)
    superseded_at = UTCDateTimeField(null=True)
    channel = peewee.CharField(default=CHANNEL_EMAIL, constraints=[peewee.SQL(f"DEFAULT '{CHANNEL_EMAIL}'")])
    """`email` or `shown` (`CHANNELS`). Links made before schema v6 count as emailed: one of them may be in a
    mailbox, and a link shown later must not end it."""

    class Meta:
        indexes = ((("contact", "purpose"), False),)


class AuditEntry(BaseModel):
    """One thing someone did: who (OS user, SSH host), what, to whom, when."""

    at = UTCDateTimeField(index=True)
    actor = peewee.CharField()
    host = peewee.CharField(null=True)
    action = peewee.CharField()
    contact = peewee.ForeignKeyField(Contact, null=True, backref="audit", on_delete="SET NULL")
    subject = peewee.CharField(default="")
    """What the action was about, as text that survives the contact being deleted (usually the email)."""
    detail = peewee.TextField(default="")


OUTBOX_QUEUED = "queued"
OUTBOX_SENDING = "sending"
OUTBOX_SENT = "sent"
OUTBOX_FAILED = "failed"
OUTBOX_SKIPPED = "skipped"
OUTBOX_STATUSES = (OUTBOX_QUEUED, OUTBOX_SENDING, OUTBOX_SENT, OUTBOX_FAILED, OUTBOX_SKIPPED)


class OutboxMessage(BaseModel):
    """One email to send. It holds no rendered text: the message (and its magic link) is made at send time."""

    contact = peewee.ForeignKeyField(Contact, backref="outbox", on_delete="CASCADE")
    kind = peewee.CharField()
    """`invite` or `login`: which template, and which purpose the magic link has."""
    batch = peewee.CharField(index=True)
    status = peewee.CharField(default=OUTBOX_QUEUED, index=True)
    attempts = peewee.IntegerField(default=0)
    last_error = peewee.TextField(default="")
    next_attempt_at = UTCDateTimeField(index=True)
    message_id = peewee.CharField(unique=True)
    """The RFC 5322 Message-ID, fixed when queued so a re-send after a crash is recognisably the same mail."""
    claimed_by = peewee.CharField(null=True)
    claimed_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField()
    created_by = peewee.CharField()
    sent_at = UTCDateTimeField(null=True)


class Template(BaseModel):
    """A stored email template (an edit of a built-in default)."""

    name = peewee.CharField(unique=True)
    subject = peewee.TextField()
    text_body = peewee.TextField()
    html_body = peewee.TextField()
    updated_at = UTCDateTimeField()
    updated_by = peewee.CharField()


class Setting(BaseModel):
    """A key/value setting kept in the database so every admin shares it (expiry durations, agency name)."""

    key = peewee.CharField(primary_key=True)
    value = peewee.TextField()


class HandoffCode(BaseModel):
    """A one-time code the portal service hands to the agency's portal after a contact confirmed a link (the
    OAuth authorization-code shape). Only its SHA-256 is kept; it is good once, for about a minute."""

    code_hash = peewee.CharField(unique=True)
    contact = peewee.ForeignKeyField(Contact, backref="handoff_codes", on_delete="CASCADE")
    purpose = peewee.CharField()
    """The purpose of the magic link that was redeemed (`invite` or `login`)."""
    redeemed_at = UTCDateTimeField()
    """When that link was redeemed (what the exchange reports)."""
    created_at = UTCDateTimeField()
    expires_at = UTCDateTimeField(index=True)
    exchanged_at = UTCDateTimeField(null=True)
    exchanged_by = peewee.CharField(null=True)
    """The name of the API key that exchanged it."""


class ApiKey(BaseModel):
    """A key an agency's portal presents to exchange handoff codes. Only its SHA-256 is kept; the key is shown
    once, when it is made. A name is unique among the keys not revoked (a partial index, schema v6)."""

    name = peewee.CharField(index=True)
    key_hash = peewee.CharField(unique=True)
    prefix = peewee.CharField()
    """The key's first characters, so an admin can tell which key a portal holds without the key."""
    created_at = UTCDateTimeField()
    created_by = peewee.CharField()
    last_used_at = UTCDateTimeField(null=True)
    revoked_at = UTCDateTimeField(null=True)
    revoked_by = peewee.CharField(null=True)


PORTAL_MODELS = (HandoffCode, ApiKey)
"""The portal service's tables (schema v6)."""

ALL_MODELS = (Contact, Domain, MagicLink, AuditEntry, OutboxMessage, Template, Setting, HandoffCode, ApiKey)
