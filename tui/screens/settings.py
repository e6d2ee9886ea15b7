"""Settings: what `client-portal settings` edits (agency name, link lifetimes, send rate, retries, callback URL),
in one form.

Each box is checked as it is typed, by the same check `client-portal settings set` runs
(`models.settings.check_value`), so a refusal reads the same word for word, under the field it is about. Save
stores only the boxes that were changed, all or none (`models.settings.set_values`, in a worker by
`Dialog.run_operation`); a refusal keeps every box as typed. The line "Sent as" shows the sender emails will
carry with the agency name typed.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from models import domains, settings
from models.errors import InvalidInput, PortalError
from tui.messages import DataChanged
from tui.screens.dialog import FormDialog
from tui.text import join, visible

FIELDS = (
    ("agency_name", "Agency name", "the sender's name in emails"),
    ("invite_ttl_hours", "Invitation lasts", "hours an invitation link works"),
    ("login_ttl_hours", "Login link lasts", "hours a login link works"),
    ("send_rate", "Send rate", "emails per second at most"),
    ("max_attempts", "Tries per email", "tries of an email the server refuses for a while"),
    ("portal_callback_url", "Callback URL", "where a used link sends the contact"),
)
"""(setting, label, help) in the order the form shows them; every key of `models.settings.SPECS` is here."""


def _box_id(key: str) -> str:
    return "setting-" + key.replace("_", "-")


class SettingsScreen(FormDialog[bool]):
    """One box per setting; enter saves the changed ones (dismisses with True), escape leaves them as stored."""

    TITLE_TEXT = "Settings"
    BINDINGS = [Binding("enter", "confirm", "Save", priority=True)]

    DEFAULT_CSS = """
    SettingsScreen #setting-fields {
        height: auto;
        margin-top: 1;
    }
    SettingsScreen .setting-row {
        height: 1;
    }
    SettingsScreen .setting-label {
        width: 18;
    }
    SettingsScreen .setting-row Input {
        width: 1fr;
    }
    SettingsScreen .setting-help {
        padding-left: 18;
        color: $text-muted;
    }
    SettingsScreen .setting-help.problem {
        color: $text-error;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.stored = settings.all_settings()
        """Each setting's value as stored (what the boxes start with)."""
        self.mail_from, self.sender_domain = _sender_parts()
        self.saving = False

    def compose_body(self) -> ComposeResult:
        yield Static("Shared by every admin of this database; the same as client-portal settings.", classes="hint")
        with Vertical(id="setting-fields"):
            for key, label, _help in FIELDS:
                with Horizontal(classes="setting-row"):
                    yield Static(label, classes="setting-label")
                    yield Input(value=visible(self.stored[key]), id=_box_id(key), compact=True,
                                max_length=settings.SPECS[key].max_length + 40)
                yield Static(self._help(key), id=_box_id(key) + "-help", classes="setting-help")
        yield Static("", id="sender", classes="hint field-label")
        yield Static("", id="outcome", classes="hint")

    @staticmethod
    def _help(key: str) -> Text:
        """The field's help and allowed values, on one line at 80 columns."""
        spec = settings.SPECS[key]
        what = next(help_text for name, _label, help_text in FIELDS if name == key)
        if spec.check is not None:
            wanted = "https://… or empty"
        elif spec.kind is str:
            wanted = f"1 to {spec.max_length} characters"
        else:
            wanted = f"{spec.minimum:g} to {spec.maximum:g}"
        return Text(f"{what}: {wanted}", end="")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._show_sender()

    def box(self, key: str) -> Input:
        return self.query_one(f"#{_box_id(key)}", Input)

    def changes(self) -> dict[str, str]:
        """The settings whose box differs from what it showed at first."""
        return {key: self.box(key).value for key, _label, _help in FIELDS
                if self.box(key).value != visible(self.stored[key])}

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        key = next((key for key, _label, _help in FIELDS if _box_id(key) == event.input.id), None)
        if key is None:
            return
        try:
            settings.check_value(key, event.value)
        except InvalidInput as exc:
            self._problem(key, exc)
        else:
            self.say(_box_id(key) + "-help", self._help(key), "setting-help")
        if key == "agency_name":
            self._show_sender()

    def _problem(self, key: str, refusal: InvalidInput) -> None:
        """The refusal under the field, naming the setting by the label the form shows (not the command line's key)."""
        label = next(label for name, label, _help in FIELDS if name == key)
        detail = getattr(refusal, "detail", None)
        self.say(_box_id(key) + "-help", "✗ " + (f"{label} {detail}" if detail else str(refusal)),
                 "setting-help problem")

    def _show_sender(self) -> None:
        if self.mail_from:
            text = join("Sent as ", (self.mail_from, "bold"), " (CLIENT_PORTAL_MAIL_FROM; the agency name is used "
                        "in the emails' text)")
        else:
            name = " ".join(self.box("agency_name").value.split())
            text = join("Sent as ", (f"{name} <portal@{self.sender_domain}>", "bold"))
        self.say("sender", text, "hint field-label")

    def confirm(self) -> None:
        """Save the changed settings (all or none)."""
        if self.saving:
            return
        changed = self.changes()
        if not changed:
            self.notify_plain("Nothing changed", title="Settings")
            self.dismiss(None)
            return
        self.saving = True
        self.say("outcome", "Saving…", "hint")
        self.run_operation(settings.set_values, changed, done=lambda _: self._saved(changed), failed=self._refused)

    def _refused(self, error: PortalError) -> None:
        self.saving = False
        problems = getattr(error, "refusals", None)
        if problems:
            for key, refusal in problems.items():
                self._problem(key, refusal)
            self.box(next(iter(problems))).focus()
            self.say("outcome", "✗ Not saved: fix the field marked ✗ (nothing was stored)", "problem")
        else:
            self.say("outcome", "✗ Not saved: " + str(error), "problem")

    def _saved(self, changed: dict[str, str]) -> None:
        self.notify_plain("Saved " + ", ".join(changed), title="Settings")
        self.app.post_message(DataChanged("settings"))
        self.dismiss(True)


def _sender_parts() -> tuple[str | None, str]:
    """(`CLIENT_PORTAL_MAIL_FROM` when set, the default domain) for the "Sent as" line; never raises."""
    import os

    mail_from = os.environ.get("CLIENT_PORTAL_MAIL_FROM") or None
    try:
        domain = domains.default_domain()
    except PortalError:
        domain = "(no domain yet: press d on the dashboard)"
    return mail_from, domain
