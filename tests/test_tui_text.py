"""`tui.text`: control characters made visible, values never parsed as markup."""

from __future__ import annotations

import pytest
from rich.text import Text

from tests.fixtures_tui import HOSTILE_NAME
from tui.text import join, literal, visible


@pytest.mark.parametrize(
    "raw,shown",
    [
        ("Ada Lovelace", "Ada Lovelace"),
        ("Zoë 李 🎉", "Zoë 李 🎉"),
        ("\x1b]52;c;aGk=\x07", "␛]52;c;aGk=␇"),
        ("a\nb\tc\rd\x00", "a␊b␉c␍d␀"),
        ("del\x7f c1\x9b", "del␡ c1\\u009b"),
        ("\u202eevil\u202c", "\\u202eevil\\u202c"),
        ("line\u2028sep", "line\\u2028sep"),
        (None, ""),
        (42, "42"),
    ],
)
def test_visible(raw, shown):
    assert visible(raw) == shown


def test_literal_is_text_with_no_markup_and_no_escape():
    text = literal(HOSTILE_NAME)
    assert isinstance(text, Text)
    assert text.plain.startswith("[/x] <a@b> ␛[31mred␛]52;c;aGk=␇ [link=http://evil]x[/link]")
    assert not text.spans
    assert all(ord(ch) >= 32 for ch in text.plain)


def test_join_keeps_data_literal():
    text = join("Hi ", ("[b]x[/b]\x1b", "bold"))
    assert text.plain == "Hi [b]x[/b]␛"
    assert [str(span.style) for span in text.spans] == ["bold"]
