"""The domain operations the dashboard's revoke, export and settings boxes call (`models.links.plan_revoke` and
`revoke_access_many`, `models.csv_io.export_file` of chosen contacts, `models.settings.set_values`), on a real
SQLite file, with the command line's behaviour as the reference."""

from __future__ import annotations

import csv
import io

import pytest

from models import contacts, csv_io, links, portal, settings
from models.entities import OUTBOX_QUEUED, STATUS_REVOKED, AuditEntry, OutboxMessage
from models.errors import InvalidInput


@pytest.fixture
def many(db, frozen_clock):
    """450 invited contacts (each with a queued invitation and an open invitation link) and one revoked."""
    rows = [contacts.add_contact(f"c{i:03}@example.com") for i in range(450)]
    portal.invite([row.email for row in rows])
    for row in rows:
        links.issue_link(row.id, "invite")
    gone = contacts.add_contact("gone@example.com")
    links.revoke_access(gone.id)
    return rows, gone


def test_plan_counts_what_stops_working_across_chunks(many):
    rows, gone = many
    ids = [row.id for row in rows] + [gone.id, 999_999]
    plan = links.plan_revoke(ids)
    assert (plan.contacts, plan.already_revoked, plan.missing) == (450, 1, 1)
    assert plan.open_links == 450
    assert plan.queued_messages == OutboxMessage.select().where(OutboxMessage.status == OUTBOX_QUEUED).count() == 450
    assert plan.sample == ("c000@example.com", "c001@example.com", "c002@example.com")
    assert contacts.get_contact(rows[0].id).status == "invited"  # the plan changes nothing


def test_revoke_many_does_what_revoke_does_for_each_and_leaves_the_revoked_alone(many):
    rows, gone = many
    before = contacts.get_contact(gone.id).revoked_at
    result = links.revoke_access_many([row.id for row in rows] + [gone.id])
    assert (result.revoked, result.links, result.skipped) == (450, 450, 1)
    assert {contacts.get_contact(row.id).status for row in rows} == {STATUS_REVOKED}
    assert OutboxMessage.select().where(OutboxMessage.status == OUTBOX_QUEUED).count() == 0
    assert links.plan_revoke([row.id for row in rows]).open_links == 0
    assert AuditEntry.select().where(AuditEntry.action == "revoke").count() == 451  # 450 + gone's own
    assert contacts.get_contact(gone.id).revoked_at == before


def test_export_of_chosen_contacts_is_the_full_export_s_rows_for_them(db, frozen_clock, tmp_path):
    rows = [contacts.add_contact(f"p{i}@example.com", f"=cmd{i}") for i in range(1200)]
    full = io.StringIO()
    csv_io.export_contacts(full)
    chosen = [rows[5].id, rows[1100].id, rows[600].id, rows[5].id]
    assert csv_io.export_file(tmp_path / "some.csv", chosen) == 3
    lines = full.getvalue().splitlines()
    wanted = [lines[0]] + [lines[1 + i] for i in (5, 600, 1100)]
    assert (tmp_path / "some.csv").read_text(encoding="utf-8-sig").splitlines() == wanted
    assert list(csv.reader(io.StringIO(wanted[1])))[0][1] == "'=cmd5"  # formulas guarded as in the full export


def test_export_does_not_replace_a_file_unless_told(db, tmp_path):
    target = tmp_path / "x.csv"
    target.write_text("mine")
    with pytest.raises(csv_io.FileExists, match="already exists"):
        csv_io.export_file(target, replace=False)
    assert target.read_text() == "mine"
    assert csv_io.export_file(target, replace=True) == 0
    assert target.read_text(encoding="utf-8-sig").startswith("email,")
    with pytest.raises(InvalidInput, match="it is a folder"):
        csv_io.export_file(tmp_path)


@pytest.mark.parametrize("key,value", [
    ("invite_ttl_hours", "0"), ("send_rate", "fast"), ("agency_name", ""), ("agency_name", "a\u202eb"),
    ("portal_callback_url", "http://example.com/"), ("nope", "1"),
])
def test_check_value_refuses_with_set_value_s_message(db, key, value):
    with pytest.raises(InvalidInput) as by_set:
        settings.set_value(key, value)
    with pytest.raises(InvalidInput) as by_check:
        settings.check_value(key, value)
    assert str(by_check.value) == str(by_set.value)


def test_set_values_is_all_or_none_with_each_field_s_message(db, frozen_clock):
    with pytest.raises(settings.SettingsRefused) as refused:
        settings.set_values({"agency_name": "Acme", "login_ttl_hours": "999", "send_rate": "0"})
    assert set(refused.value.problems) == {"login_ttl_hours", "send_rate"}
    assert refused.value.problems["send_rate"].startswith("send_rate must be a number from 0.01 to 1000")
    assert settings.get("agency_name") == "Your agency"
    settings.set_values({"agency_name": " Acme ", "login_ttl_hours": "48"})
    assert (settings.get("agency_name"), settings.get("login_ttl_hours")) == ("Acme", 48)
    stored = AuditEntry.select().where(AuditEntry.action == "setting")
    assert sorted(e.subject for e in stored) == ["agency_name", "login_ttl_hours"]  # nothing of the refused try


def test_revoke_many_leaves_each_contact_as_revoke_access_does(db, frozen_clock, fixed_actor):
    """The set-based bulk revoke and the one-by-one revoke give the same rows, outbox and audit entry."""
    from models.entities import Contact, MagicLink

    def setup(email: str) -> int:
        row = contacts.add_contact(email)
        portal.invite([email])
        links.issue_link(email, "invite")
        links.issue_link(email)  # login, shown
        return row.id

    one, many = setup("one@example.com"), setup("many@example.com")
    links.revoke_access(one)
    assert links.revoke_access_many([many]) == links.RevokeResult(1, 2, 0)

    def state(contact_id: int):
        c = Contact.get_by_id(contact_id)
        mail = sorted((m.kind, m.status, m.last_error) for m in OutboxMessage.select().where(
            OutboxMessage.contact == contact_id))
        open_links = MagicLink.select().where((MagicLink.contact == contact_id) & MagicLink.revoked_at.is_null()
                                              & MagicLink.used_at.is_null() & MagicLink.superseded_at.is_null())
        entry = (AuditEntry.select().where((AuditEntry.contact == contact_id) & (AuditEntry.action == "revoke"))
                 .get())
        return (c.status, c.revoked_at, c.revoked_by, c.updated_at, mail, open_links.count(), entry.actor,
                entry.detail)

    assert state(many) == state(one)
    assert state(one)[-1] == "2 open links revoked"
