"""Point-in-time restores on PostgreSQL, in set-based SQL.

The state at the instant is built where the replace_all engine reads the rows it restores, its
temporary tables: the base archive's rows go in by COPY, then, per object named by the history
written since the base and dated at or before the instant, its newest such row (by date, then
id) decides: a `-` row removes the object, any other row is its whole state then. That is
the result of applying the rows one by one in time order (backups/pitr.py does so in Python on
other databases) without reading them into Python. The base archive's history is only scanned
for the ids of the few rows found since, which it may hold already.
"""

from .archive import ArchiveReader, TableSpec, table_specs
from .engines import PostgresEngine
from .incremental import IncrementalReader, decode_pk


def _history_spec(spec: TableSpec) -> TableSpec:
    return next(other for other in table_specs() if other.live_model is spec.model)


class PointInTimeEngine(PostgresEngine):
    """The replace_all engine, restoring the state at `as_of` rebuilt from `base` (a backup,
    or None for the history alone) and the history since."""

    name = "postgresql-point-in-time"

    def __init__(self, connection=None, *, as_of, base):
        super().__init__(connection)
        self.as_of = as_of
        self.base = base
        self._since = None

    def load(self, reader: ArchiveReader | None, specs, organization_id: int) -> None:
        if self.base is not None:
            self._since = IncrementalReader(
                self.connection, organization_id=organization_id, parent=self.base
            )
        super().load(reader, specs, organization_id)

    def _fill(self, cursor, spec: TableSpec, temp: str, reader: ArchiveReader | None) -> None:
        if reader is not None:
            super()._fill(cursor, spec, temp, reader)
        qn = self.connection.ops.quote_name
        history = _history_spec(spec)
        history_pk, object_pk = qn(history.pk_column), qn(spec.pk_column)
        columns = ", ".join(qn(column) for column in spec.columns)
        since = (
            self._since.history_where(history)
            if self._since is not None
            else f"organization_id = {int(self._organization_id)}"
        )
        # Doubled: the condition's modulo signs are not placeholders.
        since = since.replace("%", "%%")
        changes = f"{temp}_since"
        cursor.execute(
            f"CREATE TEMPORARY TABLE {changes} AS SELECT {history_pk}, history_date, "
            f"history_type, {columns} FROM {qn(history.name)} WHERE {since} "
            "AND history_date <= %s",
            [self.as_of],
        )
        if reader is not None and cursor.rowcount:
            self._drop_held(cursor, changes, history, reader)
        latest = f"{temp}_latest"
        cursor.execute(
            f"CREATE TEMPORARY TABLE {latest} AS SELECT DISTINCT ON ({object_pk}) * "
            f"FROM {changes} ORDER BY {object_pk}, history_date DESC, {history_pk} DESC"
        )
        cursor.execute(f"DELETE FROM {temp} t USING {latest} l WHERE t.{object_pk} = l.{object_pk}")
        cursor.execute(
            f"INSERT INTO {temp} ({columns}) SELECT {columns} FROM {latest} "
            "WHERE history_type <> '-'"
        )
        cursor.execute(f"DROP TABLE {changes}, {latest}")

    def _drop_held(self, cursor, changes: str, history: TableSpec, reader: ArchiveReader) -> None:
        """Leaves out of `changes` the history rows the base archive holds: its rows already
        show them, and a restore puts such rows back under their old ids and dates."""
        history_pk = self.connection.ops.quote_name(history.pk_column)
        cursor.execute(f"SELECT {history_pk} FROM {changes}")
        found = {row[0] for row in cursor.fetchall()}
        pk_of = decode_pk(history)
        held = [pk for pk in map(pk_of, reader.lines(history.name)) if pk in found]
        if held:
            cursor.execute(f"DELETE FROM {changes} WHERE {history_pk} = ANY(%s)", [held])
