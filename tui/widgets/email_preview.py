"""A preview of an email as the recipient will read it (subject and plain-text body), shown literally."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from models.contacts import ContactRow
from tui.text import visible

PREVIEW_LINES = 10
"""How much of the body the preview shows; the rest is summarised."""


def render_email(kind: str, contact: ContactRow):
    """The rendered email (`mail.templates.RenderedEmail`) that `kind` ("invite" or "login") makes for `contact`.

    Raises:
        Exception: whatever the template layer raises (shown to the user by the caller).
    """
    from mail.templates import preview

    return preview(kind, contact)


class EmailPreview(Static):
    """Subject and the first lines of the plain-text body, in a bordered box."""

    DEFAULT_CSS = """
    EmailPreview {
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        padding: 0 1;
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.border_title = "Preview"

    def show_email(self, rendered) -> None:
        """Show a `RenderedEmail`."""
        text = Text(end="")
        text.append("Subject: ", style="bold")
        text.append(visible(rendered.subject))
        text.append("\n\n")
        lines = (rendered.text or "").splitlines()
        text.append("\n".join(visible(line) for line in lines[:PREVIEW_LINES]))
        if len(lines) > PREVIEW_LINES:
            more = len(lines) - PREVIEW_LINES
            text.append(f"\n… ({more} more line{'s' if more != 1 else ''})", style="dim")
        self.update(text)

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
