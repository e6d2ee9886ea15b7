"""The dashboard application: wiring only (the database, the main screen, global keys, palette, clipboard).

What the dashboard shows and does lives in `tui/screens/` and `tui/widgets/`; the domain operations they call
live in `models/` and `mail/`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from functools import partial
from pathlib import Path

PAINT_FPS = "120"
"""Textual paints changes on a fixed grid of `TEXTUAL_FPS` ticks a second, so a change waits for the next tick:
up to 16.7 ms at Textual's 60. A search key paints twice (the key in the box, then its results a few ms later),
and its results waited for the tick after the first paint. At 120 a change waits at most 8.3 ms. Frames are
still painted only when something changed, and only the regions that did. A `TEXTUAL_FPS` the user set wins.
Set before Textual is imported: it reads the variable once (`textual.constants`)."""
os.environ.setdefault("TEXTUAL_FPS", PAINT_FPS)

from textual import events, on  # noqa: E402
from textual.app import ComposeResult, SystemCommand  # noqa: E402
from textual.color import Color, ColorParseError  # noqa: E402
from textual.screen import Screen  # noqa: E402
from textual.widgets import Static  # noqa: E402

from models import search_fill  # noqa: E402
from models.db import data_dir_for, database, is_server_url, open_database  # noqa: E402
from tui.key_actions import KeyAction  # noqa: E402
from tui.key_order import KeysInOrderApp  # noqa: E402
from tui.messages import DataChanged  # noqa: E402
from tui.palette import ActionCommands  # noqa: E402
from tui.screens.main import MainScreen  # noqa: E402
from tui.widgets.contact_table import COLUMNS, SORTABLE  # noqa: E402


MIN_WIDTH, MIN_HEIGHT = 60, 15
"""The smallest terminal the dashboard is drawn in; below it, `TooSmallScreen` says so until it grows."""


SETTINGS_FILE = "tui.json"
"""In the user's config directory: what the dashboard remembers between runs (the theme)."""


def settings_path() -> Path:
    """Where the dashboard's own settings live: `$XDG_CONFIG_HOME/client-portal/tui.json` on Linux (platformdirs
    picks the platform's place elsewhere)."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("client-portal")) / SETTINGS_FILE


def load_ui_settings(path: Path) -> tuple[dict, str | None]:
    """The saved settings, and why they could not be read (None when they could, or there are none yet).

    A damaged file is not fatal: the dashboard starts with the defaults and says so in one line.
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"Could not read {path}: {exc.strerror or exc}; using the default theme."
    try:
        settings = json.loads(raw)
    except ValueError:
        return {}, f"{path} is not valid JSON; using the default theme (choosing a theme rewrites it)."
    if not isinstance(settings, dict):
        return {}, f"{path} does not hold a JSON object; using the default theme (choosing a theme rewrites it)."
    return settings, None


def save_ui_settings(path: Path, settings: dict) -> None:
    """Write `settings` atomically (a temporary file beside it, then a rename), readable only by the user."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(prefix=".tui-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(settings, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def solid_muted_text(variables: dict[str, str]) -> str:
    """`$text-muted` made one opaque colour for the theme (`$text-muted-solid`): the text colour that contrasts
    with the theme's surface (white or black) at 60% over that surface.

    `$text-muted` is `auto 60%`, which is resolved against the background only where it is a widget's own colour.
    In a component class read as a partial Rich style (the header's labels, the table's "not invited") nothing
    resolves it and it is drawn white: unreadable on a light theme's grey. A theme that sets its own concrete
    `text-muted` keeps it; an ANSI theme keeps the terminal's colours.
    """
    muted = variables.get("text-muted", "")
    try:
        surface = Color.parse(variables["surface"])
    except (KeyError, ColorParseError):
        return variables.get("foreground", "ansi_default")
    if not muted.startswith("auto"):
        try:
            return Color.parse(muted).hex if Color.parse(muted).a == 1 else variables["foreground"]
        except ColorParseError:
            return variables.get("foreground", "ansi_default")
    if surface.ansi is not None or surface.a == 0:
        return variables.get("foreground", "ansi_default")
    return (surface + surface.get_contrast_text(0.6)).hex


class TooSmallScreen(Screen):
    """Covers everything while the terminal is too small to use: says how big it is and how big it must be.
    Nothing underneath is closed or lost; the screen goes away by itself when the terminal is large enough."""

    DEFAULT_CSS = """
    TooSmallScreen {
        align: center middle;
    }
    TooSmallScreen > Static {
        width: 100%;
        text-align: center;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static(self._message(), id="too-small", markup=False)

    def _message(self) -> str:
        width, height = self.app.size
        return (f"The terminal is {width}×{height}; client-portal needs at least {MIN_WIDTH}×{MIN_HEIGHT}.\n"
                "Make the window larger: nothing is lost. ctrl+q quits.")

    def on_resize(self, event: events.Resize) -> None:
        self.query_one("#too-small", Static).update(self._message())


class ClientPortalApp(KeysInOrderApp):
    """client-portal: get the agency's clients into its client portal."""

    TITLE = "client-portal"
    CSS_PATH = "app.tcss"
    COMMANDS = {ActionCommands}
    """The palette finds an action by its name or by the words of what it does (`tui.palette`)."""
    BINDINGS = [
        KeyAction("question_mark", "help", "Help", title="Keys and help", tooltip="Every key of the dashboard"),
        KeyAction("ctrl+q", "quit", "Quit at once", show=False, priority=True,
                  tooltip="Quit without asking, even while mail is being sent"),
    ]

    def __init__(self, db_path: Path, *, watch_css: bool = False) -> None:
        """Open the dashboard on a database file.

        Args:
            db_path: The SQLite file (created and migrated if new), or a PostgreSQL server's URL.
            watch_css: Reload `app.tcss` when it changes (development).
        """
        super().__init__(watch_css=watch_css)
        self.db_path = str(db_path).strip() if is_server_url(db_path) else Path(db_path).expanduser()
        """The database this dashboard shows."""
        self.data_dir = data_dir_for(self.db_path)
        """Beside the database: where the local Maildir is."""
        if database.obj is None or database.database != str(self.db_path) or database.is_closed():
            open_database(self.db_path)
        self.settings_path = settings_path()
        """The dashboard's own settings file (the theme), in the user's config directory."""
        self._ui_settings, self._settings_problem = load_ui_settings(self.settings_path)

    def get_default_screen(self) -> Screen:
        """The main screen is the first screen: not pushed over an empty one that Textual would style, lay out and
        then hide at start."""
        return MainScreen(self.db_path, self.data_dir)

    def on_mount(self) -> None:
        self._restore_theme()
        self.theme_changed_signal.subscribe(self, self._save_theme)
        self._check_size()
        search_fill.fill_in_thread()  # a big import's search index left unfilled: filled on a thread (issue 12)

    def get_css_variables(self) -> dict[str, str]:
        """Textual's theme variables, plus `$text-muted-solid` (see `solid_muted_text`)."""
        variables = super().get_css_variables()
        variables.setdefault("text-muted-solid", solid_muted_text(variables))
        self.theme_variables = variables
        return variables

    # --- the theme, remembered ---------------------------------------------------------------------------------

    def _restore_theme(self) -> None:
        theme = self._ui_settings.get("theme")
        problem = self._settings_problem
        if theme is not None:
            if isinstance(theme, str) and theme in self.available_themes:
                self.theme = theme
            else:
                problem = (f"The saved theme {str(theme)[:40]!r} is not one this version has; "
                           f"using {self.theme}.")
        if problem:
            self.notify(problem, title="Settings", severity="warning", markup=False)

    def _save_theme(self, theme) -> None:
        if self._ui_settings.get("theme") == theme.name:
            return
        settings = {**self._ui_settings, "theme": theme.name}
        try:
            save_ui_settings(self.settings_path, settings)
        except OSError as exc:
            self.notify(f"The theme is used now but could not be saved to {self.settings_path}: "
                        f"{exc.strerror or exc}", title="Settings", severity="warning", markup=False)
            return
        self._ui_settings = settings

    # --- quitting ----------------------------------------------------------------------------------------------

    @property
    def sending(self) -> bool:
        """Whether mail is being sent now: a send panel's worker is running on some screen."""
        from tui.widgets.send_panel import SendPanel

        for screen in self.screen_stack:
            for panel in screen.query(SendPanel):
                if panel.running:
                    return True
        return any(worker.group == "send" and worker.is_running for worker in self.workers)

    def action_quit_asking(self) -> None:
        """`q`: quit, asking first while mail is being sent (ctrl+q quits at once)."""
        if not self.sending:
            self.exit()
            return
        from tui.screens.confirm_quit import ConfirmQuitScreen

        def answered(quit: bool | None) -> None:
            if quit:
                self._cancel_sends()
                self.exit()

        self.push_screen(ConfirmQuitScreen(), answered)

    def _cancel_sends(self) -> None:
        """Ask every running sender to stop after the message it is on (the rest stays queued)."""
        from tui.widgets.send_panel import SendPanel

        for screen in self.screen_stack:
            for panel in screen.query(SendPanel):
                panel.cancel()

    async def _on_resize(self, event: events.Resize) -> None:
        # Textual's own handler stops the event (App.on_resize never runs); this one sees every resize.
        await super()._on_resize(event)
        self.call_later(self._check_size)

    def _check_size(self) -> None:
        small = self.size.width < MIN_WIDTH or self.size.height < MIN_HEIGHT
        shown = any(isinstance(screen, TooSmallScreen) for screen in self.screen_stack)
        if small and not shown:
            self.push_screen(TooSmallScreen())
        elif not small and isinstance(self.screen, TooSmallScreen):
            self.pop_screen()

    @property
    def main_screen(self) -> MainScreen | None:
        """The dashboard's main screen, wherever it is in the stack."""
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    @on(DataChanged)
    def _data_changed(self, message: DataChanged) -> None:
        if (main := self.main_screen) is not None:
            main.refresh_data()

    def action_help(self) -> None:
        """Show every key (from the main screen)."""
        if isinstance(self.screen, MainScreen):
            self.screen.action_help()

    def copy_text(self, text: str) -> str | None:
        """Copy `text` to every clipboard we can reach, and say which.

        OSC 52 (`copy_to_clipboard`) goes through the terminal, so it works over SSH and in tmux where the
        terminal allows it; `pyperclip` reaches the local clipboard where there is one and raises on a headless
        server, which is fine: the text is always on screen to be copied by hand too.
        In a browser (`client-portal web` sets `CLIENT_PORTAL_WEB_CLIPBOARD`), textual-serve's page hands OSC 52
        to the browser's clipboard, which browsers allow only on https and localhost pages; the server's own
        clipboard (pyperclip) is not the user's.

        Returns:
            Where the text went, for the message the user sees; None when it could not be copied.
        """
        browser = os.environ.get("CLIENT_PORTAL_WEB_CLIPBOARD")
        if browser is not None:
            if browser != "browser":
                return None
            self.copy_to_clipboard(text)
            return "to the browser's clipboard"
        self.copy_to_clipboard(text)
        try:
            import pyperclip

            pyperclip.copy(text)
        except Exception:  # PyperclipException on a headless server, or a clipboard tool that failed
            return "to the terminal's clipboard (OSC 52)"
        return "to the clipboard"

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette: every dashboard action that applies now (read from the bindings, once each), the sort
        by each column, then those of Textual's own commands that are not ours already.

        Textual's "Keys" (its key panel) is left out on the main screen: the dashboard's own help lists every
        key, and two commands called "Keys" were one too many.
        """
        ours: set[str] = set()
        if isinstance(screen, MainScreen):
            for title, help_text, callback in screen.palette_commands():
                ours.add(title)
                yield SystemCommand(title, help_text, callback)
            headings = dict(COLUMNS)
            for key in SORTABLE:
                label = headings[key].lower()
                ours.add(f"Sort by {label}")
                yield SystemCommand(f"Sort by {label}", f"Sort the contacts by {label} (S reverses)",
                                    partial(screen.sort_column, key))
            ours.add("Keys")
        for command in super().get_system_commands(screen):
            if command.title not in ours:
                yield command
