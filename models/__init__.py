"""The model layer: Peewee on the engine `models.db.open_database` picks (`models.backends`: SQLite by default) and
the domain operations on it. Knows nothing of Textual or SMTP."""
