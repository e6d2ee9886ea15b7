"""Templates: defaults, every custom value, refusals at save time (value, syntax, line), escaping, preview."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mail import templates
from mail.templates import (
    PLACEHOLDERS,
    TEMPLATE_NAMES,
    get_template,
    preview,
    render,
    reset_template,
    save_template,
)
from models import contacts, settings
from models.contacts import ContactRow
from models.entities import AuditEntry, MagicLink, Template
from models.errors import InvalidInput, NotFound

LINK = "https://portal.example.com/login/" + "T" * 43
EXPIRES = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def _contact(**fields) -> ContactRow:
    values = dict(id=1, email="ada@example.com", first_name="Ada", last_name="Lovelace", company="Acme Ltd",
                  phone="", status="invited", invited_at=None, last_login_at=None)
    values.update(fields)
    return ContactRow(**values)


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_defaults_render_a_subject_a_text_body_and_an_html_button_with_the_link(db, name):
    source = get_template(name)
    assert source.is_default
    email = render(name, _contact(), LINK, EXPIRES)
    assert "\n" not in email.subject and "Your agency" in email.subject
    assert email.text.startswith("Hello Ada,\n") and LINK in email.text
    assert f'<a href="{LINK}"' in email.html and "Hello Ada," in email.html
    assert "25 November 2026, 09:30 UTC" in email.text
    assert ("7 days" if name == "invite" else "24 hours") in email.text
    assert "https://portal.example.com/" in email.text


def test_every_custom_value_renders(db):
    body = "\n".join(f"{key}=[{{{{ {key} }}}}]" for key in PLACEHOLDERS)
    save_template("login", subject="x", text_body=body, html_body=body)
    settings.set_value("agency_name", "Hopper & Co")
    email = render("login", _contact(), LINK, EXPIRES)
    assert email.text.splitlines() == [
        "contact.first_name=[Ada]",
        "contact.last_name=[Lovelace]",
        "contact.full_name=[Ada Lovelace]",
        "contact.email=[ada@example.com]",
        "contact.company=[Acme Ltd]",
        f"link.url=[{LINK}]",
        "link.expires_at=[25 November 2026, 09:30 UTC]",
        "link.valid_for=[24 hours]",
        "portal.url=[https://portal.example.com/]",
        "agency.name=[Hopper & Co]",
    ]
    assert "agency.name=[Hopper &amp; Co]" in email.html


def test_a_contact_without_a_first_name_gets_the_fallback_greeting(db):
    email = render("invite", _contact(first_name="", last_name=""), LINK, EXPIRES)
    assert email.text.startswith("Hello there,\n")


def test_html_is_escaped_and_text_is_not(db):
    save_template("invite", subject="For {{ contact.full_name }}", text_body="{{ contact.full_name }} {{ link.url }}",
                  html_body="<b>{{ contact.full_name }}</b> {{ link.url }}")
    nasty = _contact(first_name="<script>alert(1)</script>", last_name="[/x] <a@b>\x1b[31m\r\nBcc: evil@x.com")
    email = render("invite", nasty, LINK, EXPIRES)
    assert "<script>" not in email.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "[/x] &lt;a@b&gt;" in email.html
    assert email.text.startswith("<script>alert(1)</script> [/x] <a@b>[31m")
    assert "\x1b" not in email.text + email.html + email.subject
    # The subject is one line whatever the data holds.
    assert "\n" not in email.subject and "\r" not in email.subject


@pytest.mark.parametrize(
    "part,source,message",
    [
        ("text_body", "Hi {{ contact.nickname }}\n{{ link.url }}", "line 1: unknown value {{ contact.nickname }}"),
        ("text_body", "Hi\n\n{{ first_name }} {{ link.url }}",
         "line 3: unknown value {{ first_name }}; did you mean {{ contact.first_name }}?"),
        ("html_body", "<p>{{ link.url }}</p>\n<p>{{ contact.emial }}</p>",
         "HTML body, line 2: unknown value {{ contact.emial }}; did you mean {{ contact.email }}?"),
        ("subject", "Hello {{ contact.first_name }", "subject, line 1: syntax error"),
        ("html_body", "{{ link.url }}\n{% if contact.first_name %}\nno end", "Jinja was looking for the following tags: 'elif' or 'else' or 'endif'"),
        ("text_body", "{{ contact }} {{ link.url }}", "{{ contact }} needs a field"),
        ("text_body", "{{ contact['nickname'] }} {{ link.url }}", "unknown value {{ contact.nickname }}"),
        ("text_body", "{{ link.url.__class__ }} {{ link.url }}", "not allowed in a template: access to attribute"),
        ("text_body", "{{ ''.__class__.__mro__ }} {{ link.url }}", "not allowed in a template"),
        ("text_body", "{{ contact.first_name[0] }} {{ link.url }}", "unknown value"),  # breaks for an empty name
        ("text_body", "{{ 1 / 0 }} {{ link.url }}", "cannot be rendered: division by zero"),
        ("text_body", "Hello, no link here", "must contain the magic link {{ link.url }}"),
        ("html_body", "<p>No button</p>", "HTML body must contain the magic link {{ link.url }}"),
        ("text_body", "{% if contact.first_name %}{{ link.url }}{% endif %}",
         "must contain the magic link {{ link.url }} outside any {% if %}"),
        ("subject", "{{ contact.first_name }}", "subject is empty for a contact with only an email address"),
        ("subject", "x" * 100_001, "at most 100,000"),
    ],
)
def test_saving_refuses_what_would_fail_mid_batch(db, part, source, message):
    with pytest.raises(InvalidInput) as info:
        save_template("login", **{part: source})
    assert message in str(info.value)
    assert f"the login {templates.PART_LABELS[part]}" in str(info.value)
    assert Template.select().count() == 0
    assert get_template("login").is_default


def test_a_saved_template_is_used_and_reset_goes_back_to_the_default(db):
    save_template("login", subject="Sign in, {{ contact.first_name }}")
    source = get_template("login")
    assert not source.is_default and source.subject == "Sign in, {{ contact.first_name }}"
    assert source.text_body == templates.default_template("login").text_body  # parts not given are kept
    assert render("login", _contact(), LINK, EXPIRES).subject == "Sign in, Ada"
    assert AuditEntry.select().where(AuditEntry.action == "template.set").count() == 1

    save_template("login", text_body="Hi\r\n{{ link.url }}\r\n")
    assert get_template("login").text_body == "Hi\n{{ link.url }}\n"

    reset_template("login")
    assert get_template("login").is_default
    assert get_template("invite").is_default


def test_unknown_template_names_are_not_found(db):
    with pytest.raises(NotFound):
        get_template("welcome")
    with pytest.raises(NotFound):
        save_template("welcome", subject="x")
    with pytest.raises(InvalidInput):
        save_template("login")  # nothing to change


def test_preview_issues_no_token_and_writes_nothing(db, frozen_clock):
    contact = contacts.add_contact("ada@example.com", "Ada")
    links_before = MagicLink.select().count()
    audit_before = AuditEntry.select().count()

    email = preview("invite", contact)

    assert "https://portal.example.com/login/<link made when sent>" in email.text
    assert "https://portal.example.com/login/&lt;link made when sent&gt;" in email.html
    assert f"{(frozen_clock[0] + timedelta(days=7)).day} December 2026" in email.text
    assert MagicLink.select().count() == links_before
    assert AuditEntry.select().count() == audit_before


@pytest.mark.parametrize(
    "delta,text",
    [(timedelta(hours=24), "24 hours"), (timedelta(days=7), "7 days"), (timedelta(hours=1), "1 hour"),
     (timedelta(minutes=90), "90 minutes"), (timedelta(hours=48), "2 days"), (timedelta(hours=36), "36 hours")],
)
def test_durations_read_naturally(delta, text):
    assert templates.format_duration(delta) == text
