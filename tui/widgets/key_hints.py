"""The main screen's bottom line: the keys that apply now, each clickable, as one line of text.

Textual's `Footer` builds a widget per key and rebuilds them all whenever the focus or the bindings change; on
the main screen that cost about a fifth of the dashboard's start-up (it was composed three times before the
first contacts showed). This is one `Static` whose text is rebuilt instead: same keys, same labels, dimmed when
they cannot apply, and a click on a key runs its action.

Which keys, and what they say, is the main screen's choice (`MainScreen.key_hints`): it follows the focus (the
search box has its own keys) and the data (a selection puts "l Login email to 12" and "esc Unselect" first; an
empty dashboard shows only how to get contacts in).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from textual import events
from textual.content import Content
from textual.widgets import Static


KEY = "bold $footer-key-foreground on $footer-key-background"
"""How a key is drawn (Textual's footer colours)."""


class Hint(NamedTuple):
    """One key of the bar."""

    key: str
    """The key as shown (`l`, `esc`, `^a`)."""
    label: str
    """What it does here and now ("Login email to 12")."""
    enabled: bool
    """False: drawn dimmed (it cannot apply now), and a click does nothing."""
    action: str
    """What a click runs, namespaced (`screen.login_email`, `app.help`)."""
    essential: bool = False
    """Kept when the line is too narrow for every key (the others go, last first)."""


class KeyHints(Static):
    """One line of `key label` pairs, with the command palette's key at the right."""

    DEFAULT_CSS = """
    KeyHints {
        dock: bottom;
        height: 1;
        width: 1fr;
        background: $footer-background;
        color: $footer-foreground;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self._shown: tuple[tuple[Hint, ...], str | None] = ((), None)
        self._targets: list[tuple[int, int, str]] = []
        """(first cell, past the last cell, action) of each key drawn, for clicks."""

    def show(self, hints: Iterable[Hint], palette_key: str | None) -> None:
        """Show these keys and, at the right, the palette's key (nothing is redrawn when nothing changed)."""
        shown = (tuple(hints), palette_key)
        if shown != self._shown:
            self._shown = shown
            if self.size.width:  # not laid out yet: drawn once it is (`on_resize`), not twice
                self._draw()

    @property
    def hints(self) -> tuple[Hint, ...]:
        """The keys shown now."""
        return self._shown[0]

    def on_resize(self) -> None:
        self._draw()  # the palette's key stays at the right edge

    def _draw(self) -> None:
        hints, palette_key = self._shown
        parts = [self._part(hint) for hint in hints]
        palette = Content.from_markup(f"[{KEY}] $key [/]palette ", key=palette_key) if palette_key else None
        room = self.size.width - (palette.cell_length + 1 if palette is not None else 0)
        # Too narrow for every key: leave out the least useful (the last that are not essential), never the
        # palette's key at the right, which reaches all of them.
        kept = list(range(len(hints)))
        for index in reversed(range(len(hints))):
            if sum(parts[i].cell_length for i in kept) <= room or not self.size.width:
                break
            if not hints[index].essential:
                kept.remove(index)
        line = Content("")
        targets: list[tuple[int, int, str]] = []
        for index in kept:
            hint, part = hints[index], parts[index]
            if hint.enabled:
                targets.append((line.cell_length, line.cell_length + part.cell_length, hint.action))
            line += part
        if palette is not None:
            line += Content(" " * max(1, self.size.width - line.cell_length - palette.cell_length))
            targets.append((line.cell_length, line.cell_length + palette.cell_length, "app.command_palette"))
            line += palette
        self._targets = targets
        self.update(line)

    @staticmethod
    def _part(hint: Hint) -> Content:
        markup = f"[{KEY}] $key [/]$label " if hint.enabled else "[dim] $key $label [/]"
        return Content.from_markup(markup, key=hint.key, label=hint.label)

    async def on_click(self, event: events.Click) -> None:
        """A click on a key does what pressing it does."""
        for start, stop, action in self._targets:
            if start <= event.x < stop:
                event.stop()
                await self.run_action(action)
                return
