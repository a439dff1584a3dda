"""Where validated rows go. One interface, three writers; `writer_for` is the one place that
picks one.

Every writer stores a batch inside the caller's transaction (the pipeline commits batch by
batch) and returns the properties it could not store, each with the reason, so the pipeline
reports exactly those rows as rejected and every other row as written.
"""

import json
import re
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from properties.models import Property

IMPORTED_GROUPS = ("basic_info", "planning_controls", "financial_metrics", "spatial_attributes")
ALL_GROUPS = (*IMPORTED_GROUPS, "environmental_factors")
_EMPTY_GROUPS = dict.fromkeys(ALL_GROUPS, {})


class PropertyWriter(Protocol):
    #: False: create() takes PropertyRow records (project_id, organization_id, external_id,
    #: groups, created_by_id) instead of Property instances.
    takes_models: bool

    def create(self, properties: list[Property]) -> list[tuple[Property, str]]: ...

    def update(self, properties: list[Property]) -> list[tuple[Property, str]]: ...


class NullWriter:
    """A dry run: every row is classified exactly as in a real run, nothing is written."""

    takes_models = False

    def create(self, properties):
        return []

    def update(self, properties):
        return []


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class OrmBulkWriter:
    """Bulk ORM writes with one history row per created or updated property, carrying the
    importing user and `import <job id>` as the change reason. Used on SQLite."""

    takes_models = True

    def __init__(self, *, actor, change_reason: str):
        self.actor = actor
        self.change_reason = change_reason

    def _history_kwargs(self):
        return {"default_user": self.actor, "default_change_reason": self.change_reason}

    def create(self, properties):
        try:
            with transaction.atomic():
                bulk_create_with_history(properties, Property, **self._history_kwargs())
            return []
        except IntegrityError:
            # Another writer stored one of these ids since the batch was classified. Retry row by
            # row so only the conflicting rows are rejected (never the whole batch).
            failures = []
            for prop in properties:
                prop.pk = None
                prop._state.adding = True
                try:
                    with transaction.atomic():
                        bulk_create_with_history([prop], Property, **self._history_kwargs())
                except IntegrityError as exc:
                    failures.append((prop, f"could not be stored: {_first_line(exc)}"))
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


# The columns both tables share; the history table adds history_* and keeps the property's id.
_COLUMNS = (
    "project_id, organization_id, external_id, basic_info, planning_controls, "
    "environmental_factors, financial_metrics, spatial_attributes, status, created_by_id, "
    "created_at, updated_at"
)

_STAGE = """
CREATE TEMPORARY TABLE IF NOT EXISTS import_stage (
    id bigint, external_id text, groups jsonb
) ON COMMIT DELETE ROWS
"""

# One statement writes the properties and their history rows: a conflict on
# (project, external_id) -- another writer stored the id since the batch was classified --
# writes neither, and RETURNING tells which rows went in.
_INSERT = f"""
WITH stored AS (
    INSERT INTO {Property._meta.db_table} ({_COLUMNS})
    SELECT %(project)s, %(organization)s, s.external_id, s.groups -> 'basic_info',
           s.groups -> 'planning_controls', s.groups -> 'environmental_factors',
           s.groups -> 'financial_metrics', s.groups -> 'spatial_attributes', 'active',
           %(actor)s, %(now)s, %(now)s
    FROM import_stage s
    ON CONFLICT (project_id, external_id) DO NOTHING
    RETURNING id, {_COLUMNS}
)
INSERT INTO {Property.history.model._meta.db_table}
    (id, {_COLUMNS}, history_date, history_change_reason, history_type, history_user_id)
SELECT id, {_COLUMNS}, %(now)s, %(reason)s, '+', %(actor)s FROM stored
RETURNING external_id
"""

_UPDATE = f"""
WITH stored AS (
    UPDATE {Property._meta.db_table} p
    SET basic_info = s.groups -> 'basic_info',
        planning_controls = s.groups -> 'planning_controls',
        financial_metrics = s.groups -> 'financial_metrics',
        spatial_attributes = s.groups -> 'spatial_attributes',
        updated_at = %(now)s
    FROM import_stage s
    WHERE p.id = s.id AND p.project_id = %(project)s
    RETURNING p.id, {", ".join(f"p.{c.strip()}" for c in _COLUMNS.split(","))}
)
INSERT INTO {Property.history.model._meta.db_table}
    (id, {_COLUMNS}, history_date, history_change_reason, history_type, history_user_id)
SELECT id, {_COLUMNS}, %(now)s, %(reason)s, '~', %(actor)s FROM stored
RETURNING external_id
"""


# COPY's text format: backslash, tab, newline and carriage return are escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]").search


def _copy_text(value: str) -> str:
    # Most values need no escape; searching is cheaper than translating.
    return value.translate(_COPY_ESCAPES) if _NEEDS_ESCAPE(value) else value


class CopyWriter:
    """PostgreSQL fast path: the batch is COPied into a temporary table, then one statement per
    kind moves it into the property table and its history table. Same rows, same history rows
    (user, change reason, history type) as OrmBulkWriter."""

    takes_models = False

    def __init__(self, *, actor, change_reason: str):
        self.actor_id = actor.pk if actor is not None else None
        self.change_reason = change_reason

    def _params(self, project_id, organization_id):
        return {
            "project": project_id,
            "organization": organization_id,
            "actor": self.actor_id,
            "now": timezone.now(),
            "reason": self.change_reason,
        }

    @staticmethod
    def prepare(valid) -> str:
        """A new row's COPY line (text format), built in the pipeline's reader thread."""
        groups = json.dumps({**_EMPTY_GROUPS, **valid.groups})
        return f"\\N\t{_copy_text(valid.external_id)}\t{_copy_text(groups)}\n"

    def _stage(self, cursor, properties):
        cursor.execute(_STAGE)
        cursor.execute("TRUNCATE import_stage")
        dumps = json.dumps
        raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy()
        # One JSON document a row (all five groups, {} when empty, like the model's defaults):
        # one dumps() call instead of five is a third of the Python cost of a row here.
        with raw.copy("COPY import_stage (id, external_id, groups) FROM STDIN") as copy:
            if all(getattr(prop, "prepared", None) for prop in properties):
                copy.write("".join(prop.prepared for prop in properties))
                return
            write = copy.write_row
            for prop in properties:
                groups = getattr(prop, "groups", None)
                if groups is None:
                    groups = {group: getattr(prop, group) for group in ALL_GROUPS}
                else:
                    groups = {**_EMPTY_GROUPS, **groups}
                write((prop.pk, prop.external_id, dumps(groups)))

    def _write(self, sql, properties):
        if not properties:
            return []
        first = properties[0]
        with connection.cursor() as cursor:
            self._stage(cursor, properties)
            cursor.execute(sql, self._params(first.project_id, first.organization_id))
            stored = {external_id for (external_id,) in cursor.fetchall()}
        return [
            (prop, "could not be stored: another import stored this id at the same time")
            for prop in properties
            if prop.external_id not in stored
        ]

    def create(self, properties):
        return self._write(_INSERT, properties)

    def update(self, properties):
        return self._write(_UPDATE, properties)


def writer_for(*, dry_run: bool, actor, change_reason: str) -> PropertyWriter:
    """COPY on PostgreSQL, the bulk ORM elsewhere. The IMPORT_WRITER setting ("orm" or "copy")
    forces one, so the same cases run through both writers on PostgreSQL."""
    if dry_run:
        return NullWriter()
    kind = settings.IMPORT_WRITER or ("copy" if connection.vendor == "postgresql" else "orm")
    if kind == "copy":
        return CopyWriter(actor=actor, change_reason=change_reason)
    return OrmBulkWriter(actor=actor, change_reason=change_reason)
