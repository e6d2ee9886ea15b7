"""Each email rendered once: the stand-in link of the rendering made before the contact's link is issued is
replaced by the real one (`mail.outbox._Substitution`), and what arrives is exactly what rendering with the real
link gives; a template that shows the link changed (for every contact, or for some) gets its emails rendered
again with the real link. Real aiosmtpd on loopback, real SQLite."""

from __future__ import annotations

from mail.outbox import OutboxSender
from mail.templates import Renderer, save_template
from models import contacts, outbox
from models.contacts import to_row
from models.entities import Contact, MagicLink
from models.links import hash_token

BASE = "https://portal.example.com/login/"


def _link_in(text: str) -> str:
    start = text.index(BASE)
    return text[start:start + len(BASE) + 43]


def _send(smtp_server, tmp_path, first_names: list[str]) -> dict[str, object]:
    """Login emails to one contact per first name, sent in one chunk; the messages by recipient."""
    ids = [contacts.add_contact(f"c{i}@example.com", name, f"Last{i}").id for i, name in enumerate(first_names)]
    batch = outbox.queue_login_emails(ids).batch
    summary = OutboxSender(smtp_server.config(tmp_path / "Maildir"), rate=0).send(batch)
    assert summary.sent == len(first_names), summary
    return {r.rcpt_tos[0]: r.message for r in smtp_server.handler.messages}


def test_each_email_is_what_rendering_with_its_own_link_gives(db, smtp_server, tmp_path):
    received = _send(smtp_server, tmp_path, ["Ada", "Bob", "Cy", "[/x] <a@b>"])
    renderer = Renderer("login")
    links = set()
    for email, msg in received.items():
        text = msg.get_body(("plain",)).get_content()
        url = _link_in(text)
        links.add(url)
        stored = MagicLink.get(MagicLink.token_hash == hash_token(url.rsplit("/", 1)[1]))
        again = renderer.render(to_row(Contact.get(Contact.email == email)), url, stored.expires_at)
        assert (msg["Subject"], text, msg.get_body(("html",)).get_content()) == (again.subject, again.text,
                                                                                  again.html)
    assert len(links) == len(received)  # each carries its own link, none a stand-in


def test_a_template_that_shows_the_link_changed_gets_the_real_link_changed(db, smtp_server, tmp_path):
    """The link's last characters shown apart: too short a piece of the stand-in to be noticed in one email, so
    the chunk's check (two stand-ins rendered) must find it."""
    save_template("login", text_body="Sign in: {{ link.url }}\nEnds with: {{ link.url[-6:] }}\n")
    received = _send(smtp_server, tmp_path, ["Ada", "Bob", "Cy"])
    for msg in received.values():
        text = msg.get_body(("plain",)).get_content()
        assert text == f"Sign in: {_link_in(text)}\nEnds with: {_link_in(text)[-6:]}\n", text


def test_a_template_that_changes_the_link_for_some_contacts_only_gets_theirs_rendered_again(
        db, smtp_server, tmp_path):
    """The chunk's check renders its first contact's email, for whom the link is shown as it is; Bob's shows it
    upper-cased, and his email must carry his own link so, not the stand-in's."""
    save_template("login", text_body="Sign in: {{ link.url }}\n"
                                     "{% if contact.first_name == 'Bob' %}Shouting: {{ link.url | upper }}\n"
                                     "{% endif %}")
    received = _send(smtp_server, tmp_path, ["Ada", "Bob", "Cy"])
    bob = received["c1@example.com"].get_body(("plain",)).get_content()
    assert bob == f"Sign in: {_link_in(bob)}\nShouting: {_link_in(bob).upper()}\n"
    ada = received["c0@example.com"].get_body(("plain",)).get_content()
    assert ada == f"Sign in: {_link_in(ada)}\n"
