"""Safe text: every value that came from the database (or a file, or a mail server) is shown literally.

Two things can go wrong when data reaches the screen. A `str` handed to a Textual widget is parsed as markup,
so a contact named `foo[/]` crashes the app and `[link=...]` becomes a live link. And an escape sequence in a
value goes to the terminal raw: an OSC 52 in a name sets the user's clipboard, a CSI can repaint the screen.
So data is first made visible (control characters become symbols or escapes that can be read) and then
wrapped in `rich.text.Text`, which Textual never parses as markup. Widgets call these helpers; nothing from
the database is put on screen any other way.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

from rich.text import Text

from models.words import article, plural  # noqa: F401 - the one helper for counts and articles, for every layer

MAX_ADDRESS_LENGTH = 254
"""The longest email address there is (RFC 5321): address boxes refuse longer input, such as a pasted megabyte."""

MAX_DOMAIN_LENGTH = 253
"""The longest domain name there is (RFC 1035): the domain box refuses longer input."""

_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Direction overrides and isolates: they reorder what is shown around them ("Trojan Source")."""

_C0_PICTURES = {code: chr(0x2400 + code) for code in range(0x20)}
"""C0 controls as Unicode "control pictures": ESC is shown as ␛, BEL as ␇, newline as ␊."""


def visible(value: object) -> str:
    """`value` as text with every control character replaced by something visible and inert.

    C0 controls become their control pictures (`\\x1b` -> `␛`), DEL becomes `␡`, C1 controls, bidirectional
    overrides and line/paragraph separators become `\\u....` escapes. Everything else, including accents,
    CJK and emoji, is kept as it is.

    Args:
        value: Any value; `None` becomes the empty string.

    Returns:
        A string that is safe to send to a terminal.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # the common case: nothing to replace
        return text
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if code < 0x20:
            out.append(_C0_PICTURES[code])
        elif code == 0x7F:
            out.append("\u2421")
        elif 0x80 <= code < 0xA0 or ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Zl", "Zp"):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def literal(value: object, style: str = "", *, overflow: str = "ellipsis") -> Text:
    """A `Text` showing `value` literally (never markup), control characters made visible.

    Args:
        value: The value to show.
        style: A Rich style for the whole text.
        overflow: What to do when it does not fit (`ellipsis` for table cells).
    """
    return Text(visible(value), style=style, no_wrap=overflow == "ellipsis", overflow=overflow, end="")


def join(*parts: tuple[object, str] | Text | str) -> Text:
    """Build one `Text` from pieces: `(value, style)` pairs are data (made visible), plain `str` are labels.

    Labels written in this code are trusted; they are still added as plain text, never parsed as markup.
    """
    text = Text(end="")
    for part in parts:
        if isinstance(part, Text):
            text.append_text(part)
        elif isinstance(part, tuple):
            value, style = part
            text.append(visible(value), style=style or None)
        else:
            text.append(part)
    return text


def when(value: datetime | None, *, with_time: bool = True) -> str:
    """A timestamp the way the dashboard shows it: UTC, `YYYY-MM-DD HH:MM`, or `—` when there is none."""
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
