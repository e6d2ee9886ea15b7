"""Hostile input at the model layer: what the outside world sends, and what must come out unharmed (issue 5)."""

from __future__ import annotations

import csv
import io
import math
import os
import time

import pytest

from models import contacts, csv_io, links, portal
from models.errors import InvalidInput, RedeemFailed

HOSTILE_NAMES = [
    "[/x] <a@b>",
    "[link=http://evil.example]click[/link]",
    "\x1b]52;c;aGk=\x07Ada",
    "\x1b[31mred\x1b[0m",
    "\u202eevil\u202c",  # right-to-left override
    "zero\u200bwidth\u200d",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_stored_exactly(db, name):
    row = contacts.add_contact("a@example.com", first_name=name, company=name)
    assert contacts.get_contact(row.id).first_name == name
    assert contacts.get_contact(row.id).company == name


def test_ten_thousand_character_values_are_refused_not_cut(db):
    with pytest.raises(InvalidInput, match="10000 characters"):
        contacts.add_contact("a@example.com", last_name="x" * 10_000)
    assert contacts.count_contacts() == 0


@pytest.mark.parametrize(
    "address",
    ["ada@example.com\r\nBcc: all@evil.example", "ada@example.com\nSubject: hi", "ada\x00@example.com",
     "ada@exa\rmple.com"],
)
def test_header_injection_in_addresses_is_refused(db, address):
    with pytest.raises(InvalidInput):
        contacts.normalize_email(address)
    result = portal.invite([address])
    assert result.invited == [] and len(result.skipped) == 1


def test_plus_addressing_kept_and_uppercase_duplicates_merged(db):
    assert contacts.add_contact("Ada+Portal@Example.com").email == "ada+portal@example.com"
    with pytest.raises(InvalidInput, match="already"):
        contacts.add_contact("ADA+PORTAL@EXAMPLE.COM")
    result = portal.invite(["ada+portal@example.com", "ADA+portal@example.COM"])
    assert len(result.invited) == 1


def test_idna_addresses_match_their_unicode_form(db):
    contacts.add_contact("jürgen@münchen.de")
    assert contacts.find_contact("jürgen@xn--mnchen-3ya.de").email == contacts.find_contact("jürgen@münchen.de").email


def test_csv_with_a_million_columns_is_refused_quickly(db):
    data = ("email," + ",".join(f"c{n}" for n in range(1_000_000)) + "\na@example.com\n").encode()
    start = time.monotonic()
    with pytest.raises(InvalidInput, match="columns"):
        csv_io.import_contacts(data)
    assert contacts.count_contacts() == 0
    assert time.monotonic() - start < 30  # sanity bound only: it must not hang


def test_csv_data_row_with_huge_field_is_reported(db):
    data = b"email,first name\n" + b"a@example.com," + b"x" * 200_000 + b"\nb@example.com,Bo\n"
    report = csv_io.import_contacts(data)
    assert report.added == 1 and "too long" in report.skipped[0][1]


def test_csv_formula_values_come_out_of_export_inert(db):
    payloads = ['=HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)", "\t=1", "\r=1"]
    data = "email,first name\n" + "".join(f'p{n}@example.com,"{p.replace(chr(34), chr(34) * 2)}"\n'
                                          for n, p in enumerate(payloads))
    assert csv_io.import_contacts(data.encode()).added == len(payloads)
    out = io.StringIO()
    csv_io.export_contacts(out)
    for row in list(csv.DictReader(io.StringIO(out.getvalue()))):
        assert not row["first_name"].startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_token_entropy_makes_brute_force_hopeless():
    # 32 bytes from secrets: 2**256 tokens. Even a million live links and 10**12 guesses a second for a
    # century leave the chance of one hit below 10**-45.
    live, guesses = 10**6, 10**12 * 3600 * 24 * 365 * 100
    assert links.TOKEN_BYTES * 8 == 256
    assert math.log10(live * guesses) - 256 * math.log10(2) < -45


def test_tokens_are_distinct(db):
    contacts.add_contact("a@example.com")
    tokens = {links.issue_link("a@example.com").token for _ in range(200)}
    assert len(tokens) == 200


def test_redeem_compares_in_constant_time(db, monkeypatch):
    seen = []
    import hmac

    real = hmac.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(links.hmac, "compare_digest", spy)
    contacts.add_contact("a@example.com")
    links.redeem(links.issue_link("a@example.com").token)
    assert seen, "the stored hash must be compared with hmac.compare_digest"


def test_a_near_miss_token_fails(db):
    contacts.add_contact("a@example.com")
    token = links.issue_link("a@example.com").token
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(RedeemFailed, match="never issued"):
        links.redeem(flipped)


def test_database_file_mode_is_0600_even_with_a_loose_umask(tmp_path):
    from models.db import database, open_database

    old = os.umask(0o000)
    try:
        open_database(tmp_path / "loose.db")
        contacts.add_contact("a@example.com")
    finally:
        os.umask(old)
        database.close()
    for path in tmp_path.glob("loose.db*"):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_a_search_word_longer_than_any_contact_matches_nothing(db):
    contacts.add_contact("a@example.com", first_name="x" * 200)
    assert contacts.count_contacts(contacts.ContactQuery(search="x" * 200)) == 1
    assert contacts.count_contacts(contacts.ContactQuery(search="x" * 999)) == 0
    assert contacts.contact_page(contacts.ContactQuery(search="x" * 1_000_000)).total == 0


def test_an_address_error_does_not_echo_a_megabyte(db):
    with pytest.raises(InvalidInput) as info:
        contacts.normalize_email("a" * 1_000_000)
    assert len(str(info.value)) < 300


def test_an_existing_database_file_with_a_loose_mode_is_tightened(tmp_path):
    from models.db import database, open_database

    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    open_database(path)
    contacts.add_contact("a@example.com")
    database.close()
    for file in tmp_path.glob("old.db*"):
        assert file.stat().st_mode & 0o777 == 0o600, file


# --- lookalike addresses (issue 11) ---------------------------------------------------------------------------

CYRILLIC_E = "\u0435"


def test_a_lookalike_address_is_added_with_a_warning_naming_the_contact_it_resembles(db):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    row = contacts.add_contact(f"ada@{CYRILLIC_E}xample.com")
    assert contacts.find_contact(row.email).id == row.id  # added: it may be a real person
    assert row.email == "ada@xn--xample-2of.com"
    assert len(row.warnings) == 2
    assert row.warnings[0].startswith(f"ada@{CYRILLIC_E}xample.com looks like ada@example.com (Ada Lovelace), ")
    assert "U+0435 CYRILLIC SMALL LETTER IE" in row.warnings[0]
    assert row.warnings[1].startswith(f"ada@{CYRILLIC_E}xample.com mixes Cyrillic and Latin letters in "
                                      f"'{CYRILLIC_E}xample'")
    assert contacts.get_contact(row.id).warnings == ()  # a warning belongs to the operation, not the row


@pytest.mark.parametrize(
    "existing,lookalike",
    [
        ("ada@example.com", "\uff41\uff44\uff41@example.com"),  # full-width letters
        ("bill@example.com", "bi\u01c0\u01c0@example.com"),  # Latin letter dental click for l
        ("l1@example.com", "l\u01c0@example.com"),  # ... for the digit 1 (both have the skeleton l)
        ("paypal@example.com", "p\u0430yp\u0430l@example.com"),  # Cyrillic а
        ("zo\u00eb@example.com", "zo\u0451@example.com"),  # Cyrillic ё against a Latin ë
    ],
)
def test_lookalikes_of_ascii_and_non_ascii_contacts_are_named(db, existing, lookalike):
    contacts.add_contact(existing, "Real")
    row = contacts.add_contact(lookalike)
    assert row.warnings and f"looks like {existing} (Real)" in row.warnings[0]


def test_a_mixed_script_label_is_warned_about_with_no_lookalike_contact(db):
    row = contacts.add_contact(f"s{CYRILLIC_E}curity@bank.example.org")
    assert len(row.warnings) == 1 and "mixes Cyrillic and Latin letters" in row.warnings[0]


@pytest.mark.parametrize(
    "address",
    ["plain@example.com", "zo\u00eb@example.com", "j\u00fcrgen@m\u00fcnchen.de", "\u674e@example.cn",
     "\u5c71\u7530\u305f\u308d\u3046@example.jp", "\u0438\u0432\u0430\u043d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444",
     "\u03b1\u03b8\u03b7\u03bd\u03b1@example.gr"],
)
def test_ordinary_addresses_get_no_warning(db, address):
    contacts.add_contact("ada@example.com", "Ada")
    assert contacts.add_contact(address).warnings == ()


def test_invite_and_import_carry_lookalike_warnings(db):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    result = portal.invite([f"ada@{CYRILLIC_E}xample.com", "new@example.com"])
    assert len(result.created) == 2 and len(result.warnings) == 2
    assert "looks like ada@example.com (Ada Lovelace)" in result.warnings[0]
    data = ("email,first name\n"
            "grace@example.com,Grace\n"
            "\uff47race@example.com,Fake\n"          # line 3: full-width g, resembles line 2
            "\u0438\u0432\u0430\u043d@example.com,Ivan\n")  # line 4: all Cyrillic, resembling nobody
    report = csv_io.import_contacts(data.encode())
    assert report.added == 3 and report.warning_count == 1
    assert report.warnings == [f"line 3: \uff47race@example.com looks like grace@example.com (Grace), an existing "
                               "contact; check it is a different person (\uff47 (U+FF47 FULLWIDTH LATIN SMALL "
                               "LETTER G))"]


def test_the_command_line_prints_lookalike_warnings(cli, tmp_path):
    assert cli("contacts", "add", "ada@example.com", "--first-name", "Ada").exit_code == 0
    result = cli("contacts", "add", f"ada@{CYRILLIC_E}xample.com")
    assert result.exit_code == 0
    assert "warning: ada@" in result.stderr and "looks like ada@example.com (Ada)" in result.stderr
    assert result.stdout.strip() == "added ada@xn--xample-2of.com"
    csv_path = tmp_path / "in.csv"
    csv_path.write_text("email\n\u0430da@example.com\n", encoding="utf-8")  # a Cyrillic а
    result = cli("contacts", "import", str(csv_path))
    assert "warning: line 2: " in result.stderr and "looks like ada@example.com (Ada)" in result.stderr


def test_an_import_warns_when_the_lookalike_comes_before_the_address_it_imitates(db, monkeypatch):
    monkeypatch.setattr(csv_io, "CHUNK", 2)  # and across chunks
    data = ("email,first name\n"
            "\u0430da@example.com,Fake\n"  # line 2: a Cyrillic а, and no contact like it yet
            "grace@example.com,Grace\n"
            "ada@example.com,Ada\n")  # line 4: the address line 2 imitates
    report = csv_io.import_contacts(data.encode())
    assert report.added == 3
    assert [w.split(":")[0] for w in report.warnings] == ["line 2", "line 4"]
    assert "mixes Cyrillic and Latin letters" in report.warnings[0]
    assert report.warnings[1].startswith("line 4: ada@example.com looks like \u0430da@example.com, added above")
