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
