"""The garbage collector held off from launch to the first frame with rows (`tui.start`, `tui.launch`,
`tui.cli` hold it; the main screen releases it). A module of its own so the screens need not import `tui.start`."""

from __future__ import annotations

import gc

_collection_held = [False]
"""Whether `hold_collection` turned the garbage collector off (and `release_collection` has not turned it on)."""


def hold_collection() -> None:
    """Turn Python's garbage collector off until the first frame with rows (`release_collection`).

    The start creates some 60,000 objects that live as long as the dashboard (modules, classes, the stylesheet,
    the widgets), and the collector walked them again and again as they were made: about 10 ms of a start whose
    floor, a bare Textual app, is about 160 ms. Reference counting still frees everything that is not a cycle."""
    if gc.isenabled():
        gc.disable()
        _collection_held[0] = True


def release_collection() -> None:
    """Turn the collector back on if `hold_collection` turned it off (once; later calls do nothing).

    What the start made is moved out of the collector's sight first (`gc.freeze`): it lives until the dashboard
    quits, and walking its 70,000 objects (the first collection, due at once, would) takes 15-50 ms that the frames
    right after the first would wait for. The price: the start's garbage that is in cycles (about 2,000 objects,
    a few hundred kB) is kept."""
    if _collection_held[0]:
        _collection_held[0] = False
        gc.freeze()
        gc.enable()
