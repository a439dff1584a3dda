"""Merge restores on PostgreSQL, in set-based SQL over the temporary tables the archive is
COPYed into (backups/engines/postgres.py).

The same rules as MergeEngine (backups/merge.py), which reads both sides into Python on other
databases: per live table one temporary table of actions, a row per backup row the merge
writes or leaves out (`insert`, `conflict` with the database row it meets, `orphan` for an
insert whose parent does not come back), from which the counts, the sample of conflicts, the
writes and their history rows are all derived by joins.
"""

from .archive import TableSpec, row_decoder
from .engines import PostgresEngine
from .merge import (
    REFERENCES,
    RENAMED_FIELD,
    SAMPLE_SIZE,
    MergePolicy,
    field_changes,
    refuse_broken_references,
)

#: Per table, the unique key a backup row may meet another database row by.
_KEYS = {"properties_property": ("project_id", "external_id")}
_COUNTED = {"skip": "skipped", "overwrite": "updated", "rename": "renamed"}


class PostgresMergeEngine(MergePolicy, PostgresEngine):
    name = "postgresql-merge"

    def __init__(self, connection=None, **policy):
        super().__init__(connection, **policy)
        self._merged: list[str] = []

    def _actions(self, table: str) -> str:
        return f"{self._temp[table]}_act"

    def plan(self) -> dict[str, dict[str, int]]:
        counts = {}
        with self.connection.cursor() as cursor:
            for spec in self._specs:
                table, temp, pk, _ = self._parts(spec)
                result = {"inserted": 0, "updated": 0, "skipped": 0, "renamed": 0, "deleted": 0}
                if spec.is_history:
                    cursor.execute(
                        f"CREATE TEMPORARY TABLE {temp}_ins AS SELECT b.{pk} FROM {temp} b "
                        f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.{pk} = b.{pk})"
                    )
                    result["inserted"] = cursor.rowcount
                else:
                    self._classify(cursor, spec)
                    orphans = self._orphans(cursor, spec)
                    cursor.execute(
                        f"SELECT action, count(*) FROM {self._actions(spec.name)} GROUP BY action"
                    )
                    found = dict(cursor.fetchall())
                    result["inserted"] = found.get("insert", 0)
                    result["skipped"] = len(orphans)
                    result[_COUNTED[self.conflict]] += found.get("conflict", 0)
                    self._sample_conflicts(cursor, spec)
                counts[spec.name] = result
            self._check_written_references(cursor)
        return counts

    def _classify(self, cursor, spec: TableSpec) -> None:
        """Fills the table's actions: rows in both that differ (but for auto_now columns),
        rows the database lacks that meet another by key, and the rest of those to insert."""
        qn = self.connection.ops.quote_name
        table, temp, pk, _ = self._parts(spec)
        actions, org = self._actions(spec.name), int(self._organization_id)
        self._merged.append(spec.name)
        compared = [qn(f.column) for f in spec.fields if not getattr(f, "auto_now", False)]
        differs = (
            f"ROW({', '.join(f't.{c}' for c in compared)}) IS DISTINCT FROM "
            f"ROW({', '.join(f'b.{c}' for c in compared)})"
        )
        absent = f"NOT EXISTS (SELECT 1 FROM {table} x WHERE x.{pk} = b.{pk})"
        cursor.execute(
            f"CREATE TEMPORARY TABLE {actions} (backup_id bigint PRIMARY KEY, database_id "
            "bigint, action text NOT NULL, new_id bigint)"
        )
        cursor.execute(
            f"INSERT INTO {actions} (backup_id, database_id, action) SELECT b.{pk}, t.{pk}, "
            f"'conflict' FROM {temp} b JOIN {table} t ON t.{pk} = b.{pk} "
            f"WHERE t.organization_id = {org} AND {differs}"
        )
        if spec.name in _KEYS:
            same_key = " AND ".join(f"t.{qn(c)} = b.{qn(c)}" for c in _KEYS[spec.name])
            cursor.execute(
                f"INSERT INTO {actions} (backup_id, database_id, action) SELECT b.{pk}, t.{pk}, "
                f"'conflict' FROM {temp} b JOIN {table} t ON {same_key} "
                f"AND t.organization_id = {org} WHERE {absent}"
            )
        cursor.execute(
            f"INSERT INTO {actions} (backup_id, action) SELECT b.{pk}, 'insert' FROM {temp} b "
            f"WHERE {absent} AND NOT EXISTS (SELECT 1 FROM {actions} a "
            f"WHERE a.backup_id = b.{pk})"
        )

    def _orphans(self, cursor, spec: TableSpec) -> list[int]:
        """Rows to insert whose parent, merged alongside, does not come back (a conflict by
        key it left behind): left out with it, and listed."""
        reference = REFERENCES.get(spec.name)
        if reference is None or reference[1] not in self._merged:
            return []
        qn = self.connection.ops.quote_name
        column, parent = qn(reference[0]), reference[1]
        _, temp, pk, _ = self._parts(spec)
        revived = "a.action = 'insert'"
        if self.conflict == "rename":
            revived += " OR (a.action = 'conflict' AND a.backup_id <> a.database_id)"
        cursor.execute(
            f"UPDATE {self._actions(spec.name)} o SET action = 'orphan' FROM {temp} b "
            f"WHERE o.backup_id = b.{pk} AND o.action = 'insert' "
            f"AND NOT EXISTS (SELECT 1 FROM {qn(parent)} p WHERE p.id = b.{column} "
            f"AND p.organization_id = {int(self._organization_id)}) "
            f"AND NOT EXISTS (SELECT 1 FROM {self._actions(parent)} a "
            f"WHERE a.backup_id = b.{column} AND ({revived})) RETURNING o.backup_id"
        )
        orphans = sorted(row[0] for row in cursor.fetchall())
        if orphans:
            self.report.setdefault("skipped_with_parent", {})[spec.name] = orphans
        return orphans

    def _decoded(self, cursor, source: str, spec: TableSpec, ids) -> dict:
        qn = self.connection.ops.quote_name
        columns = ", ".join(qn(column) for column in spec.columns)
        decode, pk_index = row_decoder(spec), spec.columns.index(spec.pk_column)
        id_array = "'{" + ",".join(str(int(pk)) for pk in ids) + "}'::bigint[]"
        sql = (
            f"COPY (SELECT {columns} FROM {source} WHERE {qn(spec.pk_column)} = ANY({id_array})) "
            "TO STDOUT"
        )
        rows = {}
        with cursor.cursor.copy(sql) as copy:
            for chunk in copy:
                values = decode(bytes(chunk))
                rows[values[pk_index]] = values
        return rows

    def _sample_conflicts(self, cursor, spec: TableSpec) -> None:
        cursor.execute(
            f"SELECT backup_id, database_id FROM {self._actions(spec.name)} "
            f"WHERE action = 'conflict' ORDER BY backup_id LIMIT {SAMPLE_SIZE}"
        )
        pairs = cursor.fetchall()
        if not pairs:
            return
        table, temp, _, _ = self._parts(spec)
        database = self._decoded(cursor, table, spec, [d for _, d in pairs])
        backup = self._decoded(cursor, temp, spec, [b for b, _ in pairs])
        self.report["conflicts"][spec.name] = [
            {
                "id": database_pk,
                "backup_id": backup_pk,
                "changes": field_changes(spec, database[database_pk], backup[backup_pk]),
            }
            for backup_pk, database_pk in pairs
        ]

    def _check_written_references(self, cursor) -> None:
        """Rows written into a table whose parent table is not merged alongside must point
        at rows the organisation has."""
        qn = self.connection.ops.quote_name
        written = "a.action = 'insert'"
        if self.conflict != "skip":
            written += " OR a.action = 'conflict'"
        problems = []
        for child, (column, parent) in REFERENCES.items():
            if child not in self._merged or parent in self._merged:
                continue
            _, temp, pk, _ = self._parts(next(s for s in self._specs if s.name == child))
            cursor.execute(
                f"SELECT b.{pk}, b.{qn(column)} FROM {temp} b JOIN {self._actions(child)} a "
                f"ON a.backup_id = b.{pk} WHERE ({written}) AND b.{qn(column)} IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {qn(parent)} p WHERE p.id = b.{qn(column)} "
                f"AND p.organization_id = {int(self._organization_id)}) "
                f"ORDER BY b.{pk} LIMIT {SAMPLE_SIZE}"
            )
            problems += [
                f"{child} row {pk_value} points at {parent} row {parent_id}"
                for pk_value, parent_id in cursor.fetchall()
            ]
        refuse_broken_references(problems, [spec.name for spec in self._specs])

    def _apply_live(self, cursor, live: list[TableSpec], history) -> None:
        for spec in live:
            self._merge_table(cursor, spec, history)

    def _merge_table(self, cursor, spec: TableSpec, history) -> None:
        table, temp, pk, columns = self._parts(spec)
        actions = self._actions(spec.name)
        joined = f"FROM {temp} b JOIN {actions} a ON a.backup_id = b.{pk}"
        self._with_history(
            cursor,
            spec,
            f"INSERT INTO {table} AS t ({', '.join(columns)}) SELECT "
            f"{', '.join(f'b.{c}' for c in columns)} {joined} AND a.action = 'insert'",
            "+",
            [],
            history,
        )
        if self.conflict == "overwrite":
            conflicts = f"{joined} AND a.action = 'conflict'"
            self._overwrite(cursor, spec, conflicts, f"t.{pk} = a.database_id", history)
        elif self.conflict == "rename":
            self._rename(cursor, spec, history)

    def _rename(self, cursor, spec: TableSpec, history) -> None:
        """Inserts the backup's version of each conflict as a new row: a new id where the
        database row has its id (a property whose external id another row took keeps its own
        free id), the renamed field suffixed."""
        qn = self.connection.ops.quote_name
        table, temp, pk, columns = self._parts(spec)
        actions = self._actions(spec.name)
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [spec.name, spec.pk_column])
        sequence = cursor.fetchone()[0]
        cursor.execute(
            f"UPDATE {actions} a SET new_id = n.new_id FROM (SELECT backup_id, CASE WHEN "
            f"backup_id = database_id THEN nextval(%s) ELSE backup_id END AS new_id "
            f"FROM {actions} WHERE action = 'conflict' ORDER BY backup_id) n "
            "WHERE a.backup_id = n.backup_id",
            [sequence],
        )
        field = RENAMED_FIELD.get(spec.name)
        renamed = qn(field) if field else None
        values = [
            "a.new_id" if c == pk else f"b.{c} || %s" if c == renamed else f"b.{c}" for c in columns
        ]
        self._with_history(
            cursor,
            spec,
            f"INSERT INTO {table} AS t ({', '.join(columns)}) SELECT {', '.join(values)} "
            f"FROM {temp} b JOIN {actions} a ON a.backup_id = b.{pk} "
            "AND a.action = 'conflict' ORDER BY a.backup_id",
            "+",
            [self.suffix] if field else [],
            history,
        )
        shown = f", b.{renamed} || %s" if field else ""
        cursor.execute(
            f"SELECT a.backup_id, a.new_id{shown} FROM {actions} a JOIN {temp} b "
            f"ON b.{pk} = a.backup_id WHERE a.action = 'conflict' ORDER BY a.backup_id",
            [self.suffix] if field else [],
        )
        rows = cursor.fetchall()
        if rows:
            self.report["renamed"][spec.name] = [
                {"backup_id": row[0], "new_id": row[1], **({field: row[2]} if field else {})}
                for row in rows
            ]

    def cleanup(self) -> None:
        if not self.connection.needs_rollback and self._merged:
            with self.connection.cursor() as cursor:
                for table in self._merged:
                    cursor.execute(f"DROP TABLE IF EXISTS {self._actions(table)}")
        self._merged = []
        super().cleanup()
