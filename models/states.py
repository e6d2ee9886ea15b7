"""The states a contact, a link and an outbox row can be in, and their words: plain values every layer may use
(the dashboard's widgets read these, never the tables in `models.entities`)."""

from __future__ import annotations

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

OUTBOX_QUEUED = "queued"
OUTBOX_SENDING = "sending"
OUTBOX_SENT = "sent"
OUTBOX_FAILED = "failed"
OUTBOX_SKIPPED = "skipped"
OUTBOX_STATUSES = (OUTBOX_QUEUED, OUTBOX_SENDING, OUTBOX_SENT, OUTBOX_FAILED, OUTBOX_SKIPPED)
