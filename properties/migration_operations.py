"""Migration operations that run only on PostgreSQL.

SQLite cannot build GIN or trigram indexes. Such indexes are kept out of the models' Meta (SQLite
rebuilds tables from Meta on every ALTER) and created here, on PostgreSQL only.
"""

from django.db import migrations


class RunSQLOnPostgres(migrations.RunSQL):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
