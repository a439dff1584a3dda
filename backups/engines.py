"""How rows move between the database and an archive: one interface, two implementations.

`PostgresEngine` streams with COPY and applies a restore as set-based SQL over temporary tables;
`OrmEngine` does the same through the ORM and runs on any database (SQLite in development and
CI). Both write the same archive bytes and make the same changes; the tests run on both.
"""

import hashlib
import uuid

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection as default_connection
from django.db import transaction
from django.db.models import SET_NULL, CharField, UniqueConstraint, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from .archive import ArchiveError, ArchiveReader, TableDigest, TableSpec, row_decoder, row_encoder

_IN_CLAUSE_CHUNK = 500
_HISTORY_COLUMNS = ("history_date", "history_change_reason", "history_type", "history_user_id")
_USER_COLUMNS = ("created_by_id", "history_user_id")


def _outside_set_null_relations(spec: TableSpec):
    """Foreign keys into `spec`'s table from models the restore does not manage (an import
    job's project, say) whose on_delete is SET_NULL. The restore deletes with raw SQL, which
    skips Django's on_delete, so it applies SET_NULL itself before deleting."""
    restored = {model for model in apps.get_models() if model._meta.app_label == "properties"}
    return [
        relation
        for relation in spec.model._meta.related_objects
        if relation.on_delete is SET_NULL and relation.related_model not in restored
    ]


def _detach_outside_references(spec: TableSpec, pks, using: str) -> None:
    for relation in _outside_set_null_relations(spec):
        relation.related_model._base_manager.using(using).filter(
            **{f"{relation.field.name}__in": pks}
        ).update(**{relation.field.name: None})


class RestoreConflict(Exception):
    """The archive's rows cannot be put back without touching another organisation."""


def engine_for(connection=None):
    connection = connection or default_connection
    if connection.vendor == "postgresql":
        return PostgresEngine(connection)
    return OrmEngine(connection)


def _chunks(items, size=_IN_CLAUSE_CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _empty_counts() -> dict[str, int]:
    return {"inserted": 0, "updated": 0, "deleted": 0}


def _unique_text_columns(spec: TableSpec) -> list[str]:
    """Text columns of the table's unique keys (e.g. a property's external_id, unique per
    project). Rows being reverted may swap such values among themselves, which the constraint,
    checked row by row, would refuse; parking them first makes any order safe."""
    model = spec.model
    unique_sets = [
        constraint.fields
        for constraint in model._meta.constraints
        if isinstance(constraint, UniqueConstraint) and constraint.fields
    ]
    unique_sets += [
        (field.name,) for field in spec.fields if field.unique and not field.primary_key
    ]
    columns = []
    for field_names in unique_sets:
        for name in field_names:
            field = model._meta.get_field(name)
            if (
                field.get_internal_type() in ("CharField", "TextField")
                and field.column not in columns
            ):
                columns.append(field.column)
                break
    return columns


_PARKED_PREFIX = "~restore~"


class OrmEngine:
    name = "orm"

    def __init__(self, connection=None):
        self.connection = connection or default_connection
        self._backup: dict[str, dict] = {}
        self._current: dict[str, dict] = {}
        self._specs: list[TableSpec] = []

    # Backup ----------------------------------------------------------------------------------

    def dump_table(self, spec: TableSpec, organization_id: int, out, digest: TableDigest) -> None:
        for line in self._org_lines(spec, organization_id):
            digest.add_line(line)
            out.write(line)

    def table_digest(self, spec: TableSpec, organization_id: int) -> TableDigest:
        digest = TableDigest()
        for line in self._org_lines(spec, organization_id):
            digest.add_line(line)
        return digest

    def _org_lines(self, spec: TableSpec, organization_id: int, pks=None):
        encode = row_encoder(spec)
        attnames = [field.attname for field in spec.fields]
        queryset = spec.model._base_manager.using(self.connection.alias).filter(
            organization_id=organization_id
        )
        if pks is not None:
            for chunk in _chunks(pks):
                for row in queryset.filter(pk__in=chunk).values_list(*attnames):
                    yield encode(row).encode()
            return
        for row in queryset.order_by("pk").values_list(*attnames).iterator(chunk_size=2000):
            yield encode(row).encode()

    # Restore ---------------------------------------------------------------------------------

    def load(self, reader: ArchiveReader, specs: list[TableSpec], organization_id: int) -> None:
        """Reads the archive's rows and the organisation's current rows, and refuses when a row
        of the archive would overwrite another organisation's."""
        self._specs = specs
        self._organization_id = organization_id
        known_users = self._known_users(reader, specs)
        for spec in specs:
            decode = row_decoder(spec)
            encode = row_encoder(spec)
            pk_index = spec.columns.index(spec.pk_column)
            user_indexes = [spec.columns.index(c) for c in _USER_COLUMNS if c in spec.columns]
            org_index = spec.columns.index("organization_id")
            rows = {}
            for line in reader.lines(spec.name):
                values = decode(line)
                if values[org_index] != organization_id:
                    raise ArchiveError(f"Table {spec.name} holds rows of another organisation.")
                # A user deleted since the backup: the restored row forgets them, as the
                # foreign key's SET_NULL would have.
                missing_user = [i for i in user_indexes if values[i] not in known_users]
                for index in missing_user:
                    values[index] = None
                rows[values[pk_index]] = (encode(values).encode() if missing_user else line, values)
            self._backup[spec.name] = rows
            current = {}
            for line in self._org_lines(spec, organization_id):
                values = decode(line)
                current[values[pk_index]] = (line, values)
            self._current[spec.name] = current
            absent = [pk for pk in rows if pk not in current]
            for chunk in _chunks(absent):
                if spec.model._base_manager.filter(pk__in=chunk).exists():
                    raise RestoreConflict(
                        f"Rows of {spec.name} in the backup have ids now used by another "
                        "organisation."
                    )

    def _known_users(self, reader, specs) -> set:
        referenced = set()
        for spec in specs:
            decode = row_decoder(spec)
            indexes = [spec.columns.index(c) for c in _USER_COLUMNS if c in spec.columns]
            for line in reader.lines(spec.name):
                values = decode(line)
                referenced.update(values[i] for i in indexes)
        referenced.discard(None)
        known = {None}
        for chunk in _chunks(referenced):
            known.update(get_user_model().objects.filter(pk__in=chunk).values_list("pk", flat=True))
        return known

    def plan(self) -> dict[str, dict[str, int]]:
        counts = {}
        for spec in self._specs:
            backup, current = self._backup[spec.name], self._current[spec.name]
            table = _empty_counts()
            table["inserted"] = sum(1 for pk in backup if pk not in current)
            if not spec.is_history:
                table["deleted"] = sum(1 for pk in current if pk not in backup)
                table["updated"] = sum(
                    1
                    for pk, (line, _) in backup.items()
                    if pk in current and current[pk][0] != line
                )
            counts[spec.name] = table
        return counts

    def apply(self, *, reason: str, actor_id: int | None) -> None:
        now = timezone.now()
        live = [spec for spec in self._specs if not spec.is_history]
        for spec in self._specs:
            if spec.is_history:
                backup, current = self._backup[spec.name], self._current[spec.name]
                missing = [values for pk, (_, values) in backup.items() if pk not in current]
                spec.model._base_manager.bulk_create(
                    [self._instance(spec, values) for values in missing], batch_size=500
                )
        self._reset_sequences([spec.model for spec in self._specs if spec.is_history])

        def record(spec, rows, history_type):
            history = spec.model.history.model
            history._base_manager.bulk_create(
                [
                    history(
                        **self._as_dict(spec, values),
                        history_date=now,
                        history_type=history_type,
                        history_change_reason=reason,
                        history_user_id=actor_id,
                    )
                    for values in rows
                ],
                batch_size=500,
            )

        for spec in reversed(live):
            backup, current = self._backup[spec.name], self._current[spec.name]
            gone = [pk for pk in current if pk not in backup]
            record(spec, [current[pk][1] for pk in gone], "-")
            for chunk in _chunks(gone):
                _detach_outside_references(spec, chunk, self.connection.alias)
                spec.model._base_manager.filter(pk__in=chunk)._raw_delete(self.connection.alias)
        for spec in live:
            backup, current = self._backup[spec.name], self._current[spec.name]
            changed = [
                values
                for pk, (line, values) in backup.items()
                if pk in current and current[pk][0] != line
            ]
            fields = [field.name for field in spec.fields if not field.primary_key]
            self._park_unique_values(spec, changed)
            spec.model._base_manager.bulk_update(
                [self._instance(spec, values) for values in changed], fields, batch_size=200
            )
            record(spec, changed, "~")
            added = [values for pk, (_, values) in backup.items() if pk not in current]
            spec.model._base_manager.bulk_create(
                [self._instance(spec, values) for values in added], batch_size=500
            )
            # bulk_create stamps auto_now fields with the current time; put the backup's back.
            auto_now = [field.name for field in spec.fields if getattr(field, "auto_now", False)]
            if auto_now and added:
                spec.model._base_manager.bulk_update(
                    [self._instance(spec, values) for values in added], auto_now, batch_size=500
                )
            record(spec, added, "+")
        self._reset_sequences([spec.model for spec in live])
        self._check_constraints()

    def _park_unique_values(self, spec: TableSpec, changed: list[list]) -> None:
        current = self._current[spec.name]
        pk_index = spec.columns.index(spec.pk_column)
        for column in _unique_text_columns(spec):
            index = spec.columns.index(column)
            moving = [
                values[pk_index]
                for values in changed
                if current[values[pk_index]][1][index] != values[index]
            ]
            field = next(field for field in spec.fields if field.column == column)
            for chunk in _chunks(moving):
                spec.model._base_manager.filter(pk__in=chunk).update(
                    **{field.name: Concat(Value(_PARKED_PREFIX), Cast("pk", CharField()))}
                )

    def _check_constraints(self) -> None:
        # Foreign keys are deferred to commit; checking now makes a violation (a row of another
        # table, ours or not, still pointing at a deleted one) fail the restore inside its own
        # transaction.
        self.connection.check_constraints()

    def history_matches(self, spec: TableSpec) -> bool:
        """Whether every history row of the archive is in the database as it was backed up."""
        backup = self._backup[spec.name]
        digest, expected = TableDigest(), TableDigest()
        for line in self._org_lines(spec, self._organization_id, pks=list(backup)):
            digest.add_line(line)
        for line, _ in backup.values():
            expected.add_line(line)
        return (digest.count, digest.hexdigest) == (expected.count, expected.hexdigest)

    def cleanup(self) -> None:
        self._backup, self._current = {}, {}

    @staticmethod
    def _as_dict(spec: TableSpec, values: list) -> dict:
        return {field.attname: value for field, value in zip(spec.fields, values, strict=True)}

    def _instance(self, spec: TableSpec, values: list):
        return spec.model(**self._as_dict(spec, values))

    def _reset_sequences(self, models) -> None:
        """Rows were inserted with explicit ids: move PostgreSQL's sequences past them, and
        never back, so an id of a row the restore deleted is not handed out again (its
        history would then describe two objects). SQLite's AUTOINCREMENT does this itself."""
        if self.connection.vendor != "postgresql":
            return
        qn = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            for model in models:
                table, column = model._meta.db_table, model._meta.pk.column
                cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
                sequence = cursor.fetchone()[0]
                if sequence is None:
                    continue
                cursor.execute(
                    f"SELECT setval(%s, GREATEST((SELECT COALESCE(max({qn(column)}), 1) "
                    f"FROM {qn(table)}), (SELECT last_value FROM {sequence})))",
                    [sequence],
                )


class PostgresEngine(OrmEngine):
    """COPY out for backups; COPY into temporary tables and set-based SQL for restores."""

    name = "postgresql"

    def __init__(self, connection=None):
        super().__init__(connection)
        self._temp: dict[str, str] = {}

    def _select_sql(self, spec: TableSpec, organization_id: int) -> str:
        qn = self.connection.ops.quote_name
        columns = ", ".join(qn(column) for column in spec.columns)
        # No ORDER BY: the table hash does not depend on order, and sorting a million rows
        # would cost more than reading them.
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
            with cursor.cursor.copy(sql) as copy:
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
                copy_in = f"COPY {temp} ({columns}) FROM STDIN"
                with cursor.cursor.copy(copy_in) as copy, reader.open_table(spec.name) as member:
                    while chunk := member.read(1 << 20):
                        copy.write(chunk)
                cursor.execute(
                    f"SELECT count(*) FROM {temp} WHERE organization_id IS DISTINCT FROM %s",
                    [organization_id],
                )
                if cursor.fetchone()[0]:
                    raise ArchiveError(f"Table {spec.name} holds rows of another organisation.")
                for column in _USER_COLUMNS:
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

    def _parts(self, spec: TableSpec):
        qn = self.connection.ops.quote_name
        pk = qn(spec.pk_column)
        columns = [qn(column) for column in spec.columns]
        return qn(spec.name), self._temp[spec.name], pk, columns

    def _differs(self, columns) -> str:
        target = ", ".join(f"t.{column}" for column in columns)
        backup = ", ".join(f"b.{column}" for column in columns)
        return f"ROW({target}) IS DISTINCT FROM ROW({backup})"

    def plan(self) -> dict[str, dict[str, int]]:
        """Counts the changes, and keeps the ids to insert and update in their own temporary
        tables: the statements that apply them then never read the table they write, which
        PostgreSQL may otherwise scan once per row while it grows."""
        counts = {}
        org = self._organization_id
        with self.connection.cursor() as cursor:
            for spec in self._specs:
                table, temp, pk, columns = self._parts(spec)
                result = _empty_counts()
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
                counts[spec.name] = result
        return counts

    def apply(self, *, reason: str, actor_id: int | None) -> None:
        """Applies what plan() found; call plan() first."""
        org = self._organization_id
        now = timezone.now()
        live = [spec for spec in self._specs if not spec.is_history]
        qn = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            for spec in self._specs:
                if spec.is_history:
                    table, temp, pk, columns = self._parts(spec)
                    column_list = ", ".join(f"b.{column}" for column in columns)
                    cursor.execute(
                        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {column_list} "
                        f"FROM {temp} b JOIN {temp}_ins i ON i.{pk} = b.{pk}"
                    )
            self._reset_sequences([spec.model for spec in self._specs if spec.is_history])

            def with_history(spec, statement, history_type, params):
                qn = self.connection.ops.quote_name
                history_table = qn(spec.model.history.model._meta.db_table)
                _, _, _, columns = self._parts(spec)
                column_list = ", ".join(columns)
                history_columns = ", ".join([*columns, *_HISTORY_COLUMNS])
                cursor.execute(
                    f"WITH changed AS ({statement} RETURNING t.*) "
                    f"INSERT INTO {history_table} ({history_columns}) "
                    f"SELECT {column_list}, %s, %s, %s, %s FROM changed",
                    [*params, now, reason, history_type, actor_id],
                )

            for spec in reversed(live):
                table, temp, pk, columns = self._parts(spec)
                gone = (
                    f"SELECT t.{pk} FROM {table} t WHERE t.organization_id = %s AND "
                    f"NOT EXISTS (SELECT 1 FROM {temp} b WHERE b.{pk} = t.{pk})"
                )
                for relation in _outside_set_null_relations(spec):
                    rel_table = qn(relation.related_model._meta.db_table)
                    rel_column = qn(relation.field.column)
                    cursor.execute(
                        f"UPDATE {rel_table} SET {rel_column} = NULL "
                        f"WHERE {rel_column} IN ({gone})",
                        [org],
                    )
                with_history(
                    spec,
                    f"DELETE FROM {table} t WHERE t.organization_id = %s AND "
                    f"NOT EXISTS (SELECT 1 FROM {temp} b WHERE b.{pk} = t.{pk})",
                    "-",
                    [org],
                )
            for spec in live:
                table, temp, pk, columns = self._parts(spec)
                for column in _unique_text_columns(spec):
                    column = self.connection.ops.quote_name(column)
                    cursor.execute(
                        f"UPDATE {table} t SET {column} = %s || t.{pk} FROM {temp} b "
                        f"JOIN {temp}_upd u ON u.{pk} = b.{pk} "
                        f"WHERE t.{pk} = b.{pk} AND t.{column} IS DISTINCT FROM b.{column}",
                        [_PARKED_PREFIX],
                    )
                assignments = ", ".join(
                    f"{column} = b.{column}" for column in columns if column != pk
                )
                with_history(
                    spec,
                    f"UPDATE {table} t SET {assignments} FROM {temp} b "
                    f"JOIN {temp}_upd u ON u.{pk} = b.{pk} WHERE t.{pk} = b.{pk}",
                    "~",
                    [],
                )
                column_list = ", ".join(f"b.{column}" for column in columns)
                with_history(
                    spec,
                    f"INSERT INTO {table} AS t ({', '.join(columns)}) SELECT {column_list} "
                    f"FROM {temp} b JOIN {temp}_ins i ON i.{pk} = b.{pk}",
                    "+",
                    [],
                )
            self._reset_sequences([spec.model for spec in live])
        self._check_constraints()

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
