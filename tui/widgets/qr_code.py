"""A QR code drawn in the terminal, so a client sitting next to staff can scan a magic link with a phone.

`segno` makes the symbol; each cell row of the widget holds two module rows in half blocks (▀ ▄ █ and space),
so a version 4 code (33 modules, plus the 4-module quiet zone on each side) takes 41 columns and 21 rows. The
modules are drawn black on white whatever the theme: a scanner looks for dark modules on a light ground, and a
dark theme's colours would invert the code. The widget builds each line's `Strip` itself (Textual's Line API),
so the data never passes through markup.
"""

from __future__ import annotations

from functools import lru_cache

import segno
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

QUIET_ZONE = 4
"""Light modules around the symbol, as ISO/IEC 18004 asks: a phone finds the code by its edge."""

DARK_ON_LIGHT = Style(color="#000000", bgcolor="#ffffff")
"""Foreground: the dark modules (the glyphs' ink); background: the light ones."""

HALF_BLOCKS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}
"""(upper module dark, lower module dark) -> the cell that draws the pair."""


@lru_cache(maxsize=16)
def qr_modules(data: str) -> tuple[tuple[bool, ...], ...]:
    """The symbol's modules (True: dark), quiet zone included, row by row.

    Error level L at least (segno raises it when that fits in the same version), never a Micro QR (phones'
    camera apps do not read those).
    """
    code = segno.make(data, error="L", micro=False)
    return tuple(tuple(bool(module) for module in row) for row in code.matrix_iter(scale=1, border=QUIET_ZONE))


def half_block_rows(modules: tuple[tuple[bool, ...], ...]) -> list[str]:
    """The modules as text rows of half blocks, two module rows a row (an odd last row pairs with light)."""
    rows = []
    for top in range(0, len(modules), 2):
        upper = modules[top]
        lower = modules[top + 1] if top + 1 < len(modules) else (False,) * len(upper)
        rows.append("".join(HALF_BLOCKS[pair] for pair in zip(upper, lower)))
    return rows


def qr_size(data: str) -> Size:
    """The cells a QR code of `data` takes (width, height)."""
    modules = qr_modules(data)
    return Size(len(modules[0]), (len(modules) + 1) // 2)


class QrCode(Widget):
    """A QR code of `data`, black on white, exactly its own size."""

    DEFAULT_CSS = """
    QrCode {
        width: auto;
        height: auto;
    }
    """

    def __init__(self, data: str, *, name: str | None = None, id: str | None = None, classes: str | None = None):
        super().__init__(name=name, id=id, classes=classes)
        self.data = data
        """What the code encodes."""
        self._rows = half_block_rows(qr_modules(data))

    @property
    def code_size(self) -> Size:
        """The cells the code takes."""
        return Size(len(self._rows[0]), len(self._rows))

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return self.code_size.width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.code_size.height

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y >= len(self._rows):
            return Strip.blank(width, DARK_ON_LIGHT)
        # Wider than the code (a stretched layout): the rest stays light, part of the quiet zone.
        return Strip([Segment(self._rows[y], DARK_ON_LIGHT)]).extend_cell_length(width, DARK_ON_LIGHT).crop(0, width)
