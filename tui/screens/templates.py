"""Edit the email templates from the dashboard: subject, text body and HTML body, with a live preview.

The preview is rendered for the contact highlighted in the table (or a sample contact), as text and as the HTML
shown as text, and it scrolls. Saving calls `mail.templates.save_template`, the function behind `client-portal
templates set`, so the editor refuses exactly what the command line refuses, with the same message; the preview
runs the same check first (`mail.templates.preview_draft`), so the refusal shows while typing. Nothing typed is
lost: a refused save keeps the text, each template keeps its unsaved edit while another one is shown, and
closing with unsaved edits asks first. ctrl+r goes back to the built-in default (asking first).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Input, Select, Static, TabbedContent, TabPane, TextArea

from models.contacts import ContactRow
from models.db import database
from models.errors import PortalError
from models.words import plural_noun
from tui.messages import DataChanged
from tui.screens.dialog import Dialog
from tui.text import visible
from tui.widgets.email_preview import email_text

PREVIEW_DELAY = 0.3
"""Seconds after the last key before the preview is rendered again (typing never waits for it)."""

NARROW = 150
"""Below this many columns the editor and the preview are stacked (an email's 72-column lines need the width)."""

SAMPLE_CONTACT = ContactRow(id=0, email="ada@example.com", first_name="Ada", last_name="Lovelace",
                            company="Acme Ltd", phone="", status="invited", invited_at=None, last_login_at=None)
"""Whom the preview is for when no contact is highlighted (the command line's `templates preview` uses her too)."""


@dataclass(frozen=True)
class Draft:
    """A template's three parts as typed (or as stored, for the baseline)."""

    subject: str
    text_body: str
    html_body: str

    def same_as(self, other: Draft | None) -> bool:
        """Whether saving this would change nothing (the subject is saved stripped, newlines normalised)."""
        return other is not None and self.normalised() == other.normalised()

    def normalised(self) -> tuple[str, str, str]:
        return (self.subject.strip(), _newlines(self.text_body), _newlines(self.html_body))


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


class DiscardScreen(Dialog[bool]):
    """Close the editor with unsaved edits? y discards them, escape or n goes back to them."""

    TITLE_TEXT = "Unsaved template edits"
    BINDINGS = [
        Binding("y", "discard", "Discard the edits"),
        Binding("n", "close", "Keep editing"),
    ]
    DEFAULT_CSS = """
    DiscardScreen > #dialog {
        width: 64;
    }
    """

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names

    def compose_body(self) -> ComposeResult:
        which = " and ".join(self.names)
        templates = plural_noun("template") if len(self.names) > 1 else "template"
        verb = "have" if len(self.names) > 1 else "has"
        yield Static(f"The {which} {templates} {verb} edits that are not saved.",
                     classes="field-label", markup=False)
        yield Static("y closes and forgets them · escape or n goes back to them (ctrl+s saves).",
                     classes="hint field-label", markup=False)

    def action_discard(self) -> None:
        self.dismiss(True)

    def action_close(self) -> None:
        self.dismiss(False)


class ResetScreen(Dialog[bool]):
    """Go back to the built-in default? y resets, escape or n keeps the edit."""

    TITLE_TEXT = "Back to the built-in template?"
    BINDINGS = [
        Binding("y", "reset", "Reset to default"),
        Binding("n", "close", "Keep the edit"),
    ]
    DEFAULT_CSS = """
    ResetScreen > #dialog {
        width: 64;
    }
    """

    def __init__(self, name: str, edited: bool) -> None:
        """Args:
            name: The template.
            edited: Whether a saved edit is in use (else only what is typed is replaced).
        """
        super().__init__()
        self.template_name = name
        self.edited = edited

    def compose_body(self) -> ComposeResult:
        what = "saved edit and what is typed now are" if self.edited else "text typed here is"
        yield Static(f"The {self.template_name} template's {what} replaced by the built-in default; the next "
                     "emails use the default.", classes="field-label", markup=False)
        yield Static("y resets · escape or n keeps the edit.", classes="hint field-label", markup=False)

    def action_reset(self) -> None:
        self.dismiss(True)

    def action_close(self) -> None:
        self.dismiss(False)


class TemplateEditorScreen(Dialog[bool]):
    """Pick a template, edit its subject, text and HTML, see it for a contact, save or reset it.

    Dismisses with whether anything was saved or reset.
    """

    TITLE_TEXT = "Email templates"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True, tooltip="Save this template (refused as the CLI refuses)"),
        Binding("ctrl+r", "reset", "Reset to default", priority=True,
                tooltip="Forget the edit: the built-in template again (asks first)"),
        Binding("ctrl+o", "toggle_preview", "Text/HTML preview", priority=True,
                tooltip="Show the preview of the text body or of the HTML body"),
    ]

    DEFAULT_CSS = """
    TemplateEditorScreen > #dialog {
        width: 100%;
        height: 100%;
        max-height: 100%;
        padding: 0 1;
    }
    TemplateEditorScreen .row {
        height: 1;
    }
    TemplateEditorScreen .row > .label {
        width: 10;
        color: $text-muted;
    }
    TemplateEditorScreen #template {
        width: 22;
    }
    TemplateEditorScreen #state {
        width: 1fr;
        padding-left: 2;
        color: $text-muted;
    }
    TemplateEditorScreen #subject {
        width: 1fr;
    }
    TemplateEditorScreen #panes {
        height: 1fr;
        margin-top: 1;
    }
    TemplateEditorScreen #panes.-narrow {
        layout: vertical;
        margin-top: 0;
    }
    TemplateEditorScreen #editors, TemplateEditorScreen #previews {
        width: 1fr;
        height: 1fr;
    }
    TemplateEditorScreen #panes.-wide > #editors {
        margin-right: 1;
    }
    TemplateEditorScreen TabPane {
        padding: 0;
    }
    TemplateEditorScreen TextArea, TemplateEditorScreen .preview-scroll {
        scrollbar-size-vertical: 1;
    }
    TemplateEditorScreen TextArea {
        height: 1fr;
        border: none;
        padding: 0 1;
    }
    TemplateEditorScreen TextArea:focus {
        border: none;
    }
    TemplateEditorScreen .preview-scroll {
        height: 1fr;
        padding: 0 1;
        background: $boost;
    }
    TemplateEditorScreen .preview-scroll:focus {
        background: $primary 10%;
    }
    TemplateEditorScreen #outcome {
        height: auto;
        max-height: 3;
    }
    """

    class Loaded(Message):
        """The templates as stored (read in a thread)."""

        def __init__(self, sources: dict | None, error: str = "") -> None:
            super().__init__()
            self.sources = sources
            self.error = error

    class Previewed(Message):
        """A preview was rendered (or refused) for the draft it was asked for."""

        def __init__(self, name: str, draft: Draft, rendered, error: str = "") -> None:
            super().__init__()
            self.name = name
            self.draft = draft
            self.rendered = rendered
            self.error = error

    class Saved(Message):
        """A save or a reset finished."""

        def __init__(self, name: str, draft: Draft, source, error: str = "", reset: bool = False) -> None:
            super().__init__()
            self.name = name
            self.draft = draft
            self.source = source
            self.error = error
            self.reset = reset

    def __init__(self, contact: ContactRow | None = None, name: str | None = None) -> None:
        """Args:
            contact: Whom the preview is for (the highlighted contact); a sample contact when None.
            name: The template shown first (the first one by default).
        """
        super().__init__()
        from mail.templates import TEMPLATE_NAMES

        self.names: tuple[str, ...] = TEMPLATE_NAMES
        self.contact = contact
        self.current = name if name in TEMPLATE_NAMES else TEMPLATE_NAMES[0]
        """The template shown."""
        self.baselines: dict[str, Draft] = {}
        """Each template as stored (what saving compares with)."""
        self.defaults: dict[str, bool] = {}
        """Whether each template is the built-in default."""
        self.drafts: dict[str, Draft] = {}
        """Each template as typed (kept while another one is shown)."""
        self.changed = False
        """Whether something was saved or reset (the dismiss result)."""
        self.busy = False
        """A save or a reset is running."""

    # --- the layout ---------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as box:
            box.border_title = self.TITLE_TEXT
            with Horizontal(classes="row"):
                yield Static("Template", classes="label")
                yield Select([(name, name) for name in self.names], value=self.current, allow_blank=False,
                             id="template", compact=True)
                yield Static("Reading…", id="state", markup=False)
            with Horizontal(classes="row"):
                yield Static("Subject", classes="label")
                yield Input(id="subject", compact=True, disabled=True)
            with Horizontal(id="panes"):
                with TabbedContent(id="editors"):
                    with TabPane("Text body", id="tab-text"):
                        yield TextArea(id="text_body", soft_wrap=True, disabled=True)
                    with TabPane("HTML body", id="tab-html"):
                        yield TextArea(id="html_body", soft_wrap=True, disabled=True)
                with TabbedContent(id="previews"):
                    with TabPane("Preview: text", id="tab-preview-text"):
                        with VerticalScroll(classes="preview-scroll", id="scroll-text"):
                            yield Static("", id="preview-text", markup=False)
                    with TabPane("Preview: HTML as text", id="tab-preview-html"):
                        with VerticalScroll(classes="preview-scroll", id="scroll-html"):
                            yield Static("", id="preview-html", markup=False)
            yield Static("", id="outcome")
        yield Footer()

    def on_mount(self) -> None:
        self._fit(self.app.size.width)
        self._load()

    def on_resize(self) -> None:
        self._fit(self.app.size.width)

    def _fit(self, width: int) -> None:
        panes = self.query_one("#panes")
        narrow = width < NARROW
        panes.set_class(narrow, "-narrow")
        panes.set_class(not narrow, "-wide")

    # --- reading ----------------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="templates-load", exit_on_error=False)
    def _load(self) -> None:
        from mail.templates import get_template

        try:
            with database.connection_context():
                sources = {name: get_template(name) for name in self.names}
        except PortalError as exc:
            self.post_message(self.Loaded(None, str(exc)))
            return
        self.post_message(self.Loaded(sources))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.sources is None:
            self.say("outcome", "Could not read the templates: " + message.error, "problem")
            return
        for name, source in message.sources.items():
            self.baselines[name] = Draft(source.subject, source.text_body, source.html_body)
            self.defaults[name] = source.is_default
        for widget in (self.query_one("#subject", Input), *self.query(TextArea)):
            widget.disabled = False
        self._show(self.current)
        self.query_one("#text_body", TextArea).focus()
        self.say("outcome", "ctrl+s saves · ctrl+r resets to the default · tab moves between the boxes.", "hint")

    # --- the boxes ----------------------------------------------------------------------------------------------

    def _typed(self) -> Draft:
        return Draft(
            self.query_one("#subject", Input).value,
            self.query_one("#text_body", TextArea).text,
            self.query_one("#html_body", TextArea).text,
        )

    def _show(self, name: str) -> None:
        """Fill the boxes with template `name`'s draft (or its stored text)."""
        self.current = name
        draft = self.drafts.get(name) or self.baselines[name]
        # The boxes' change events arrive later and read the boxes as filled here: they are no edit.
        self.query_one("#subject", Input).value = draft.subject
        self.query_one("#text_body", TextArea).load_text(draft.text_body)
        self.query_one("#html_body", TextArea).load_text(draft.html_body)
        self._update_state()
        self._schedule_preview()

    def dirty_names(self) -> list[str]:
        """The templates with edits that are not saved."""
        if self.current in self.baselines:
            self.drafts[self.current] = self._typed()
        return [name for name, draft in self.drafts.items() if not draft.same_as(self.baselines.get(name))]

    def _update_state(self) -> None:
        name = self.current
        if name not in self.baselines:
            return
        state = Text(end="", no_wrap=True, overflow="ellipsis")
        state.append("the built-in default" if self.defaults.get(name) else "edited (saved)")
        if self.current in self.dirty_names():
            state.append(" · changes not saved", style="bold")
        self.query_one("#state", Static).update(state)

    @on(Select.Changed, "#template")
    def _template_picked(self, event: Select.Changed) -> None:
        name = event.value
        if name == self.current or name not in self.baselines:
            return
        self.drafts[self.current] = self._typed()
        self.say("outcome", "")
        self._show(name)

    @on(Input.Changed, "#subject")
    @on(TextArea.Changed)
    def _edited(self) -> None:
        if self.current not in self.baselines:
            return
        self.drafts[self.current] = self._typed()
        if "problem" in self.query_one("#outcome").classes:
            self.say("outcome", "")  # a refusal was about the text before this change
        self._update_state()
        self._schedule_preview()

    @on(Input.Submitted, "#subject")
    def _subject_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#text_body", TextArea).focus()

    # --- the preview ----------------------------------------------------------------------------------------

    def _schedule_preview(self) -> None:
        timer = getattr(self, "_preview_timer", None)
        if timer is not None:
            timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_DELAY, self._start_preview)

    def _start_preview(self) -> None:
        if self.current in self.baselines:
            self._render_preview(self.current, self._typed(), self.contact or SAMPLE_CONTACT)

    @work(thread=True, exclusive=True, group="templates-preview", exit_on_error=False)
    def _render_preview(self, name: str, draft: Draft, contact: ContactRow) -> None:
        from mail.templates import preview_draft

        try:
            with database.connection_context():
                rendered = preview_draft(name, contact, draft.subject, draft.text_body, draft.html_body)
        except PortalError as exc:
            self.post_message(self.Previewed(name, draft, None, str(exc)))
            return
        self.post_message(self.Previewed(name, draft, rendered))

    @on(Previewed)
    def _previewed(self, message: Previewed) -> None:
        if message.name != self.current:
            return
        if message.rendered is None:
            problem = Text("Saving would be refused: " + visible(message.error), style="italic", end="")
            for static_id in ("#preview-text", "#preview-html"):
                self.query_one(static_id, Static).update(problem)
            return
        for static_id, html in (("#preview-text", False), ("#preview-html", True)):
            self.query_one(static_id, Static).update(self._to_line() + email_text(message.rendered, html=html))

    def _to_line(self) -> Text:
        """`To: Ada Lovelace <ada@example.com>`: whom the preview is rendered for."""
        contact = self.contact or SAMPLE_CONTACT
        line = Text(end="")
        line.append("To: ", style="bold")
        name = visible(contact.full_name)
        line.append(f"{name} <{visible(contact.email)}>" if name else visible(contact.email))
        if self.contact is None:
            line.append("  (a sample contact: none is highlighted)", style="italic")
        line.append("\n")
        return line

    def action_toggle_preview(self) -> None:
        """Show the other preview (text or HTML)."""
        previews = self.query_one("#previews", TabbedContent)
        previews.active = "tab-preview-html" if previews.active == "tab-preview-text" else "tab-preview-text"

    # --- saving and resetting -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("save", "reset"):
            return True if self.current in self.baselines and not self.busy else None
        return True

    def action_save(self) -> None:
        """Save the template shown (the command line's check; refused: the text stays as typed)."""
        if self.busy or self.current not in self.baselines:
            return
        name = self.current
        if self._typed().same_as(self.baselines[name]):
            # Saving the text as it is would change nothing, except to turn the built-in default into a saved
            # copy of it that no longer follows a new version's default.
            kept = "the built-in default" if self.defaults.get(name) else "as saved"
            self.say("outcome", f"Nothing to save: the {name} template is {kept}.", "hint")
            return
        self.busy = True
        self.say("outcome", "Saving…", "hint")
        self.refresh_bindings()
        self.hold_keys_until_done(self._save(self.current, self._typed()))

    @work(thread=True, exclusive=True, group="templates-save", exit_on_error=False)
    def _save(self, name: str, draft: Draft) -> None:
        from mail.templates import get_template, save_template

        try:
            with database.connection_context():
                save_template(name, subject=draft.subject, text_body=draft.text_body, html_body=draft.html_body)
                source = get_template(name)
        except PortalError as exc:
            self.post_message(self.Saved(name, draft, None, str(exc)))
            return
        self.post_message(self.Saved(name, draft, source))

    def action_reset(self) -> None:
        """Go back to the built-in template (asks first)."""
        if self.busy or self.current not in self.baselines:
            return
        name = self.current

        def answered(reset: bool | None) -> None:
            if reset:
                self.busy = True
                self.say("outcome", "Resetting…", "hint")
                self.refresh_bindings()
                self.hold_keys_until_done(self._reset(name))

        self.app.push_screen(ResetScreen(name, edited=not self.defaults.get(name)), answered)

    @work(thread=True, exclusive=True, group="templates-save", exit_on_error=False)
    def _reset(self, name: str) -> None:
        from mail.templates import get_template, reset_template

        try:
            with database.connection_context():
                reset_template(name)
                source = get_template(name)
        except PortalError as exc:
            self.post_message(self.Saved(name, self.drafts.get(name) or self.baselines[name], None, str(exc),
                                         reset=True))
            return
        self.post_message(self.Saved(name, Draft(source.subject, source.text_body, source.html_body), source,
                                     reset=True))

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        self.busy = False
        name = message.name
        if message.source is None:
            what = "Not reset: " if message.reset else "Not saved: "
            self.say("outcome", what + message.error, "problem")
            self.refresh_bindings()
            return
        self.changed = True
        source = message.source
        self.baselines[name] = Draft(source.subject, source.text_body, source.html_body)
        self.defaults[name] = source.is_default
        self.app.post_message(DataChanged("template"))
        if message.reset:
            self.drafts.pop(name, None)
            if name == self.current:
                self._show(name)
            self.say("outcome", f"The {name} template is the built-in default again.", "good")
        else:
            self.drafts[name] = self._typed() if name == self.current else message.draft
            self.say("outcome", f"Saved the {name} template: the next {name} emails use it.", "good")
        self._update_state()
        self.refresh_bindings()

    # --- closing --------------------------------------------------------------------------------------------

    def action_close(self) -> None:
        """Close; with unsaved edits, ask first."""
        if self.busy:
            return
        dirty = self.dirty_names() if self.baselines else []
        if not dirty:
            self.dismiss(self.changed)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(self.changed)

        self.app.push_screen(DiscardScreen(dirty), answered)
