"""The model layer: Peewee on SQLite and the domain operations on it. Knows nothing of Textual or SMTP."""
