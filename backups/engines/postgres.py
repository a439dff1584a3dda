"""The PostgreSQL engine: COPY out for backups; COPY into temporary tables and set-based SQL
for restores."""

import hashlib
import uuid

from django.contrib.auth import get_user_model
from django.db import DataError, transaction

from ..archive import ArchiveError, ArchiveReader, TableDigest, TableSpec
from .base import (
    HISTORY_COLUMNS,
    PARKED_PREFIX,
    USER_COLUMNS,
    RestoreConflict,
    empty_counts,
    outside_set_null_relations,
    unique_text_columns,
)
from .temporary import TemporaryTableEngine


class PostgresEngine(TemporaryTableEngine):
    """COPY out for backups; COPY into temporary tables and set-based SQL for restores."""

    name = "postgresql"

    def _select_sql(self, spec: TableSpec, organization_id: int) -> str:
        qn = self.connection.ops.quote_name
        columns = ", ".join(qn(column) for column in spec.columns)
        # No ORDER BY: the table hash does not depend on order, and sorting a large table
        # would cost more than reading it.
        return (
            f"SELECT {columns} FROM {qn(spec.name)} WHERE organization_id = {int(organization_id)}"
        )

    def dump_table(self, spec: TableSpec, organization_id: int, out, digest: TableDigest) -> None:
        digest.add_totals(*self._copy_lines(spec, organization_id, out.write))

    def _copy_lines(self, spec: TableSpec, organization_id: int, emit=None) -> tuple[int, int]:
        sql = f"COPY ({self._select_sql(spec, organization_id)}) TO STDOUT"
        sha256, from_bytes = hashlib.sha256, int.from_bytes
        count = total = 0
        batch: list[bytes] = []
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
            # The archive's timestamp form; Django already uses UTC, this makes it certain.
            cursor.execute("SET LOCAL TimeZone = 'UTC'")
            cursor.execute("SET LOCAL DateStyle = 'ISO'")
            with self.connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
                # libpq hands over one row per chunk.
                for chunk in copy:
                    line = bytes(chunk)
                    total += from_bytes(sha256(line).digest()[:8], "big")
                    count += 1
                    if emit is not None:
                        # Written in blocks: one zip write per row would cost more than COPY.
                        batch.append(line)
                        if len(batch) == 4096:
                            emit(b"".join(batch))
                            batch = []
        if batch:
            emit(b"".join(batch))
        return count, total

    def table_digest(self, spec: TableSpec, organization_id: int) -> TableDigest:
        digest = TableDigest()
        digest.add_totals(*self._copy_lines(spec, organization_id))
        return digest

    # Restore ---------------------------------------------------------------------------------

    def load(self, reader: ArchiveReader, specs: list[TableSpec], organization_id: int) -> None:
        self._specs = specs
        self._organization_id = organization_id
        qn = self.connection.ops.quote_name
        suffix = uuid.uuid4().hex[:12]
        user_table = qn(get_user_model()._meta.db_table)
        with self.connection.cursor() as cursor:
            for index, spec in enumerate(specs):
                temp = f"_backup_rows_{suffix}_{index}"
                self._temp[spec.name] = temp
                columns = ", ".join(qn(column) for column in spec.columns)
                cursor.execute(
                    f"CREATE TEMPORARY TABLE {temp} AS SELECT {columns} FROM {qn(spec.name)} "
                    "WITH NO DATA"
                )
                self._fill(cursor, spec, temp, reader)
                cursor.execute(
                    f"SELECT count(*) FROM {temp} WHERE organization_id IS DISTINCT FROM %s",
                    [organization_id],
                )
                if cursor.fetchone()[0]:
                    raise ArchiveError(f"Table {spec.name} holds rows of another organisation.")
                for column in USER_COLUMNS:
                    if column in spec.columns:
                        cursor.execute(
                            f"UPDATE {temp} SET {column} = NULL WHERE {column} IS NOT NULL AND "
                            f"NOT EXISTS (SELECT 1 FROM {user_table} u WHERE u.id = {column})"
                        )
                pk = qn(spec.pk_column)
                cursor.execute(f"ALTER TABLE {temp} ADD PRIMARY KEY ({pk})")
                # Statistics of the key only: the planner needs the row count, and sampling the
                # JSON columns would cost more than the rest of the load.
                cursor.execute(f"ANALYZE {temp} ({pk})")
                cursor.execute(
                    f"SELECT count(*) FROM {temp} b JOIN {qn(spec.name)} t ON t.{pk} = b.{pk} "
                    "WHERE t.organization_id IS DISTINCT FROM %s",
                    [organization_id],
                )
                if cursor.fetchone()[0]:
                    raise RestoreConflict(
                        f"Rows of {spec.name} in the backup have ids now used by another "
                        "organisation."
                    )
            self._check_references(cursor)

    def _fill(self, cursor, spec: TableSpec, temp: str, reader: ArchiveReader) -> None:
        """Puts the rows to restore into `temp`: the archive's, streamed by COPY."""
        qn = self.connection.ops.quote_name
        columns = ", ".join(qn(column) for column in spec.columns)
        # The raw cursor's COPY raises psycopg's errors: wrapped, they are Django's, which
        # every caller handles. A value the column's type refuses is the archive's fault.
        try:
            with (
                self.connection.wrap_database_errors,
                cursor.cursor.copy(f"COPY {temp} ({columns}) FROM STDIN") as copy,
                reader.open_table(spec.name) as member,
            ):
                while chunk := member.read(1 << 20):
                    copy.write(chunk)
        except DataError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ArchiveError(
                f"Table {spec.name} has a row that cannot be loaded: {reason}."
            ) from exc

    def _absent_from(self, table: str, key: str, column: str, where: str) -> str:
        # Correlated: each probe is an index lookup on the key. `where`'s bare columns are t's,
        # the nearest table that has them.
        scope = f" AND {where}" if where else ""
        return f"NOT EXISTS (SELECT 1 FROM {table} t WHERE t.{key} = b.{column}{scope})"

    def _parts(self, spec: TableSpec):
        qn = self.connection.ops.quote_name
        pk = qn(spec.pk_column)
        columns = [qn(column) for column in spec.columns]
        return qn(spec.name), self._temp[spec.name], pk, columns

    def _differs(self, columns) -> str:
        target = ", ".join(f"t.{column}" for column in columns)
        backup = ", ".join(f"b.{column}" for column in columns)
        return f"ROW({target}) IS DISTINCT FROM ROW({backup})"

    def _plan_table(self, cursor, spec: TableSpec) -> dict[str, int]:
        """Counts the table's changes, and keeps the ids to insert and update in their own
        temporary tables: the statements that apply them then never read the table they write,
        which PostgreSQL may otherwise scan once per row while it grows."""
        org = self._organization_id
        table, temp, pk, columns = self._parts(spec)
        result = empty_counts()
        cursor.execute(
            f"CREATE TEMPORARY TABLE {temp}_ins AS SELECT b.{pk} FROM {temp} b "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.{pk} = b.{pk})"
        )
        result["inserted"] = cursor.rowcount
        if not spec.is_history:
            cursor.execute(
                f"SELECT count(*) FROM {table} t WHERE t.organization_id = %s AND "
                f"NOT EXISTS (SELECT 1 FROM {temp} b WHERE b.{pk} = t.{pk})",
                [org],
            )
            result["deleted"] = cursor.fetchone()[0]
            cursor.execute(
                f"CREATE TEMPORARY TABLE {temp}_upd AS SELECT b.{pk} FROM {table} t "
                f"JOIN {temp} b ON b.{pk} = t.{pk} WHERE {self._differs(columns)}"
            )
            result["updated"] = cursor.rowcount
        return result

    def _insert_from_archive(self, cursor, spec: TableSpec) -> None:
        table, temp, pk, columns = self._parts(spec)
        column_list = ", ".join(f"b.{column}" for column in columns)
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {column_list} "
            f"FROM {temp} b JOIN {temp}_ins i ON i.{pk} = b.{pk}"
        )

    def _with_history(self, cursor, spec, statement, history_type, params, history) -> None:
        """Run `statement` (ending before RETURNING) and record each row it returns as a
        history row of `history_type`."""
        date, reason, actor_id = history
        history_table = self.connection.ops.quote_name(spec.model.history.model._meta.db_table)
        _, _, _, columns = self._parts(spec)
        column_list = ", ".join(columns)
        history_columns = ", ".join([*columns, *HISTORY_COLUMNS])
        cursor.execute(
            f"WITH changed AS ({statement} RETURNING t.*) "
            f"INSERT INTO {history_table} ({history_columns}) "
            f"SELECT {column_list}, %s, %s, %s, %s FROM changed",
            [*params, date, reason, history_type, actor_id],
        )

    def _delete_gone(self, cursor, spec: TableSpec, history) -> None:
        qn = self.connection.ops.quote_name
        org = self._organization_id
        table, temp, pk, columns = self._parts(spec)
        gone = (
            f"SELECT t.{pk} FROM {table} t WHERE t.organization_id = %s AND "
            f"NOT EXISTS (SELECT 1 FROM {temp} b WHERE b.{pk} = t.{pk})"
        )
        for relation in outside_set_null_relations(spec):
            rel_table = qn(relation.related_model._meta.db_table)
            rel_column = qn(relation.field.column)
            cursor.execute(
                f"UPDATE {rel_table} SET {rel_column} = NULL WHERE {rel_column} IN ({gone})",
                [org],
            )
        self._with_history(
            cursor,
            spec,
            f"DELETE FROM {table} t WHERE t.organization_id = %s AND "
            f"NOT EXISTS (SELECT 1 FROM {temp} b WHERE b.{pk} = t.{pk})",
            "-",
            [org],
            history,
        )

    def _overwrite(self, cursor, spec: TableSpec, rows: str, match: str, history) -> None:
        """Overwrites the table's rows `t` with the loaded rows `b` that the FROM clause `rows`
        gives and `match` pairs with them, recording `~` history rows. Unique text values are
        parked first, so two rows that swapped an external id never collide half-way."""
        table, _, pk, columns = self._parts(spec)
        for column in unique_text_columns(spec):
            column = self.connection.ops.quote_name(column)
            cursor.execute(
                f"UPDATE {table} t SET {column} = %s || t.{pk} {rows} "
                f"WHERE {match} AND t.{column} IS DISTINCT FROM b.{column}",
                [PARKED_PREFIX],
            )
        assignments = ", ".join(f"{column} = b.{column}" for column in columns if column != pk)
        self._with_history(
            cursor,
            spec,
            f"UPDATE {table} t SET {assignments} {rows} WHERE {match}",
            "~",
            [],
            history,
        )

    def _revert_and_insert(self, cursor, spec: TableSpec, history) -> None:
        table, temp, pk, columns = self._parts(spec)
        changed = f"FROM {temp} b JOIN {temp}_upd u ON u.{pk} = b.{pk}"
        self._overwrite(cursor, spec, changed, f"t.{pk} = b.{pk}", history)
        column_list = ", ".join(f"b.{column}" for column in columns)
        self._with_history(
            cursor,
            spec,
            f"INSERT INTO {table} AS t ({', '.join(columns)}) SELECT {column_list} "
            f"FROM {temp} b JOIN {temp}_ins i ON i.{pk} = b.{pk}",
            "+",
            [],
            history,
        )

    def history_matches(self, spec: TableSpec) -> bool:
        table, temp, pk, columns = self._parts(spec)
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT (SELECT count(*) FROM {temp}), count(*) FROM {temp} b "
                f"JOIN {table} t ON t.{pk} = b.{pk} WHERE NOT ({self._differs(columns)})"
            )
            expected, matching = cursor.fetchone()
        return expected == matching

    def cleanup(self) -> None:
        if self.connection.needs_rollback or not self._temp:
            self._temp = {}
            return
        with self.connection.cursor() as cursor:
            for temp in self._temp.values():
                cursor.execute(f"DROP TABLE IF EXISTS {temp}, {temp}_ins, {temp}_upd")
        self._temp = {}
