from models import portal


def test_empty_database_has_zero_stats(db):
    assert portal.stats().contacts == 0
