"""One declaration per action: the key, the key bar's label, the palette's name and the help's words in one
`Binding`, from which the command palette, the help screen and the key bar are all read.

Why this file exists: the dashboard used to keep its bindings, a palette table and a help table side by side,
and they drifted (the palette listed "Keys" twice and missed select-one and reverse sort). Now a screen or
widget declares each action once in its `BINDINGS`: `description` is its short label in the key bar,
`tooltip` what it does (the palette's and the help's explanation), and `KeyAction.title` its name in the
palette and the help where the label is too short to say it (a plain `Binding` is named by its description).
An action bound to several keys (`↓` and `j`) is one entry, listed with all its keys. What the key bar says
in a context (a selection, a filter, no contacts yet) is declared there too (`KeyAction.selection_label`...).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual.binding import Binding
from textual.dom import DOMNode


@dataclass(frozen=True)
class KeyAction(Binding):
    """A `Binding` that also carries its name for the command palette and the help screen."""

    title: str = ""
    """The action's name in the palette and the help ("Copy portal URL" where the key bar says "URL"); empty:
    the description is the name."""
    selection_label: str = ""
    """The key bar's label while contacts are selected (`{n}`: how many), shown first then; empty: the key
    shows as usual (or not at all, with `show=False`)."""
    filter_label: str = ""
    """The key bar's label while a search or a status filter hides contacts, shown first then."""
    empty_label: str = ""
    """The key bar's label when there are no contacts at all; on the empty dashboard only these keys show."""


def title_of(binding: Binding) -> str:
    """The name the palette and the help give `binding`'s action."""
    return getattr(binding, "title", "") or binding.description


@dataclass
class DeclaredAction:
    """One action of a screen, widget or app, with every key bound to it."""

    action: str
    """As bound: a name on the node that declares it (`invite`) or a namespaced one (`app.quit_asking`)."""
    keys: list[str]
    """The keys, in the order declared (`down`, `j`)."""
    title: str
    """Its name in the palette and the help."""
    help: str
    """What it does, in a sentence (the binding's tooltip)."""
    binding: Binding
    """The first binding declared for it."""

    @property
    def name(self) -> str:
        """The action without its namespace (`quit_asking`)."""
        return self.action.rpartition(".")[2]


def declared_bindings(cls: type[DOMNode]) -> list[Binding]:
    """The bindings `cls` and its bases declare, in declaration order, base classes first (as Textual merges
    them), leaving out Textual's own (tab, ctrl+c: they are the toolkit's, listed by hand where they matter)."""
    out: list[Binding] = []
    for base in reversed(cls.__mro__):
        if not (isinstance(base, type) and issubclass(base, DOMNode)):
            continue
        if not base._inherit_bindings:
            out.clear()
        if base.__module__.split(".")[0] == "textual":
            continue
        for binding in base.__dict__.get("BINDINGS", []):
            out.append(binding if isinstance(binding, Binding) else Binding(*binding))
    return out


def declared_actions(bindings: Iterable[Binding]) -> list[DeclaredAction]:
    """`bindings` grouped by action, in the order each action is first declared."""
    actions: dict[str, DeclaredAction] = {}
    for binding in bindings:
        keys = [key.strip() for key in binding.key.split(",") if key.strip()]
        entry = actions.get(binding.action)
        if entry is None:
            actions[binding.action] = DeclaredAction(binding.action, keys, title_of(binding), binding.tooltip,
                                                     binding)
            continue
        entry.keys.extend(key for key in keys if key not in entry.keys)
        entry.title = entry.title or title_of(binding)
        entry.help = entry.help or binding.tooltip
    return list(actions.values())


def check(node: DOMNode, action: str) -> bool | None:
    """Whether `action` (as bound on `node`, maybe namespaced) applies now: True, False (shown dimmed) or None
    (hidden), as the node it runs on says."""
    namespace, _, name = action.rpartition(".")
    target: DOMNode = node
    if namespace == "app":
        target = node.app
    elif namespace == "screen":
        target = node.screen
    return target.check_action(name, ())


def context_label(binding: Binding, context: str) -> str:
    """The key bar's label for `binding` in `context` ("selection", "filter" or "empty"); empty when it has none
    there."""
    return getattr(binding, f"{context}_label", "")
