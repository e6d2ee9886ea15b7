"""The command palette's matching: an action is found by its name, or else by the words of what it does.

Textual's own provider matches the query against the name alone, so typing "csv" found nothing although "Export
contacts" says it writes a CSV file, and "qr" missed the magic link that shows the code. Here a name that matches
(Textual's fuzzy matcher) ranks first, as before; an action whose help has every word of the query at the start of
one of its words comes after, with the help shown as usual. Help text is matched by whole-word prefixes, not
fuzzily: a long sentence would match almost any scatter of letters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from textual.command import Hit, Hits, Matcher
from textual.system_commands import SystemCommandsProvider

HELP_SCORE = 0.4
"""A match found in the help ranks under the matches of names (the fuzzy matcher scores those about 1 and up)."""

_WORD = re.compile(r"[\w@.+-]+")


def help_matches(query: str, help_text: str) -> bool:
    """Whether every word of `query` starts a word of `help_text` (case-insensitive)."""
    wanted = _WORD.findall(query.casefold())
    if not wanted:
        return False
    words = _WORD.findall(help_text.casefold())
    return all(any(word.startswith(part) for word in words) for part in wanted)


def action_hits(matcher: Matcher, query: str,
                commands: Iterable[tuple[str, str, Callable[[], object]]]) -> Iterable[Hit]:
    """A hit for each (name, help, callback) whose name matches `query`, or else whose help does."""
    for name, help_text, callback in commands:
        if (score := matcher.match(name)) > 0:
            yield Hit(score, matcher.highlight(name), callback, help=help_text)
        elif help_text and help_matches(query, help_text):
            yield Hit(HELP_SCORE, name, callback, help=help_text)


class ActionCommands(SystemCommandsProvider):
    """The app's palette entries (`App.get_system_commands`), found by name or by what they do."""

    async def search(self, query: str) -> Hits:
        commands = ((name, help_text, callback) for name, help_text, callback, *_
                    in self.app.get_system_commands(self.screen))
        for hit in action_hits(self.matcher(query), query, commands):
            yield hit
