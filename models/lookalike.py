"""Addresses that look like another contact's: `ada@еxample.com` (a Cyrillic е), full-width or mathematical letters.

Such an address is accepted (it may be a real person) but the operation that adds it says so, naming the contact
it resembles. Two addresses resemble each other when their *skeletons* are equal (Unicode TS #39, section 4): each
character is replaced by the one it is confusable with, from the Unicode confusables data that the
`confusable-homoglyphs` package ships. Its data is a symmetric relation (character -> its homoglyphs), so the
skeleton here maps every character to one representative of its class of homoglyphs, an ASCII letter or digit when
the class has one, after NFKC and case folding (addresses are compared without case).

Cheap on the common path: an ASCII address (no `xn--` label) is never a lookalike of an existing ASCII address in
this sense (we only warn about non-ASCII substitutions), so nothing is computed for it. For a non-ASCII address:

- the ASCII contacts it may imitate are found through the UNIQUE email index: the ASCII strings whose skeleton is
  the address's skeleton (a bounded number of spellings, `MAX_SPELLINGS`) are looked up directly;
- the non-ASCII contacts are few; their skeletons are indexed on first need (`Lookalikes` keeps the index for a
  whole import, so a million-row file indexes them once).

An address whose one label mixes scripts (Latin with Cyrillic or Greek, say) is warned about even when no contact
resembles it: that is what a spoof looks like before its target is a contact.
"""

from __future__ import annotations

import functools
import itertools
import unicodedata
from dataclasses import dataclass

from models.entities import Contact

MAX_SPELLINGS = 64
"""At most this many ASCII spellings of a skeleton are looked up (`l` may be written `l` or `1`, `o` as `o` or `0`,
so an address full of them has many); beyond it only the spelling with the address's own ASCII characters is."""

_HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
"""What an ASCII domain can be spelled with."""
_IGNORED_SCRIPTS = frozenset({"COMMON", "INHERITED", "Unknown"})
_ALLOWED_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
"""Scripts one label may mix without a warning (UTS #39's "highly restrictive" level: Japanese, Chinese, Korean
writing mixes these as a matter of course)."""


def needs_check(address: str) -> bool:
    """Whether a normalised address can be a lookalike: it has a non-ASCII character or an IDNA (`xn--`) label."""
    return not address.isascii() or "xn--" in address


def unicode_form(address: str) -> str:
    """A normalised address as people read it: its IDNA (`xn--`) domain labels decoded."""
    local, _, domain = address.rpartition("@")
    if "xn--" not in domain:
        return address
    labels = []
    for label in domain.split("."):
        if label.startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna")
            except (UnicodeError, ValueError):
                pass
        labels.append(label)
    return f"{local}@{'.'.join(labels)}"


@functools.cache
def _representatives() -> dict[str, str]:
    """Character -> the representative of its class of homoglyphs (only characters that are not their own)."""
    from confusable_homoglyphs.confusables import confusables_data

    parent: dict[str, str] = {}

    def find(ch: str) -> str:
        root = ch
        while parent[root] != root:
            root = parent[root]
        while parent[ch] != root:  # path compression
            parent[ch], ch = root, parent[ch]
        return root

    for ch, homoglyphs in confusables_data.items():
        for homoglyph in homoglyphs:
            other = homoglyph["c"].strip("\u200e\u200f")  # the data wraps right-to-left characters in marks
            if len(ch) == 1 and len(other) == 1:
                parent.setdefault(ch, ch)
                parent.setdefault(other, other)
                a, b = find(ch), find(other)
                if a != b:
                    parent[a] = b
    classes: dict[str, list[str]] = {}
    for ch in parent:
        classes.setdefault(find(ch), []).append(ch)

    def rank(ch: str) -> tuple:
        return (not ("a" <= ch <= "z"), not ch.isdigit() or not ch.isascii(), not ch.isascii(), ord(ch))

    mapping: dict[str, str] = {}
    for members in classes.values():
        best = min(members, key=rank)
        for ch in members:
            if ch != best:
                mapping[ch] = best
    return mapping


@functools.cache
def _fold_table() -> dict[int, str]:
    return {ord(ch): rep for ch, rep in _representatives().items()}


def skeleton(text: str) -> str:
    """The form two confusable strings share: NFKC, case folded, decomposed (so a Cyrillic ё is е and a diaeresis),
    each character replaced by its homoglyph class's representative (an ASCII letter or digit where the class has
    one), composed again."""
    folded = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).casefold())
    return unicodedata.normalize("NFC", folded.translate(_fold_table()))


@functools.cache
def _ascii_spellings() -> dict[str, tuple[str, ...]]:
    """Representative -> every ASCII character (lower case, as addresses are stored) whose skeleton it is."""
    spellings: dict[str, list[str]] = {}
    for code in range(0x21, 0x7F):
        ch = chr(code)
        if ch.isupper():
            continue
        spellings.setdefault(skeleton(ch), []).append(ch)
    return {rep: tuple(chars) for rep, chars in spellings.items() if len(rep) == 1}


def _ascii_candidates(address: str, folded: str) -> list[str]:
    """ASCII addresses whose skeleton is `folded` (the skeleton of `address`), at most MAX_SPELLINGS of them."""
    if not folded.isascii():
        return []
    spellings = _ascii_spellings()
    at = folded.rfind("@")
    choices = [spellings.get(ch, (ch,)) for ch in folded[: at + 1]]
    choices += [tuple(c for c in spellings.get(ch, (ch,)) if c in _HOST_CHARACTERS) or (ch,) for ch in folded[at + 1 :]]
    count = 1
    for options in choices:
        count *= len(options)
        if count > MAX_SPELLINGS:
            # Too many: keep the address's own ASCII characters where it has them, vary only the others.
            source = unicodedata.normalize("NFKC", address).casefold()
            if len(source) != len(folded):
                return [folded]
            choices = [(own,) if own.isascii() else options for own, options in zip(source, choices)]
            break
    return ["".join(combo) for combo in itertools.islice(itertools.product(*choices), MAX_SPELLINGS)]


def _scripts(label: str) -> set[str]:
    from confusable_homoglyphs.categories import alias

    return {alias(ch) for ch in label if not ch.isascii() or ch.isalpha()} - _IGNORED_SCRIPTS


def mixed_script_label(address: str) -> tuple[str, set[str]] | None:
    """The first label (local part, or a domain label) that mixes scripts, and its scripts; None if none does."""
    text = unicode_form(address)
    local, _, domain = text.rpartition("@")
    for label in [local, *domain.split(".")]:
        if label.isascii():
            continue
        scripts = _scripts(label)
        if len(scripts) > 1 and not any(scripts <= allowed for allowed in _ALLOWED_MIXES):
            return label, scripts
    return None


def _odd_characters(text: str) -> str:
    """The characters of `text` that are not plain ASCII, named: `е (U+0435 CYRILLIC SMALL LETTER IE)`."""
    seen: list[str] = []
    for ch in text:
        if not ch.isascii() and ch not in seen:
            seen.append(ch)
    named = [f"{ch} (U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')})" for ch in seen[:3]]
    more = f" and {len(seen) - 3} more" if len(seen) > 3 else ""
    return ", ".join(named) + more


@dataclass(frozen=True)
class _Existing:
    email: str
    name: str


class Lookalikes:
    """Finds the contacts an address resembles. One per operation: an import keeps one for all its rows, so the
    skeletons of the existing non-ASCII contacts are computed once, on the first non-ASCII address."""

    def __init__(self) -> None:
        self._non_ascii: dict[str, list[str]] | None = None
        """Skeleton -> the stored addresses of non-ASCII contacts that have it."""
        self._added: dict[str, list[str]] = {}
        """Skeleton -> the non-ASCII addresses this operation added (`add`)."""

    def _index(self) -> dict[str, list[str]]:
        if self._non_ascii is None:
            self._non_ascii = {}
            db = Contact._meta.database
            # Only contacts with a non-ASCII character or an IDNA label: a full scan, but one per operation.
            # trim(email, every printable ASCII character) is empty unless another character is in it (the same
            # on every engine: PostgreSQL reads it as btrim).
            printable = "".join(chr(c) for c in range(0x20, 0x7F)).replace("'", "''")
            rows = db.execute_sql(f"SELECT email FROM contact WHERE trim(email, '{printable}') <> '' "
                                  "OR email LIKE '%xn--%'")
            for (email,) in rows:
                self._non_ascii.setdefault(skeleton(unicode_form(email)), []).append(email)
        return self._non_ascii

    def _named(self, emails: list[str]) -> list[_Existing]:
        if not emails:
            return []
        db = Contact._meta.database
        marks = ", ".join("?" * len(emails))
        rows = db.execute_sql(
            f"SELECT email, first_name, last_name FROM contact WHERE email IN ({marks}) ORDER BY id", emails
        ).fetchall()
        return [_Existing(email, " ".join(part for part in (first, last) if part)) for email, first, last in rows]

    def resembled(self, address: str) -> list[_Existing]:
        """The existing contacts (other than `address` itself) whose address has the same skeleton."""
        text = unicode_form(address)
        folded = skeleton(text)
        found = [email for email in _ascii_candidates(text, folded) if email != address]
        found += [email for email in self._index().get(folded, ()) if email != address and email not in found]
        return self._named(found)

    def add(self, address: str) -> None:
        """Count an address added by this operation among the contacts later ones are compared with."""
        if needs_check(address):
            folded = skeleton(unicode_form(address))
            self._added.setdefault(folded, []).append(address)
            if self._non_ascii is not None:
                self._non_ascii.setdefault(folded, []).append(address)

    def imitated(self, address: str) -> list[str]:
        """For an ASCII address added after non-ASCII ones in the same operation (a file where the lookalike comes
        first): what to say about those that look like it. Nothing is computed until a non-ASCII one was added."""
        if not self._added or needs_check(address):
            return []
        return [f"{address} looks like {unicode_form(other)}, added above; check that one is a different person "
                f"({_odd_characters(unicode_form(other))})" for other in self._added.get(skeleton(address), ())]

    def warnings(self, address: str) -> list[str]:
        """What to tell the person adding `address` (a normalised address): the contacts it looks like, and a label
        that mixes scripts. Empty for an ASCII address."""
        if not needs_check(address):
            return []
        text = unicode_form(address)
        out = []
        for existing in self.resembled(address)[:3]:
            who = f" ({existing.name})" if existing.name else ""
            out.append(f"{text} looks like {unicode_form(existing.email)}{who}, an existing contact; "
                       f"check it is a different person ({_odd_characters(text)})")
        mixed = mixed_script_label(address)
        if mixed:
            label, scripts = mixed
            out.append(f"{text} mixes {' and '.join(s.title() for s in sorted(scripts))} letters in "
                       f"{label!r}, as lookalike addresses do ({_odd_characters(label)})")
        return out


def warnings_for(address: str) -> list[str]:
    """`Lookalikes().warnings(address)`, for one address."""
    return Lookalikes().warnings(address)
