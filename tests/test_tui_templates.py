"""The template editor (`t`, or "Email templates" in the palette), driven as a user would.

A saved template is checked on the database and by the next email sent through a real aiosmtpd on loopback;
a refused save says what `client-portal templates set` says and keeps every character typed; unsaved edits
survive switching templates and closing asks first; reset goes back to the built-in default.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input, Select, Static, TextArea

from mail.templates import default_template, get_template
from models import contacts, templates as stored_templates
from tests.fixtures_tui import HOSTILE_NAME, settle
from tui.screens.main import MainScreen
from tui.screens.templates import DiscardScreen, ResetScreen, TemplateEditorScreen

NEW_SUBJECT = "Welcome aboard {{ contact.email }}"


@pytest.fixture
def smtp_env(smtp_server, monkeypatch):
    """The dashboard sends through the test server."""
    for key, value in smtp_server.env().items():
        monkeypatch.setenv(key, value)
    return smtp_server


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space", "\n": "enter"}.get(ch, ch) for ch in text])
    await preview_drawn(pilot)


async def preview_drawn(pilot) -> None:
    """Let the preview's debounce timer fire (it starts the preview's worker), then wait for that worker."""
    from tui.screens.templates import PREVIEW_DELAY

    await pilot.pause(PREVIEW_DELAY * 2)
    await settle(pilot)


async def open_editor(pilot, how: str = "key") -> TemplateEditorScreen:
    await settle(pilot)
    if how == "key":
        await pilot.press("t")
    else:
        await pilot.press("ctrl+p")
        await settle(pilot)
        await type_text(pilot, "Email templates")
        await settle(pilot)
        await pilot.press("enter")
    await preview_drawn(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, TemplateEditorScreen)
    return screen


async def replace_subject(pilot, screen: TemplateEditorScreen, subject: str) -> None:
    box = screen.query_one("#subject", Input)
    box.focus()
    await pilot.press("end", "shift+home", "backspace")
    await type_text(pilot, subject)
    await settle(pilot)


async def pick(pilot, screen: TemplateEditorScreen, name: str) -> None:
    """Choose template `name` in the picker with the keyboard."""
    select = screen.query_one("#template", Select)
    select.focus()
    await pilot.press("enter")
    await settle(pilot)
    steps = screen.names.index(name) - screen.names.index(screen.current)
    for _ in range(abs(steps)):
        await pilot.press("down" if steps > 0 else "up")
    await pilot.press("enter")
    await settle(pilot)
    assert screen.current == name


def outcome(screen) -> str:
    return str(screen.query_one("#outcome", Static).render())


async def test_t_saves_a_template_that_the_next_invitation_uses(portal_app, smtp_env):
    app = portal_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        screen = await open_editor(pilot, "key")
        assert screen.current == "invite"
        await replace_subject(pilot, screen, NEW_SUBJECT)
        body = screen.query_one("#text_body", TextArea)
        body.focus()
        await type_text(pilot, "A line only the edit has.\n")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Saved the invite template" in outcome(screen)
        stored = stored_templates.get_stored("invite")
        assert stored is not None and stored.subject == NEW_SUBJECT
        assert stored.text_body.startswith("A line only the edit has.\n")
        await pilot.press("escape")  # nothing unsaved: closes at once
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)

        await pilot.press("i")
        await settle(pilot)
        await type_text(pilot, "nora@example.com")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.stage == "done"
    assert smtp_env.handler.wait_for(1)
    received = smtp_env.handler.by_recipient()["nora@example.com"][0].message
    assert received["Subject"] == "Welcome aboard nora@example.com"
    assert "A line only the edit has." in received.get_body(("plain",)).get_content()


async def test_the_palette_opens_the_editor_and_the_login_email_uses_the_saved_subject(portal_app, smtp_env):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    app = portal_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = await open_editor(pilot, "palette")
        await pick(pilot, screen, "login")
        assert screen.query_one("#subject", Input).value == get_template("login").subject
        await replace_subject(pilot, screen, "Your sign-in link, {{ contact.first_name }}")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert stored_templates.get_stored("login").subject == "Your sign-in link, {{ contact.first_name }}"
        assert stored_templates.get_stored("invite") is None  # only the template shown was saved
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.stage == "done"
    assert smtp_env.handler.wait_for(1)
    assert smtp_env.handler.by_recipient()["ada@example.com"][0].message["Subject"] == "Your sign-in link, Ada"


@pytest.mark.parametrize("typed", [
    "Dear {{ contact.frist_name }},\n",  # an unknown custom value
    "{% if contact.company %}\n",  # a syntax error (the if is never closed)
    "{% for x in contact.email %}{{ x }}{% endfor %}\n",  # syntax a template may not use
])
async def test_a_refused_save_says_what_the_cli_says_and_keeps_the_text(portal_app, cli, tmp_path, typed):
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_editor(pilot)
        body = screen.query_one("#text_body", TextArea)
        body.focus()
        await type_text(pilot, typed)
        await settle(pilot)
        typed_text = body.text
        # The preview already says that saving would be refused, and why.
        assert "Saving would be refused" in str(screen.query_one("#preview-text", Static).render())
        await pilot.press("ctrl+s")
        await settle(pilot)
        shown = outcome(screen)
        assert body.text == typed_text  # every character typed is still there
        assert isinstance(app.screen, TemplateEditorScreen)
    assert stored_templates.get_stored("invite") is None
    # The command line refuses the same text with the same words.
    path = tmp_path / "body.txt"
    path.write_text(typed_text, encoding="utf-8")
    result = cli("templates", "set", "invite", "--body-file", str(path))
    assert result.exit_code != 0
    cli_message = result.output.strip().removeprefix("error: ")
    assert shown == "Not saved: " + cli_message


async def test_unsaved_edits_survive_switching_templates_and_closing_asks_first(portal_app):
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_editor(pilot)
        await replace_subject(pilot, screen, "Half-typed subject")
        await pick(pilot, screen, "login")
        assert screen.query_one("#subject", Input).value == default_template("login").subject
        await pick(pilot, screen, "invite")
        assert screen.query_one("#subject", Input).value == "Half-typed subject"
        assert "not saved" in str(screen.query_one("#state", Static).render())

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DiscardScreen)
        await pilot.press("n")  # back to the edit
        await settle(pilot)
        assert app.screen is screen
        assert screen.query_one("#subject", Input).value == "Half-typed subject"

        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("y")  # discard
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
    assert stored_templates.get_stored("invite") is None


async def test_reset_asks_then_goes_back_to_the_built_in_template(portal_app):
    from mail.templates import save_template

    save_template("invite", subject="An old edit for {{ contact.email }}")
    app = portal_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_editor(pilot)
        assert screen.query_one("#subject", Input).value == "An old edit for {{ contact.email }}"
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, ResetScreen)
        await pilot.press("n")
        await settle(pilot)
        assert stored_templates.get_stored("invite") is not None  # n keeps the edit
        await pilot.press("ctrl+r")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert app.screen is screen
        assert stored_templates.get_stored("invite") is None
        assert get_template("invite").is_default
        assert screen.query_one("#subject", Input).value == default_template("invite").subject
        assert "built-in default again" in outcome(screen)


async def test_the_preview_is_for_the_highlighted_contact_as_text_and_html_and_scrolls(portal_app, db):
    contacts.add_contact("hostile@example.com", HOSTILE_NAME, "Zed")
    app = portal_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_editor(pilot)
        text = str(screen.query_one("#preview-text", Static).render())
        assert "To: " in text and "hostile@example.com" in text
        assert "\x1b" not in text and "Subject: " in text
        assert "http://" in text or "https://" in text
        html = str(screen.query_one("#preview-html", Static).render())
        assert "<" in html and "&lt;a@b&gt;" in html  # the HTML as text, the name escaped in it
        scroll = screen.query_one("#scroll-text")
        assert scroll.max_scroll_y > 0  # at 80x24 the email is longer than the box: it scrolls
        scroll.focus()
        await pilot.press("down", "down")
        await settle(pilot)
        assert scroll.scroll_y > 0


async def test_saving_a_template_as_it_is_changes_nothing(portal_app):
    """ctrl+s with nothing edited used to store a copy of the built-in default ("edited (saved)"), which then no
    longer followed a new version's default. Now it says there is nothing to save, and stores nothing; the same for
    a saved edit saved again."""
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_editor(pilot, "key")
        assert screen.current == "invite"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Nothing to save: the invite template is the built-in default." in outcome(screen)
        assert stored_templates.get_stored("invite") is None
        assert screen.defaults["invite"] and not screen.changed

        await replace_subject(pilot, screen, NEW_SUBJECT)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Saved the invite template" in outcome(screen)
        saved = stored_templates.get_stored("invite")
        await pilot.press("ctrl+s")  # again, with nothing typed since
        await settle(pilot)
        assert "Nothing to save: the invite template is as saved." in outcome(screen)
        assert stored_templates.get_stored("invite") == saved
