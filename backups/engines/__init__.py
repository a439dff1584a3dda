"""How rows move between the database and an archive: one interface, two implementations.

`PostgresEngine` streams with COPY and applies a restore as set-based SQL over temporary tables;
`OrmEngine` does the same through the ORM and runs on any database (SQLite in development and
CI). Both write the same archive bytes and make the same changes; the tests run on both.
"""

from django.db import connection as default_connection

from .base import RestoreConflict
from .orm import OrmEngine
from .postgres import PostgresEngine

__all__ = ["OrmEngine", "PostgresEngine", "RestoreConflict", "engine_for"]


def engine_for(connection=None):
    connection = connection or default_connection
    if connection.vendor == "postgresql":
        return PostgresEngine(connection)
    return OrmEngine(connection)
