"""What a demanding user's trial of the mail settings found (session 21), kept fixed."""

from __future__ import annotations

import pytest

from mail.config import MailConfig
from models.errors import InvalidInput


@pytest.mark.parametrize("name", ["SMTP_TIMEOUT", "SMTP_DEADLINE"])
@pytest.mark.parametrize("value", ["0", "-1", "601", "soon"])
def test_a_refused_number_of_seconds_is_said_with_the_range_it_really_takes(tmp_path, name, value):
    # "must be a number of seconds between 0 and 600, got '0'" refused the very number it named.
    with pytest.raises(InvalidInput) as refused:
        MailConfig.from_env(tmp_path, {"CLIENT_PORTAL_SMTP_HOST": "smtp.example.com", f"CLIENT_PORTAL_{name}": value})
    assert str(refused.value) == (f"CLIENT_PORTAL_{name} must be a number of seconds more than 0 and at most 600, "
                                  f"got {value!r}")


def test_the_ends_of_that_range_are_taken(tmp_path):
    config = MailConfig.from_env(tmp_path, {"CLIENT_PORTAL_SMTP_HOST": "smtp.example.com",
                                            "CLIENT_PORTAL_SMTP_TIMEOUT": "0.5", "CLIENT_PORTAL_SMTP_DEADLINE": "600"})
    assert (config.timeout, config.deadline) == (0.5, 600)


def test_saving_the_built_in_text_keeps_following_the_built_in_template(db):
    from mail.templates import default_template, get_template, save_template
    from models.entities import Template

    default = default_template("invite")
    # ctrl+s in the templates dialog with nothing edited made the built-in template an "edited (saved)" copy.
    save_template("invite", subject=default.subject)
    assert get_template("invite").is_default and Template.select().count() == 0
    # An edit undone by hand, then saved, goes back to the built-in template too.
    save_template("invite", subject="Welcome, {{ contact.first_name }}")
    assert not get_template("invite").is_default
    save_template("invite", subject=default.subject)
    assert get_template("invite").is_default and Template.select().count() == 0


def test_templates_set_with_the_built_in_text_lists_it_as_the_default(cli, tmp_path):
    from mail.templates import default_template

    body = tmp_path / "login.txt"
    body.write_text(default_template("login").text_body, encoding="utf-8")
    assert cli("templates", "set", "login", "--body-file", str(body)).exit_code == 0
    listed = cli("templates", "list").stdout.splitlines()
    assert listed[1].split()[:2] == ["login", "default"], listed


def test_a_mistyped_batch_is_refused_not_sent_as_nothing(cli):
    assert cli("domains", "add", "portal.example.com").exit_code == 0
    queued = cli("invite", "ada@example.com", "--json")
    batch = __import__("json").loads(queued.stdout)["batch"]
    # "sent 0, failed 0, skipped 0" and exit 0 told a script that batch "nope" had all gone out.
    for command in (("outbox", "send", "--batch", batch[:-1]), ("outbox", "list", "--batch", batch[:-1]),
                    ("outbox", "retry", "--batch", batch[:-1])):
        result = cli(*command)
        assert result.exit_code == 1, command
        assert result.stderr.splitlines() == [f"error: no mail was queued in batch {batch[:-1]!r}; each message's "
                                              "batch is in: client-portal outbox list --json"]
    listed = cli("outbox", "list", "--batch", batch)
    assert listed.exit_code == 0 and "ada@example.com" in listed.stdout
    sent = cli("outbox", "send", "--batch", batch)
    assert sent.exit_code == 0 and "sent 1" in sent.stdout + sent.stderr
