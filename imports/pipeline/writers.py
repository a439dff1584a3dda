"""Where validated rows go. One interface, four writers (SqliteWriter in sqlite_writer.py);
`writer_for` is the one place that picks one.

A writer is made for one project. It stores a batch inside the caller's transaction (the
pipeline commits batch by batch) and returns the rows it could not store, each with the reason,
so the pipeline reports exactly those rows as rejected and every other row as written.

New rows arrive as a `BatchRows` batch of `NewRow` tuples, the compact form the validation
(possibly in another process) hands over: their JSON groups are already serialised, and a
writer with a `prepare` step has already turned each into its own format there.
"""

import json
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from properties.models import Project, Property

from .refusals import STORED_MEANWHILE, refusal_sentence
from .rows import ALL_GROUPS, IMPORTED_GROUPS, BatchRows, NewRow
from .sqlite_writer import SqliteWriter


class PropertyWriter(Protocol):
    def create(self, rows: BatchRows) -> list[tuple[NewRow, str]]:
        """Store rows the pipeline found absent; report those another writer stored since."""

    def update(self, properties: list[Property]) -> list[tuple[Property, str]]: ...


class OptimisticWriter(PropertyWriter, Protocol):
    def create_new(self, rows: BatchRows) -> bool:
        """Store rows the pipeline did not look up, all or none: False (nothing written) when
        one of their ids is taken, so the pipeline looks the batch up and classifies it."""


class NullWriter:
    """A dry run: every row is classified exactly as in a real run, nothing is written."""

    def __init__(self, *, project: Project):
        self.project = project

    def create(self, rows):
        return []

    def update(self, properties):
        return []


class OrmBulkWriter:
    """Bulk ORM writes with one history row per created or updated property, carrying the
    importing user and `import <job id>` as the change reason. Runs on any database; the
    reference the faster writers are tested against (IMPORT_WRITER=orm)."""

    def __init__(self, *, project: Project, actor, change_reason: str):
        self.project = project
        self.actor = actor
        self.change_reason = change_reason

    def _history_kwargs(self):
        return {"default_user": self.actor, "default_change_reason": self.change_reason}

    def _model(self, row: NewRow) -> Property:
        # Bulk creation skips Property.save(), so the tenant key is set here.
        return Property(
            project=self.project,
            organization_id=self.project.organization_id,
            external_id=row.external_id,
            created_by=self.actor,
            **row.groups(),
        )

    def create_new(self, rows):
        try:
            with transaction.atomic():
                bulk_create_with_history(
                    [self._model(row) for row in rows], Property, **self._history_kwargs()
                )
            return True
        except IntegrityError:
            return False

    def create(self, rows):
        try:
            with transaction.atomic():
                bulk_create_with_history(
                    [self._model(row) for row in rows], Property, **self._history_kwargs()
                )
            return []
        except IntegrityError:
            # Another writer stored one of these ids since the batch was classified. Retry row by
            # row so only the conflicting rows are rejected (never the whole batch).
            failures = []
            for row in rows:
                try:
                    with transaction.atomic():
                        bulk_create_with_history(
                            [self._model(row)], Property, **self._history_kwargs()
                        )
                except IntegrityError as exc:
                    failures.append((row, refusal_sentence(exc)))
            return failures

    def update(self, properties):
        now = timezone.now()
        for prop in properties:
            prop.updated_at = now
        bulk_update_with_history(
            properties,
            Property,
            fields=[*IMPORTED_GROUPS, "updated_at"],
            **self._history_kwargs(),
        )
        return []


# COPY's text format: backslash, tab, newline and carriage return are escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str) -> str:
    # Most values need no escape; four membership tests are cheaper than translating.
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


_PROPERTY = Property._meta.db_table
_HISTORY = Property.history.model._meta.db_table
# The order of a prepared row (see CopyWriter.prepare), then the columns every row of a batch
# shares; the history table has the same columns plus history_*.
_ROW_COLUMNS = f"external_id, {', '.join(ALL_GROUPS)}"
_COLUMNS = (
    f"{_ROW_COLUMNS}, project_id, organization_id, status, created_by_id, created_at, updated_at"
)
_HISTORY_INSERT = f"""
INSERT INTO {_HISTORY}
    (id, {_COLUMNS}, history_date, history_change_reason, history_type, history_user_id)
SELECT id, {_COLUMNS}, %(now)s, %(reason)s, %(kind)s, %(actor)s
FROM {_PROPERTY} WHERE id = ANY(%(ids)s::bigint[])
"""

# The careful paths (a batch that met a concurrent writer, and updates) go through a staging
# table: one statement then decides per row, and RETURNING tells which rows went in.
_STAGE = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS import_stage_rows (
    id bigint, external_id text, {", ".join(f"{group} jsonb" for group in ALL_GROUPS)}
) ON COMMIT DELETE ROWS
"""
_STAGED_INSERT = f"""
INSERT INTO {_PROPERTY} ({_COLUMNS})
SELECT {", ".join(f"s.{column.strip()}" for column in _ROW_COLUMNS.split(","))},
       %(project)s, %(organization)s, 'active', %(actor)s, %(now)s, %(now)s
FROM import_stage_rows s
ON CONFLICT (project_id, external_id) DO NOTHING
RETURNING id, external_id
"""
_STAGED_UPDATE = f"""
UPDATE {_PROPERTY} p
SET {", ".join(f"{group} = s.{group}" for group in IMPORTED_GROUPS)}, updated_at = %(now)s
FROM import_stage_rows s
WHERE p.id = s.id AND p.project_id = %(project)s
RETURNING p.id, p.external_id
"""


class CopyWriter:
    """PostgreSQL fast path. New rows are COPied straight into the property table under ids
    reserved from its sequence, and their history rows are copied from the stored rows by one
    INSERT ... SELECT: no row is parsed twice. If another writer stored one of the batch's ids
    since the batch was classified, the unique constraint stops the COPY; the batch then takes
    the staged path, which stores every other row and reports those. Same rows, same history
    rows (user, change reason, history type) as OrmBulkWriter."""

    def __init__(self, *, project: Project, actor, change_reason: str):
        self.project = project
        self.actor_id = actor.pk if actor is not None else None
        self.change_reason = change_reason
        self._id_sequence = None
        #: The ids the last create() gave its rows by COPY, in row order (as text); None when
        #: it took the staged path. A sync records its provenance with them.
        self.last_created_ids: list[str] | None = None

    @staticmethod
    def prepare(external_id: str, group_texts: tuple) -> str:
        """A new row's COPY text (external id and groups), built during validation."""
        return "\t".join([_copy_text(external_id), *map(_copy_text, group_texts)])

    def _params(self, **extra):
        return {
            "project": self.project.pk,
            "organization": self.project.organization_id,
            "actor": self.actor_id,
            "now": timezone.now(),
            "reason": self.change_reason,
            **extra,
        }

    def create_new(self, rows):
        try:
            with transaction.atomic():  # a savepoint: a conflict undoes only this attempt
                self._copy_new(rows)
            return True
        # psycopg's own error: its COPY does not go through Django's error wrapper.
        except (IntegrityError, connection.Database.IntegrityError):
            return False

    def create(self, rows):
        self.last_created_ids = None
        if not rows or self.create_new(rows):
            return []
        return self._staged(
            _STAGED_INSERT, rows, ((None, row.external_id, *row.group_texts) for row in rows)
        )

    def _copy_new(self, rows):
        params = self._params(kind="+")
        shared = "\t".join(
            [
                "",
                str(self.project.pk),
                str(self.project.organization_id),
                "active",
                "\\N" if self.actor_id is None else str(self.actor_id),
                params["now"].isoformat(),
                params["now"].isoformat(),
            ]
        )
        with connection.cursor() as cursor:
            if self._id_sequence is None:
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [_PROPERTY])
                (self._id_sequence,) = cursor.fetchone()
            # The sequence's name as a constant: looking it up per id costs every row (the
            # figure is in docs/imports.md). The ids come back as one text: a row per id, or a
            # list, costs more to convert.
            cursor.execute(
                "SELECT string_agg(nextval(%s::regclass)::text, ',') FROM generate_series(1, %s)",
                [self._id_sequence, len(rows)],
            )
            (id_list,) = cursor.fetchone()
            ids = id_list.split(",")
            data = "".join(
                [
                    f"{pk}\t{prepared}{shared}\n"
                    for pk, prepared in zip(ids, self._prepared(rows), strict=True)
                ]
            )
            with cursor.cursor.copy(f"COPY {_PROPERTY} (id, {_COLUMNS}) FROM STDIN") as copy:
                copy.write(data)
            cursor.execute(_HISTORY_INSERT, {**params, "ids": f"{{{id_list}}}"})
        self.last_created_ids = ids

    def _prepared(self, rows: BatchRows) -> list[str]:
        prepared = rows.prepared()
        if None not in prepared:
            return prepared
        # Rows validated without prepare() (for another writer) get it now.
        prepare = self.prepare
        return [
            row.prepared if row.prepared is not None else prepare(row.external_id, row.group_texts)
            for row in rows
        ]

    def update(self, properties):
        if not properties:
            return []
        dumps = json.dumps
        return self._staged(
            _STAGED_UPDATE,
            properties,
            (
                (prop.pk, prop.external_id, *(dumps(getattr(prop, g)) for g in ALL_GROUPS))
                for prop in properties
            ),
            kind="~",
        )

    def _staged(self, sql, items, stage_rows, *, kind="+"):
        params = self._params(kind=kind)
        with connection.cursor() as cursor:
            cursor.execute(_STAGE)
            cursor.execute("TRUNCATE import_stage_rows")
            columns = f"id, {_ROW_COLUMNS}"
            with cursor.cursor.copy(f"COPY import_stage_rows ({columns}) FROM STDIN") as copy:
                for stage_row in stage_rows:
                    copy.write_row(stage_row)
            cursor.execute(sql, params)
            stored = dict((external_id, pk) for pk, external_id in cursor.fetchall())
            if stored:
                ids = ",".join(map(str, stored.values()))
                cursor.execute(_HISTORY_INSERT, {**params, "ids": f"{{{ids}}}"})
        return [(item, STORED_MEANWHILE) for item in items if item.external_id not in stored]


def writer_for(*, project: Project, dry_run: bool, actor, change_reason: str) -> PropertyWriter:
    """COPY on PostgreSQL, executemany on SQLite. The IMPORT_WRITER setting ("orm", "copy" or
    "sqlite") forces one, so the same cases also run through the bulk ORM writer."""
    if dry_run:
        return NullWriter(project=project)
    writers = {"orm": OrmBulkWriter, "copy": CopyWriter, "sqlite": SqliteWriter}
    needs = {"copy": "postgresql", "sqlite": "sqlite"}
    native = {vendor: kind for kind, vendor in needs.items()}
    kind = settings.IMPORT_WRITER or native.get(connection.vendor, "orm")
    if kind not in writers:
        raise ImproperlyConfigured(
            f"IMPORT_WRITER must be one of {', '.join(writers)}, not {kind!r}."
        )
    if needs.get(kind, connection.vendor) != connection.vendor:
        raise ImproperlyConfigured(
            f"IMPORT_WRITER={kind} runs on {needs[kind]} only; this database is "
            f"{connection.vendor}."
        )
    return writers[kind](project=project, actor=actor, change_reason=change_reason)
