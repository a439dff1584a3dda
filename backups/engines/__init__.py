"""How rows move between the database and an archive: one interface, two implementations.

`PostgresEngine` streams with COPY and applies a restore as set-based SQL over temporary tables;
`SqliteEngine` does the same on SQLite (the embedded default) with executemany in bounded
chunks; both build on `TemporaryTableEngine` (engines/temporary.py: the temporary tables, the
reference check and the order of apply). `OrmEngine` holds what all share and reads a
restore's rows through the ORM for the merge engine (`backups.merge`). All write the same
archive bytes and make the same changes; the tests run on both databases.
"""

from django.db import connection as default_connection

from .base import RestoreConflict
from .orm import OrmEngine
from .postgres import PostgresEngine
from .sqlite import SqliteEngine

__all__ = ["OrmEngine", "PostgresEngine", "RestoreConflict", "SqliteEngine", "engine_for"]


def engine_for(connection=None):
    connection = connection or default_connection
    if connection.vendor == "postgresql":
        return PostgresEngine(connection)
    if connection.vendor == "sqlite":
        return SqliteEngine(connection)
    return OrmEngine(connection)
