"""The magic link's QR code: what the dashboard draws is, module for module, the code `segno` makes of the link,
it fits at 80x24 (or the box says how to enlarge), a browser's picture of it scans back to the link, and the
magic-link box offers no dead keys (a revoked contact) and `m` never fails silently (an empty database).

The browser test comes last in this module: while Playwright's sync API is open, asyncio tests after it in the
same module would fail (see `tests.fixtures_browser.chromium_browser`).
"""

from __future__ import annotations

import base64

import pytest
import segno
from rich.style import Style
from textual.geometry import Size

from models import contacts, domains, links
from models.entities import MagicLink
from tests.fixtures_tui import HOSTILE_NAME, settle
from tui.screens.magic_link import MagicLinkScreen, QrCodeScreen, qr_placement
from tui.screens.main import MainScreen
from tui.widgets.qr_code import QrCode, qr_size

CELL_MODULES = {" ": (False, False), "▀": (True, False), "▄": (False, True), "█": (True, True)}
"""What a drawn cell says: (upper module dark, lower module dark)."""


def expected_modules(url: str) -> list[list[bool]]:
    """segno's own matrix of the link, with the 4-module quiet zone added here (and a light row to make the
    count even: the last cell row's lower half)."""
    code = segno.make(url, error="L", micro=False)
    side = len(code.matrix) + 8
    light = [False] * side
    rows = [light] * 4 + [[False] * 4 + [bool(m) for m in row] + [False] * 4 for row in code.matrix] + [light] * 4
    return rows + ([light] if len(rows) % 2 else [])


def drawn_modules(app, widget: QrCode) -> list[list[bool]]:
    """Read the modules back from what the screen's compositor draws in the widget's region.

    Every cell must be black ink on white, whatever the theme; a cell that is not one of the four half-block
    characters fails the test.
    """
    strips = app.screen._compositor.render_strips()
    region = widget.region
    assert region.right <= app.size.width and region.bottom <= app.size.height, "the code is cut off"
    modules: list[list[bool]] = []
    for y in range(region.y, region.bottom):
        cells: list[tuple[str, Style]] = [(ch, seg.style) for seg in strips[y] for ch in seg.text]
        upper, lower = [], []
        for ch, style in cells[region.x : region.right]:
            assert style.color.triplet == (0, 0, 0) and style.bgcolor.triplet == (255, 255, 255), (ch, style)
            up, down = CELL_MODULES[ch]
            upper.append(up)
            lower.append(down)
        modules += [upper, lower]
    return modules


async def open_magic_link(app, pilot, size) -> MagicLinkScreen:
    await settle(pilot)
    await pilot.press("m")
    await settle(pilot)
    assert isinstance(app.screen, MagicLinkScreen)
    return app.screen


# --- the code drawn is the link ------------------------------------------------------------------------------


@pytest.mark.parametrize("size, placement", [((80, 24), "beside"), ((120, 40), "beside"), ((60, 40), "under")])
async def test_the_drawn_code_is_segnos_code_of_the_link_module_for_module(portal_app, size, placement):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    app = portal_app()
    async with app.run_test(size=size) as pilot:
        screen = await open_magic_link(app, pilot, size)
        url = app.clipboard
        assert url.startswith("https://portal.example.com/login/")
        code = screen.query_one(QrCode)
        assert code.display and code.data == url
        assert screen.query_one("#link-layout").has_class(placement)
        assert not screen.query_one("#qr-hint").display
        assert drawn_modules(app, code) == expected_modules(url)
        # The link is still there as text, whole, beside or above the code.
        assert url in str(screen.query_one("#url").render()).replace("\n", "")


async def test_a_dark_or_light_theme_leaves_the_code_dark_on_light(portal_app):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        for theme in ("textual-light", "nord", "solarized-light"):
            app.theme = theme
            screen = await open_magic_link(app, pilot, (80, 24)) if not isinstance(app.screen, MagicLinkScreen) \
                else app.screen
            await pilot.pause()
            assert drawn_modules(app, screen.query_one(QrCode)) == expected_modules(screen.link.url), theme


async def test_too_small_a_terminal_says_how_to_enlarge_and_f_shows_the_code_alone(portal_app):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    app = portal_app()
    async with app.run_test(size=(80, 22)) as pilot:
        screen = await open_magic_link(app, pilot, (80, 22))
        url = screen.link.url
        assert not screen.query_one(QrCode).display
        hint = str(screen.query_one("#qr-hint").render())
        assert screen.query_one("#qr-hint").display
        assert "Enlarge the terminal to 80x24 to show the QR code here, or press f to show it alone." in hint
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, QrCodeScreen)
        alone = app.screen.query_one(QrCode)
        assert drawn_modules(app, alone) == expected_modules(url)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        # Enlarged, the code comes back beside the text.
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert screen.query_one(QrCode).display and not screen.query_one("#qr-hint").display
        assert drawn_modules(app, screen.query_one(QrCode)) == expected_modules(url)


async def test_a_long_domain_makes_a_larger_code_that_still_has_a_way_onto_an_80x24_screen(portal_app):
    domains.add_domain("portal.a-rather-longer-agency-name.example.co.uk", select=True)
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_magic_link(app, pilot, (80, 24))
        url = screen.link.url
        size = qr_size(url)
        assert segno.make(url, error="L", micro=False).version == 5 and size == (45, 23)
        assert not screen.query_one(QrCode).display
        assert "Enlarge the terminal to 82x26" in str(screen.query_one("#qr-hint").render())
        await pilot.press("f")
        await settle(pilot)
        assert drawn_modules(app, app.screen.query_one(QrCode)) == expected_modules(url)
        await pilot.press("escape")
        await pilot.resize_terminal(82, 26)
        await settle(pilot)
        assert drawn_modules(app, screen.query_one(QrCode)) == expected_modules(url)


def test_placement_follows_the_room_there_is():
    v4, v5 = qr_size("https://portal.example.com/login/" + "T" * 43), qr_size("https://x.example.com/" + "y" * 80)
    assert (v4, v5) == ((41, 21), (45, 23))
    assert qr_placement(Size(80, 24), v4) == "beside"
    assert qr_placement(Size(77, 24), v4) == "none"  # 41 + 32 + chrome: the text would be too narrow
    assert qr_placement(Size(60, 40), v4) == "under"
    assert qr_placement(Size(60, 33), v4) == "none"
    assert qr_placement(Size(80, 24), v5) == "none"
    assert qr_placement(Size(82, 26), v5) == "beside"


async def test_a_revoked_link_takes_its_code_with_it(portal_app):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_magic_link(app, pilot, (80, 24))
        assert screen.query(QrCode)
        await pilot.press("r", "r")  # the first asks, the second revokes
        await settle(pilot)
        assert links.current_link("ada@example.com").state == "revoked"
        assert not screen.query(QrCode)
        assert [screen.check_action(a, ()) for a in ("copy", "revoke", "qr_full_screen")] == [False] * 3


async def test_the_hostile_name_leaves_the_code_intact(portal_app):
    contacts.add_contact("mallory@example.com", HOSTILE_NAME, "[/]")
    app = portal_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_magic_link(app, pilot, (80, 24))
        assert drawn_modules(app, screen.query_one(QrCode)) == expected_modules(screen.link.url)


# --- a revoked contact: no dead keys --------------------------------------------------------------------------


async def test_a_revoked_contact_is_told_why_there_is_no_link_and_offered_no_dead_keys(portal_app):
    row = contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    links.issue_link(row.id)
    links.revoke_access(row.id)
    assert contacts.find_contact("ada@example.com").status == "revoked"
    before = MagicLink.select().count()
    app = portal_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_magic_link(app, pilot, (80, 24))
        status = str(screen.query_one("#status").render())
        assert "No link: this contact's portal access was revoked on" in status
        assert "invite them again" in status and "press i" in status
        assert not screen.query(QrCode) and not screen.query_one("#url").display
        assert [screen.check_action(a, ()) for a in ("copy", "revoke", "qr_full_screen")] == [False] * 3
        shown = {active.binding.action for active in app.active_bindings.values() if active.enabled}
        assert not shown & {"copy", "revoke", "qr_full_screen"}
        await pilot.press("c", "r", "f")
        await settle(pilot)
        assert app.screen is screen and app.clipboard == ""
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
    assert MagicLink.select().count() == before


# --- m with nothing to act on ---------------------------------------------------------------------------------


def _messages(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_m_on_an_empty_database_says_why_and_what_to_do(portal_app):
    app = portal_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert _messages(app) == ["No contacts yet: press a to add one, or c to import a CSV file."]
    assert MagicLink.select().count() == 0


async def test_m_with_a_search_that_matches_nobody_says_how_to_clear_it(portal_app):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    app = portal_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"zzz", "enter")
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert _messages(app) == ["No contact matches the search or filter: escape clears it."]
    assert MagicLink.select().count() == 0


# --- a picture of the screen scans (last: see the module docstring) ---------------------------------------------


def test_a_browser_picture_of_the_screen_scans_back_to_the_link(portal_app, browser_page, tmp_path):
    import asyncio
    import threading

    import zxingcpp

    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    app = portal_app()
    shot: dict[str, str] = {}

    async def run() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_magic_link(app, pilot, (80, 24))
            shot["url"] = screen.link.url
            shot["svg"] = app.export_screenshot()

    # In a thread of its own: the browser's sync API has left this thread's event loop marked running.
    worker = threading.Thread(target=asyncio.run, args=(run(),))
    worker.start()
    worker.join()
    assert "svg" in shot, "the dashboard did not draw the magic-link box"
    (tmp_path / "magic_link.svg").write_text(shot["svg"])  # to look at when this fails
    # The SVG asks a CDN for its font; this machine has no internet, so the browser uses a local monospace font.
    browser_page.route("http*://**", lambda route: route.abort())
    browser_page.set_content("<html><body style='margin:0'>" + shot["svg"] + "</body></html>")
    png = browser_page.screenshot(full_page=True)
    # The screenshot's pixels, grey and at half size, read by the browser itself (no image library needed). Half
    # size, as a phone sees a screen from arm's length: the SVG's fallback font leaves a hairline between cell
    # rows that a terminal does not draw, and at full size it cuts through every module row.
    gray_b64, width, height = browser_page.evaluate(
        """async ([png, scale]) => {
            const img = new Image();
            img.src = "data:image/png;base64," + png;
            await img.decode();
            const w = Math.round(img.width * scale), h = Math.round(img.height * scale);
            const canvas = document.createElement("canvas");
            canvas.width = w; canvas.height = h;
            const ctx = canvas.getContext("2d");
            ctx.drawImage(img, 0, 0, w, h);
            const rgba = ctx.getImageData(0, 0, w, h).data;
            let out = "";
            for (let i = 0; i < rgba.length; i += 4) {
                out += String.fromCharCode(Math.round((rgba[i] + rgba[i + 1] + rgba[i + 2]) / 3));
            }
            return [btoa(out), w, h];
        }""",
        [base64.b64encode(png).decode(), 0.5],
    )
    gray = base64.b64decode(gray_b64)
    # Not inverted: a code drawn light on dark would not count (many scanners read only dark on light).
    found = zxingcpp.read_barcodes(memoryview(gray).cast("B", (height, width)), try_invert=False)
    assert [barcode.text for barcode in found] == [shot["url"]]

