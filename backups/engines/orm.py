"""The ORM engine: runs on any database, holding a restore's rows in memory. The merge engine
(`backups.merge`) builds on its reads; SqliteEngine and PostgresEngine, which stream, on the
rest. Kept as the reference the streaming engines write the same bytes as (tests/backups)."""

from django.contrib.auth import get_user_model
from django.db import connection as default_connection
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from ..archive import ArchiveError, ArchiveReader, TableDigest, TableSpec, row_decoder, row_encoder
from .base import (
    PARKED_PREFIX,
    USER_COLUMNS,
    RestoreConflict,
    chunks,
    detach_outside_references,
    empty_counts,
    outside_reference_error,
    reference_fields,
    spec_of_model,
    unique_text_columns,
)


def _archived_rows(reader: ArchiveReader, spec: TableSpec, decode):
    """(line, values) of the archive's rows of `spec`; a value that does not decode (text
    that is not JSON in a JSON column, say) refuses the archive with the table's name."""
    for line in reader.lines(spec.name):
        try:
            yield line, decode(line)
        except ValueError as exc:
            raise ArchiveError(f"Table {spec.name} has a row that cannot be read: {exc}.") from exc


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
            for chunk in chunks(pks):
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
            user_indexes = [spec.columns.index(c) for c in USER_COLUMNS if c in spec.columns]
            org_index = spec.columns.index("organization_id")
            rows = {}
            for line, values in _archived_rows(reader, spec, decode):
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
            for chunk in chunks(absent):
                if spec.model._base_manager.filter(pk__in=chunk).exists():
                    raise RestoreConflict(
                        f"Rows of {spec.name} in the backup have ids now used by another "
                        "organisation."
                    )
        self._check_references()

    def _check_references(self) -> None:
        """Every foreign key of every archived row must point at a row of the organisation, so
        a crafted archive cannot link an analysis to another organisation's property: at a
        live row of the archive, at a history row of the archive when the row is history, or
        at a row of the organisation in the database. An archived history row's id is an
        unchecked integer: it must name no row of another organisation, and it never vouches
        for a live row."""
        for spec in self._specs:
            if spec.is_history:
                self._check_history_ids(spec)
        for spec in self._specs:
            for field in reference_fields(spec):
                model, history = field.related_model, spec.is_history
                index = spec.columns.index(field.column)
                referenced = {values[index] for _, values in self._backup[spec.name].values()}
                referenced.discard(None)
                outside = referenced - self._archived_ids(model, history=history)
                outside -= self._organization_ids(model, outside)
                if outside:
                    raise ArchiveError(outside_reference_error(spec, field.column, model, outside))

    def _check_history_ids(self, spec: TableSpec) -> None:
        """Refuses history rows whose id is that of another organisation's row."""
        model = spec.live_model
        column = model._meta.pk.column
        index = spec.columns.index(column)
        ids = {values[index] for _, values in self._backup[spec.name].values()}
        ids.discard(None)
        taken = self._foreign_ids(model, ids)
        if taken:
            raise ArchiveError(outside_reference_error(spec, column, model, taken))

    def _foreign_ids(self, model, ids) -> set:
        """Which of `ids` name another organisation's `model` row, live or history."""
        found = set()
        for chunk in chunks(ids):
            for manager in (model._base_manager, model.history.model._base_manager):
                found.update(
                    manager.using(self.connection.alias)
                    .filter(id__in=chunk)
                    .exclude(organization_id=self._organization_id)
                    .values_list("id", flat=True)
                )
        return found

    def _archived_ids(self, model, *, history: bool) -> set:
        """The ids of `model` rows in the archive: its live rows', and with `history` its
        history rows' too."""
        ids = set()
        live = spec_of_model(self._specs, model, history=False)
        if live is not None:
            ids.update(self._backup[live.name])
        archived = spec_of_model(self._specs, model, history=True) if history else None
        if archived is not None:
            index = archived.columns.index(model._meta.pk.column)
            ids.update(values[index] for _, values in self._backup[archived.name].values())
        return ids

    def _organization_ids(self, model, ids) -> set:
        """Which of `ids` are rows of the organisation in the database: live, or history
        (a row deleted since, which the merge and selective checks then report) whose id no
        other organisation's row has."""
        live, history = set(), set()
        using = self.connection.alias
        for chunk in chunks(ids):
            for manager, found in (
                (model._base_manager, live),
                (model.history.model._base_manager, history),
            ):
                found.update(
                    manager.using(using)
                    .filter(organization_id=self._organization_id, id__in=chunk)
                    .values_list("id", flat=True)
                )
        return live | (history - self._foreign_ids(model, history - live))

    def _known_users(self, reader, specs) -> set:
        referenced = set()
        for spec in specs:
            decode = row_decoder(spec)
            indexes = [spec.columns.index(c) for c in USER_COLUMNS if c in spec.columns]
            for _, values in _archived_rows(reader, spec, decode):
                referenced.update(values[i] for i in indexes)
        referenced.discard(None)
        known = {None}
        for chunk in chunks(referenced):
            known.update(get_user_model().objects.filter(pk__in=chunk).values_list("pk", flat=True))
        return known

    def plan(self) -> dict[str, dict[str, int]]:
        counts = {}
        for spec in self._specs:
            backup, current = self._backup[spec.name], self._current[spec.name]
            table = empty_counts()
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
        history = {"date": timezone.now(), "reason": reason, "user_id": actor_id}
        live = [spec for spec in self._specs if not spec.is_history]
        for spec in self._specs:
            if spec.is_history:
                backup, current = self._backup[spec.name], self._current[spec.name]
                missing = [values for pk, (_, values) in backup.items() if pk not in current]
                spec.model._base_manager.bulk_create(
                    [self._instance(spec, values) for values in missing], batch_size=500
                )
        self._reset_sequences([spec.model for spec in self._specs if spec.is_history])
        # Children before parents when deleting, parents before children when inserting.
        for spec in reversed(live):
            self._delete_gone(spec, history)
        for spec in live:
            self._revert_and_insert(spec, history)
        self._reset_sequences([spec.model for spec in live])
        self._check_constraints()

    def _record(self, spec: TableSpec, rows, history_type: str, history: dict) -> None:
        model = spec.model.history.model
        model._base_manager.bulk_create(
            [
                model(
                    **self._as_dict(spec, values),
                    history_date=history["date"],
                    history_type=history_type,
                    history_change_reason=history["reason"],
                    history_user_id=history["user_id"],
                )
                for values in rows
            ],
            batch_size=500,
        )

    def _delete_gone(self, spec: TableSpec, history: dict) -> None:
        backup, current = self._backup[spec.name], self._current[spec.name]
        gone = [pk for pk in current if pk not in backup]
        self._record(spec, [current[pk][1] for pk in gone], "-", history)
        for chunk in chunks(gone):
            detach_outside_references(spec, chunk, self.connection.alias)
            spec.model._base_manager.filter(pk__in=chunk)._raw_delete(self.connection.alias)

    def _revert_and_insert(self, spec: TableSpec, history: dict) -> None:
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
        self._record(spec, changed, "~", history)
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
        self._record(spec, added, "+", history)

    def _park_unique_values(self, spec: TableSpec, changed: list[list]) -> None:
        current = self._current[spec.name]
        pk_index = spec.columns.index(spec.pk_column)
        for column in unique_text_columns(spec):
            index = spec.columns.index(column)
            moving = [
                values[pk_index]
                for values in changed
                if current[values[pk_index]][1][index] != values[index]
            ]
            field = next(field for field in spec.fields if field.column == column)
            for chunk in chunks(moving):
                spec.model._base_manager.filter(pk__in=chunk).update(
                    **{field.name: Concat(Value(PARKED_PREFIX), Cast("pk", CharField()))}
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
