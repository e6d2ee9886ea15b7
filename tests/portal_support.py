"""Shared by the portal service's tests: the app on a real SQLite file behind Starlette's TestClient, and helpers
that act as the contact's browser (read the confirm page, press its button).

Import the fixtures into a test module (`from tests.portal_support import portal, ...`); pytest finds them there.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # Starlette 1.x warns that its TestClient will move to httpx2; httpx is what it runs on today.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from models import contacts, links
from models.portal import invite
from portal.app import create_app

ORIGIN = "https://portal.example.com"
"""Where the tests' portal is served (the test database's default domain)."""

SAME_ORIGIN = {"origin": ORIGIN}
"""What a browser sends with a POST from one of the portal's own pages (most browsers; see `same_origin`)."""

HOSTILE_NAME = "[/x] <a@b> \x1b[31m"
"""A first name with markup, HTML and an escape sequence in it (STYLE.md: every test set has one)."""

_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


@dataclass
class Portal:
    """A running app and a client for it."""

    app: object
    client: TestClient
    db_path: Path

    def new_client(self, **options) -> TestClient:
        """Another client (another browser) for the same app; the caller closes it."""
        return TestClient(self.app, base_url=ORIGIN, follow_redirects=False, **options)


def make_portal(db_path: Path, **app_options) -> Iterator[Portal]:
    app = create_app(db_path, **app_options)
    with TestClient(app, base_url=ORIGIN, follow_redirects=False) as client:
        yield Portal(app, client, db_path)


@pytest.fixture
def portal(db, db_path: Path) -> Iterator[Portal]:
    """The portal service on the test database (default domain set up), lifespan running, no sender."""
    yield from make_portal(db_path)


def invited(email: str = "ada@example.com", first_name: str = "Ada", purpose: str = "invite") -> links.IssuedLink:
    """A contact with a fresh link of `purpose` (an invitation by default), as if the email had been sent."""
    contacts.add_contact(email, first_name=first_name, last_name="Lovelace", company="Analytical Engines")
    invite([email])  # invited (the invitation queued, as the dashboard does)
    return links.issue_link(email, purpose=purpose)


def csrf_of(html: str) -> str:
    """The confirm form's CSRF field, as a browser would submit it."""
    found = _CSRF.search(html)
    assert found, "the page has no confirm form"
    return found.group(1)


def press_button(client: TestClient, token: str, headers: dict[str, str] | None = None):
    """Open the link's page and press its button: GET, then POST the form with its CSRF field."""
    page = client.get(f"/login/{token}")
    assert page.status_code == 200, page.text
    return client.post(f"/login/{token}", data={"csrf": csrf_of(page.text)},
                       headers=SAME_ORIGIN if headers is None else headers)
