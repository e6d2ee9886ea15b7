"""The main screen's bottom line: the keys that apply now, each clickable, as one line of text.

Textual's `Footer` builds a widget per key and rebuilds them all whenever the focus or the bindings change; on
the main screen that cost about a fifth of the dashboard's start-up (it was composed three times before the
first contacts showed). This is one `Static` whose text is rebuilt instead: same keys, same labels, dimmed when
they cannot apply, and a click on a key runs its action.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import events
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Static


KEY = "bold $footer-key-foreground on $footer-key-background"
"""How a key is drawn (Textual's footer colours)."""


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
        self._shown: tuple[list[tuple[Binding, bool, str]], str | None] = ([], None)
        self._targets: list[tuple[int, int, str]] = []
        """(first cell, past the last cell, action) of each key drawn, for clicks."""

    def show(self, hints: Iterable[tuple[Binding, bool, str]], palette_key: str | None) -> None:
        """Show these bindings (each with whether it applies now, and where its action is: "screen" or "app")
        and, at the right, the palette's key."""
        self._shown = (list(hints), palette_key)
        self._draw()

    def on_resize(self) -> None:
        self._draw()  # the palette's key stays at the right edge

    def _draw(self) -> None:
        hints, palette_key = self._shown
        line = Content("")
        targets: list[tuple[int, int, str]] = []
        for binding, enabled, namespace in hints:
            markup = f"[{KEY}] $key [/]$label " if enabled else "[dim] $key $label [/]"
            part = Content.from_markup(markup, key=self.app.get_key_display(binding), label=binding.description)
            if enabled:
                targets.append((line.cell_length, line.cell_length + part.cell_length, f"{namespace}.{binding.action}"))
            line += part
        if palette_key:
            palette = Content.from_markup(f"[{KEY}] $key [/]palette ", key=palette_key)
            line += Content(" " * max(1, self.size.width - line.cell_length - palette.cell_length))
            targets.append((line.cell_length, line.cell_length + palette.cell_length, "app.command_palette"))
            line += palette
        self._targets = targets
        self.update(line)

    async def on_click(self, event: events.Click) -> None:
        """A click on a key does what pressing it does."""
        for start, stop, action in self._targets:
            if start <= event.x < stop:
                event.stop()
                await self.run_action(action)
                return
