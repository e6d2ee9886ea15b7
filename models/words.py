"""Counts and articles in messages: "1 contact", "2 contacts", "an invite email".

Why this file exists: messages were written as `f"{n} contact(s)"`, `f"of {n} contacts"` and `f"a {kind} email"`,
which read "of 1 contacts" and "a invite email". Every layer builds messages (the models' errors and audit
details, the sender's, the command line's and the dashboard's), so the one helper lives in the lowest layer;
`tui.text` hands the same functions on. `tests/test_cli_words.py` checks that no message counts any other way.
"""

from __future__ import annotations

IRREGULAR = {"entry": "entries", "address": "addresses", "mailbox": "mailboxes", "batch": "batches"}
"""Nouns whose plural is not noun + "s"."""


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """`1 contact`, `2 contacts`, `1,000 contacts` (a thousands separator); `0 contacts`.

    Args:
        count: How many.
        noun: The singular ("contact", "login email"); its last word takes the plural.
        plural_form: The plural where it is not the last word + "s" (nor in `IRREGULAR`).
    """
    return f"{count:,} {noun if count == 1 else (plural_form or plural_noun(noun))}"


def plural_noun(noun: str) -> str:
    """The plural of `noun`: its last word made plural ("login email" -> "login emails")."""
    head, _, last = noun.rpartition(" ")
    many = IRREGULAR.get(last) or (last + "es" if last.endswith(("s", "x", "ch", "sh")) else last + "s")
    return f"{head} {many}" if head else many


_AN_EXCEPTIONS = ("uni", "use", "usu", "one", "eu")
"""Words that start with a vowel letter but a consonant sound ("a unique", "a user", "a one-time")."""


def article(word: str) -> str:
    """`word` with "a" or "an" before it: "an invite", "a login", "an SMTP", "an int", "a user"."""
    lower = word.lower()
    if word[:1].isupper() and word.isupper() and len(word) > 1:
        # An initialism read letter by letter: "an SMTP server", "an HTML body", "a URL".
        an = word[0] in "AEFHILMNORSX"
    else:
        an = lower[:1] in "aeiou" and not lower.startswith(_AN_EXCEPTIONS) or lower.startswith(("hour", "honest"))
    return f"{'an' if an else 'a'} {word}"
