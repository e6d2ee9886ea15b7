"""Contacts: normalisation, validation, paging, search, CSV import and export."""

from __future__ import annotations

import csv
import io

import pytest

from models import contacts, csv_io, domains
from models.errors import InvalidInput
from tests.conftest import DATA


def test_email_is_normalised_and_unique(db):
    row = contacts.add_contact("  Ada.Lovelace+Portal@Example.COM ")
    assert row.email == "ada.lovelace+portal@example.com"
    with pytest.raises(InvalidInput, match="already a contact"):
        contacts.add_contact("ADA.LOVELACE+portal@example.com")


def test_unicode_domain_is_stored_in_idna_form(db):
    assert contacts.add_contact("max@bücher.de").email == "max@xn--bcher-kva.de"


@pytest.mark.parametrize(
    "bad", ["", "plainaddress", "a@b", "a@@example.com", "a@example.com\r\nBcc: x@evil.com", "a b@example.com"]
)
def test_malformed_email_is_refused_with_a_message(db, bad):
    with pytest.raises(InvalidInput) as info:
        contacts.add_contact(bad)
    assert "email" in str(info.value)
    assert contacts.count_contacts() == 0


def test_nul_byte_and_overlong_names_refused(db):
    with pytest.raises(InvalidInput, match="NUL"):
        contacts.add_contact("a@example.com", first_name="A\x00B")
    with pytest.raises(InvalidInput, match="characters"):
        contacts.add_contact("a@example.com", company="x" * 10_000)


def test_page_filters_sorts_and_counts_in_sql(db):
    for n, (first, last, company) in enumerate(
        [("Ada", "Lovelace", "Analytical"), ("Grace", "Hopper", "Navy"), ("Alan", "Turing", "Bletchley")]
    ):
        contacts.add_contact(f"p{n}@example.com", first, last, company)
    page = contacts.contact_page(contacts.ContactQuery(sort="name"), 0, 2)
    assert [r.last_name for r in page.rows] == ["Hopper", "Lovelace"] and page.total == 3
    page = contacts.contact_page(contacts.ContactQuery(sort="name"), 2, 2)
    assert [r.last_name for r in page.rows] == ["Turing"]
    assert [r.last_name for r in contacts.contact_page(contacts.ContactQuery(search="bletch")).rows] == ["Turing"]
    assert [r.first_name for r in contacts.contact_page(contacts.ContactQuery(search="ada love")).rows] == ["Ada"]
    assert contacts.contact_page(contacts.ContactQuery(search="navy", status="invited")).total == 0


def test_search_treats_like_wildcards_literally(db):
    contacts.add_contact("a_b@example.com")
    contacts.add_contact("axb@example.com")
    assert [r.email for r in contacts.contact_page(contacts.ContactQuery(search="a_b")).rows] == ["a_b@example.com"]
    assert contacts.contact_page(contacts.ContactQuery(search="100%")).total == 0


def _index_matches_contacts() -> bool:
    """The trigram index holds exactly each contact's search text, lower-cased for ASCII, and two spaces after it,
    under the contact's rank in name order (what the triggers must keep true; read from the index itself). On
    PostgreSQL the trigram index is over the search column: it must be the names."""
    from models.db import backend, database
    from tests.fixtures_search import index_matches_contacts

    if backend().name == "postgresql":
        rows = database.execute_sql("SELECT first_name, last_name, email, company, search_text FROM contact")
        return all(f"{first} {last} {email} {company}" == text for first, last, email, company, text in rows)
    return index_matches_contacts(database)


def _found(search: str, status: str | None = None) -> list[str]:
    query = contacts.ContactQuery(search=search, status=status, sort="email")
    page = contacts.contact_page(query, 0, 100)
    assert page.total == contacts.count_contacts(query) == len(page.rows)
    assert sorted(contacts.contact_ids(query)) == sorted(r.id for r in page.rows)
    return [r.email for r in page.rows]


def test_search_through_the_trigram_index_finds_what_like_finds(db):
    contacts.add_contact("ada@example.com", "Ada", "Lovelace", 'The "Engine" Co')
    contacts.add_contact("grace@example.com", "Grace", "Hopper", "Navy")
    contacts.add_contact("zoe@example.com", "Zoë", "ÉCOLE", "100% Pure_Co")
    assert _index_matches_contacts()
    assert _found("LOVELACE") == _found("ovel") == ["ada@example.com"]  # ASCII case folded, substrings
    assert _found('"engine"') == _found('"Engine') == ["ada@example.com"]  # double quotes are searched for
    assert _found('e"') == _found('"') == ["ada@example.com"]
    assert _found("hop navy") == ["grace@example.com"] and _found("hop engine") == []  # every word must match
    assert _found("ada hop") == [] and _found("ad ov") == ["ada@example.com"]  # short words by LIKE alone
    assert _found("100%") == _found("pure_co") == ["zoe@example.com"] and _found("pure%co") == []
    assert _found("école") == []  # LIKE folds ASCII only; the index folds more, and LIKE has the last word
    assert _found("ÉCOLE") == _found("zoë") == ["zoe@example.com"]
    assert _found("example.com", status="not_invited") == ["ada@example.com", "grace@example.com", "zoe@example.com"]
    assert _found("example.com", status="invited") == []
    assert _found("AND") == _found("NEAR") == _found("*") == []  # FTS5 query syntax is only text


def _like(needle: str, haystack: str) -> bool:
    """What SQLite's LIKE '%needle%' finds: a substring, case-insensitive for ASCII letters only."""
    fold = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
    return needle.translate(fold) in haystack.translate(fold)


def test_one_and_two_letter_words_find_what_like_finds(db):
    """Two-letter words are looked up as the index terms that start with them (the index holds two spaces after
    each text); one-letter words by LIKE. Every one- and two-character piece of every contact, and pieces no one
    has, find exactly the contacts LIKE finds, wherever the piece is: at the start, inside, at the very end."""
    people = [
        ("ada@example.com", "Ada", "Lovelace", 'The "Engine" Co'),
        ("grace@example.com", "Grace", "Hopper", "Navy"),
        ("zoe@example.com", "Zoë", "ÉCOLE", "100% Pure_Co"),
        ("x@example.io", "", "", "Qz"),  # a company that ends the text with a rare pair
        ("li@example.cn", "李", "小龙", "武"),
    ]
    texts = {}
    for email, first, last, company in people:
        contacts.add_contact(email, first, last, company)
        texts[email] = f"{first} {last} {email} {company}"
    pieces = {text[i : i + n] for text in texts.values() for n in (1, 2) for i in range(len(text) - n + 1)}
    pieces = {piece for piece in pieces if not any(ch.isspace() for ch in piece)}
    pieces |= {"QZ", "zq", "Ωx", "%", "_", "\\", '""'}
    for piece in sorted(pieces):
        expected = sorted(email for email, text in texts.items() if _like(piece, text))
        assert _found(piece) == expected, piece
    assert _found("ov lo") == ["ada@example.com"] and _found("qz ov") == []


def test_trigram_index_follows_every_change(db):
    ada = contacts.add_contact("ada@example.com", "Ada", "Lovelace")
    grace = contacts.add_contact("grace@example.com", "Grace", "Hopper")
    contacts.update_contact(ada.id, last_name="Byron", company="Analytical")
    assert _found("lovelace") == [] and _found("byron analytical") == ["ada@example.com"]
    contacts.delete_contact(grace.id)
    assert _found("hopper") == []
    report = csv_io.import_contacts(b"email,first name,last name\nkatherine@example.com,Katherine,Johnson\n")
    assert report.added == 1 and _found("johnson") == ["katherine@example.com"]
    csv_io.import_contacts(b"email,company\nkatherine@example.com,NASA\n", update_existing=True)
    assert _found("nasa") == ["katherine@example.com"]
    assert _index_matches_contacts()


def test_google_contacts_export_imports_with_fallbacks(db):
    report = csv_io.import_file(DATA / "contacts_google.csv")
    assert report.added == 3
    assert report.skipped == [(5, "no email address")]
    emails = {r.email: r for r in contacts.contact_page(limit=10).rows}
    assert set(emails) == {"marie@example.fr", "niels@example.dk", "lise@example.at"}
    assert emails["marie@example.fr"].company == "Radium Institute"
    assert emails["marie@example.fr"].phone == "+33 1 00 00 00 00"
    assert emails["lise@example.at"].last_name == "Meitner"


def test_messy_headers_bom_and_bad_rows(db):
    data = (
        "\ufeffName;E-mail Address;Organisation\r\n"
        "Ada Lovelace;ADA@example.com;Analytical\r\n"
        "Broken;not-an-email;\r\n"
        "Ada Again;ada@EXAMPLE.com;\r\n"
        ";;\r\n"
        "Grace Brewster Hopper;grace@example.com;Navy\r\n"
    ).encode("utf-8")
    report = csv_io.import_contacts(data)
    assert report.added == 2
    lines = dict(report.skipped)
    assert set(lines) == {3, 4}
    assert "not a valid email" in lines[3]
    assert "line 2" in lines[4]
    grace = contacts.find_contact("grace@example.com")
    assert (grace.first_name, grace.last_name, grace.company) == ("Grace", "Brewster Hopper", "Navy")


def test_snake_case_headers_and_latin1(db):
    data = "first_name,last_name,email\nJosé,Müller,jose@example.com\n".encode("latin-1")
    report = csv_io.import_contacts(data)
    assert report.added == 1 and report.warnings
    assert contacts.find_contact("jose@example.com").last_name == "Müller"


def test_existing_contacts_are_reported_not_duplicated(db):
    contacts.add_contact("ada@example.com")
    report = csv_io.import_contacts(b"email\nada@example.com\nnew@example.com\n")
    assert report.added == 1 and report.skipped == [(2, "ada@example.com is already a contact")]


@pytest.mark.parametrize(
    "data,message",
    [(b"", "empty"), (b"\x00\x01\x02binary", "NUL"), (b"name,phone\nAda,1\n", "no email column")],
)
def test_unusable_files_are_refused_whole(db, data, message):
    with pytest.raises(InvalidInput, match=message):
        csv_io.import_contacts(data)
    assert contacts.count_contacts() == 0


def _schema() -> list[tuple[str, str]]:
    from models.db import backend, database

    if backend().name == "postgresql":  # indexes and triggers, and whether each trigger is enabled
        return database.execute_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' UNION ALL SELECT tgname, "
            "tgenabled::text || ' ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1"
        ).fetchall()
    return database.execute_sql("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()


def test_import_is_one_transaction(db, monkeypatch):
    schema = _schema()
    calls = {"n": 0}
    real = csv_io._insert_rows

    def failing(rows, now):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(rows, now)

    monkeypatch.setattr(csv_io, "_insert_rows", failing)
    data = "email\n" + "".join(f"c{n}@example.com\n" for n in range(12_000))
    with pytest.raises(RuntimeError):
        csv_io.import_contacts(data.encode())
    monkeypatch.undo()
    assert contacts.count_contacts() == 0
    assert _schema() == schema  # the indexes and trigger dropped for a big import are back
    assert _index_matches_contacts()
    csv_io.import_contacts(b"email\nlate@example.com\n")
    contacts.add_contact("single@example.com", "Single", "Added")
    assert _found("late@") == ["late@example.com"] and _found("single") == ["single@example.com"]
    assert csv_io.import_contacts(data.encode()).added == 12_000  # big enough to rebuild the indexes
    assert _schema() == schema and _index_matches_contacts()
    assert contacts.count_contacts(contacts.ContactQuery(search="c11999@")) == 1
    assert contacts.contact_page(contacts.ContactQuery(search="c1199"), 0, 5).total == 11


def test_export_makes_formulas_inert(db, tmp_path):
    contacts.add_contact("a@example.com", first_name="=HYPERLINK(\"http://evil\",\"x\")", last_name="+1", company="@SUM(A1)")
    contacts.add_contact("b@example.com", first_name="-2", last_name="O'Brien")
    out = tmp_path / "out.csv"
    assert csv_io.export_file(out) == 2
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[0]["first_name"] == "'=HYPERLINK(\"http://evil\",\"x\")"
    assert rows[0]["last_name"] == "'+1" and rows[0]["company"] == "'@SUM(A1)"
    assert rows[1]["first_name"] == "'-2" and rows[1]["last_name"] == "O'Brien"
    # and it imports back (round trip keeps the contacts)
    assert csv_io.import_contacts(out.read_bytes()).skipped == [(2, "a@example.com is already a contact"),
                                                                 (3, "b@example.com is already a contact")]


@pytest.mark.parametrize(
    "given,expected",
    [("Portal.Example.COM", "portal.example.com"), ("https://clients.agency.io/", "clients.agency.io"),
     ("bücher.de", "xn--bcher-kva.de")],
)
def test_domain_normalisation(given, expected):
    assert domains.normalize_domain(given) == expected


@pytest.mark.parametrize("bad", ["", "localhost", "a..b", "evil.com/path", "user@evil.com", "-x.com", "1.2.3.4",
                                 "evil.com:8080", "evil.com\r\nX: y"])
def test_bad_domains_refused(bad):
    with pytest.raises(InvalidInput):
        domains.normalize_domain(bad)


def test_default_and_selected_domain(db):
    assert domains.portal_url() == "https://portal.example.com/"
    domains.add_domain("clients.agency.io")
    assert domains.portal_url() == "https://portal.example.com/"
    domains.select_domain("clients.agency.io")
    assert domains.portal_url() == "https://clients.agency.io/"
    assert domains.default_domain() == "portal.example.com"
    domains.select_domain(None)
    assert domains.portal_url() == "https://portal.example.com/"
    with pytest.raises(InvalidInput, match="default"):
        domains.remove_domain("portal.example.com")


def test_fast_address_check_accepts_only_what_email_validator_accepts():
    import random

    from email_validator import EmailNotValidError, validate_email

    rng = random.Random(1)
    cases = ["a..b@x.com", ".a@x.com", "a@-x.com", "a@ab--c.com", "a@x.test", "a@x.c", "a@123.com",
             "x" * 65 + "@a.com", "a@" + "b" * 64 + ".com", "a@x.onion"]
    cases += ["".join(rng.choice("ab.-_+%@1xX") for _ in range(rng.randint(3, 14))) + rng.choice(["", ".com", ".c"])
              for _ in range(20_000)]
    accepted = [c for c in cases if contacts._plain_ok(c)]
    assert len(accepted) > 200
    for address in accepted:
        try:
            result = validate_email(address, check_deliverability=False)
        except EmailNotValidError as exc:  # pragma: no cover - the failure message is the point
            raise AssertionError(f"fast path accepted {address!r}: {exc}") from None
        assert result.normalized.lower() == address.lower()


def _by_hand(query: contacts.ContactQuery, everyone: list[contacts.ContactRow]) -> list[int]:
    """The ids a query should list, worked out in Python: LIKE's matching, SQLite's order (NULL first)."""
    fold = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
    words = [w.translate(fold) for w in query.search.split()]
    found = [r for r in everyone
             if (not query.status or r.status == query.status)
             and all(w in f"{r.first_name} {r.last_name} {r.email} {r.company}".translate(fold) for w in words)]

    def maybe(value):
        return (0, 0) if value is None else (1, value)

    keys = {
        "name": lambda r: (r.last_name, r.first_name, r.id),
        "email": lambda r: (r.email,),
        "company": lambda r: (r.company, r.id),
        "status": lambda r: (r.status, r.id),
        "invited_at": lambda r: (maybe(r.invited_at), r.id),
        "last_login": lambda r: (maybe(r.last_login_at), r.id),
        "created": lambda r: (r.id,),
    }
    return [r.id for r in sorted(found, key=keys[query.sort], reverse=query.descending)]


def test_every_way_to_find_a_window_lists_what_a_full_sort_lists(db, monkeypatch):
    """Walks along the sort order (for many matches, and for one-letter words without counting), sorting the
    matches the index finds, and the plain listing: each gives the window a full sort in Python gives, for every
    sort order, both directions, a status filter or none, at several offsets. The thresholds are made small so
    300 contacts take every path; a walk that gives up must fall back to the same answer."""
    from models import demo

    demo.seed(300)
    from models.backends.sqlite import search as sqlite_search

    monkeypatch.setattr(sqlite_search, "FEW", 10)
    monkeypatch.setattr(sqlite_search, "WALK", 60)
    everyone = contacts.contacts_by_id(contacts.contact_ids())
    assert len(everyone) == 300
    for search in ["", "a", "E", "o", "q", "an", "son", "example", "zz", "ada love", "a e"]:
        for status in (None, "joined", "not_invited"):
            for sort in contacts.SORT_KEYS:
                for descending in (False, True):
                    query = contacts.ContactQuery(search=search, status=status, sort=sort, descending=descending)
                    expected = _by_hand(query, everyone)
                    for offset in (0, 13, 150):
                        exact = contacts.contact_page(query, offset, 20)
                        quick = contacts.contact_page(query, offset, 20, count=False)
                        where = (search, status, sort, descending, offset)
                        assert [r.id for r in exact.rows] == expected[offset : offset + 20], where
                        assert [r.id for r in quick.rows] == expected[offset : offset + 20], where
                        assert exact.exact and exact.total == len(expected), where
                        if quick.exact:
                            assert quick.total == len(expected), where
                        else:  # found by a walk that did not count: a lower bound, the window's end
                            assert quick.total == offset + 20 <= len(expected), where


def test_quotes_inside_quoted_cells_survive_a_header_without_quotes(db):
    """Only the separator is guessed from the header: a header with no quotes must not turn off Excel's `""`
    (an escaped quote), or `"O""Brien"` loses a quote and a formula with quotes is split over two cells."""
    data = (b'email,first name,last name,company\n'
            b'ob@example.com,Pat,"O""Brien","=HYPERLINK(""http://x"",""y"")"\n'
            b'semi@example.com,"Al ""Big""",Smith,"A, B and C"\n')
    report = csv_io.import_contacts(data)
    assert report.added == 2 and report.skipped == []
    ob = contacts.find_contact("ob@example.com")
    assert ob.last_name == 'O"Brien' and ob.company == '=HYPERLINK("http://x","y")'
    semi = contacts.find_contact("semi@example.com")
    assert semi.first_name == 'Al "Big"' and semi.company == "A, B and C"
    report = csv_io.import_contacts(b'email;last name\nsc@example.com;"D""Arcy; Jr"\n')
    assert report.added == 1 and contacts.find_contact("sc@example.com").last_name == 'D"Arcy; Jr'


# --- the invitation's state in the rows the table and `contacts list` show (issue 11) --------------------------


def test_every_way_of_reading_a_page_carries_the_invitation_state(db):
    from models import links, portal

    contacts.add_contact("ada@example.com", "[/x] <a@b>\x1b[31m", "Lovelace")
    contacts.add_contact("bob@example.com", "Bob", "Lovelace")
    contacts.add_contact("cyd@example.com", "Cyd", "Lovelace")
    portal.invite(["ada@example.com"])
    links.issue_link("bob@example.com")
    expected = {"ada@example.com": "invited · queued", "bob@example.com": "invited · no mail",
                "cyd@example.com": "not invited"}
    # The plain page, a trigram search, a one-letter search (walked in sort order) and a status filter.
    for query in (contacts.ContactQuery(), contacts.ContactQuery(search="lovelace"),
                  contacts.ContactQuery(search="e"), contacts.ContactQuery(status="invited")):
        rows = contacts.contact_page(query, 0, 10).rows
        assert {r.email: r.status_label for r in rows} == {
            e: label for e, label in expected.items() if query.status is None or label.startswith("invited")
        }, query
    assert contacts.find_contact("ada@example.com").invite_delivery == "queued"
    assert contacts.get_contact(contacts.find_contact("bob@example.com").id).delivery_state == "no_mail"


def test_a_big_import_leaves_the_invitation_counts_right(db):
    from models import portal

    contacts.add_contact("ada@example.com")
    portal.invite(["ada@example.com"])
    before = portal.stats()
    csv_io.import_contacts(b"email\n" + b"".join(b"p%d@example.com\n" % n for n in range(csv_io.REBUILD_AT)))
    s = portal.stats()
    assert (s.invited, s.invites_queued, s.not_invited) == (1, 1, before.not_invited + csv_io.REBUILD_AT)
    assert s.invites_queued + s.invites_sent + s.invites_failed + s.invites_no_mail == s.invited


def test_the_sample_data_takes_the_bulk_path_and_keeps_every_count_and_index(db):
    """`demo.seed` inserts as an import does (triggers set aside, their work done once): the kept counts equal a
    recount, the search index holds every contact, and the name order is a full sort's, whether the seed more
    than doubles the table (indexes set aside too) or adds a few to many."""
    import peewee

    from models import demo, portal
    from models.entities import Contact

    for n in range(5):
        contacts.add_contact(f"early{n}@example.com", "Ada", "Lovelace")
    for count in (1_200, 150):  # the big path, then the small one on top
        demo.seed(count)
        by_status = dict(Contact.select(Contact.status, peewee.fn.COUNT(Contact.id)).group_by(Contact.status)
                         .tuples())
        stats = portal.stats()
        assert stats.contacts == sum(by_status.values()) == Contact.select().count()
        assert (stats.not_invited, stats.invited, stats.joined, stats.revoked) == tuple(
            by_status.get(s, 0) for s in ("not_invited", "invited", "joined", "revoked"))
        assert stats.invites_sent == by_status.get("invited", 0)  # the sample's invitations went out
        assert _index_matches_contacts()
        everyone = sorted(Contact.select(), key=lambda c: (c.last_name, c.first_name, c.id))
        page = contacts.contact_page(contacts.ContactQuery(sort="name"), 0, len(everyone))
        assert [r.id for r in page.rows] == [c.id for c in everyone]
        hoppers = [c.email for c in everyone if "hopper" in c.search_text.lower()]
        assert sorted(_found_all("hopper")) == sorted(hoppers) and hoppers


def _found_all(search: str) -> list[str]:
    page = contacts.contact_page(contacts.ContactQuery(search=search, sort="email"), 0, 100_000)
    assert page.total == len(page.rows)
    return [r.email for r in page.rows]
