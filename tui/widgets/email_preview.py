"""A preview of an email as the recipient will read it (subject and the whole plain-text body), shown literally.

The whole email is shown, never cut: the box scrolls (mouse wheel, or tab to it and ↑ ↓ pgup pgdn home end),
and its bottom edge says how to when the email is longer than the box.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from models.contacts import ContactRow
from tui.text import visible


def render_email(kind: str, contact: ContactRow):
    """The rendered email (`mail.templates.RenderedEmail`) that `kind` ("invite" or "login") makes for `contact`.

    Raises:
        Exception: whatever the template layer raises (shown to the user by the caller).
    """
    from mail.templates import preview

    return preview(kind, contact)


def email_text(rendered, *, html: bool = False) -> Text:
    """A `RenderedEmail` as text: the subject line, a blank line, then every line of the text body (or of the
    HTML body, shown as text), control characters made visible."""
    text = Text(end="")
    text.append("Subject: ", style="bold")
    text.append(visible(rendered.subject))
    text.append("\n\n")
    body = (rendered.html if html else rendered.text) or ""
    text.append("\n".join(visible(line) for line in body.splitlines()))
    return text


class EmailPreview(VerticalScroll, can_focus=True):
    """Subject and the whole plain-text body, in a bordered box that scrolls when the email is taller than it."""

    DEFAULT_CSS = """
    EmailPreview {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        border-subtitle-color: $text-muted;
        padding: 0 1;
        height: auto;
        scrollbar-size-vertical: 1;
    }
    EmailPreview:focus {
        border: round $primary;
    }
    EmailPreview > Static {
        width: 1fr;
        height: auto;
    }
    """

    SCROLL_HINT = "↑↓ scrolls"
    """The bottom edge's hint when the email is longer than the box (focused, the keys scroll it)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Preview"
        self._body = Static("", markup=False)
        self.text = Text("")
        """What the box shows, as plain text (for tests and for screen readers' sake: no markup)."""

    def compose(self):
        yield self._body

    def update(self, text: Text) -> None:
        """Show `text` (from the top)."""
        self.text = text
        self._body.update(text)
        self.scroll_home(animate=False)
        self.call_after_refresh(self._update_hint)

    def on_resize(self) -> None:
        self._update_hint()

    def _update_hint(self) -> None:
        if not self.is_mounted:
            return
        long = self.max_scroll_y > 0
        self.border_subtitle = (self.SCROLL_HINT if self.has_focus else "tab, then ↑↓ scrolls") if long else ""

    def on_focus(self) -> None:
        self.call_later(self._update_hint)  # `has_focus` is set by Widget's own handler, after this one

    def on_blur(self) -> None:
        self.call_later(self._update_hint)

    def show_email(self, rendered, *, html: bool = False) -> None:
        """Show a `RenderedEmail` (its text body, or its HTML body as text)."""
        self.update(email_text(rendered, html=html))

    def show_problem(self, message: str) -> None:
        """Say why there is no preview."""
        self.update(Text("No preview: " + visible(message), style="italic"))

    def show_for(self, kind: str, contact: ContactRow) -> bool:
        """Render and show `kind` for `contact`; returns whether it worked."""
        try:
            rendered = render_email(kind, contact)
        except ImportError:
            self.show_problem("the mail templates are not installed")
            return False
        except Exception as exc:  # a broken template: show it, never crash
            self.show_problem(str(exc) or type(exc).__name__)
            return False
        self.show_email(rendered)
        return True
