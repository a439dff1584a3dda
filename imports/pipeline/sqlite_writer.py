"""SQLite fast path for imports: prepared rows stored with executemany, history rows copied
inside the database.

The bulk ORM builds a model instance per row and compiles every value through its field twice
(once for the property, once for its history row), which costs far more than SQLite's own work.
Here a row is a tuple built during validation (its JSON groups already serialised there), the
batch goes in with one executemany in the caller's transaction, and the history rows are copied
from the stored rows by one INSERT ... SELECT, as CopyWriter does on PostgreSQL. Same rows and
same history rows (user, `import <job id>` as the change reason, history type and date) as
OrmBulkWriter; the JSON text is stored compact, as validated, rather than re-serialised.
"""

import contextlib
import json

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from properties.models import Project, Property, Status

from .refusals import STORED_MEANWHILE, refusal_sentence
from .rows import ALL_GROUPS, IMPORTED_GROUPS, BatchRows

_PROPERTY = Property._meta.db_table
_HISTORY = Property.history.model._meta.db_table
# A prepared row (see SqliteWriter.prepare), then the values every row of a batch shares.
_ROW_COLUMNS = ("external_id", *ALL_GROUPS)
_SHARED_COLUMNS = (
    "project_id",
    "organization_id",
    "status",
    "created_by_id",
    "created_at",
    "updated_at",
)
_COLUMNS = ", ".join((*_ROW_COLUMNS, *_SHARED_COLUMNS))
_PLACEHOLDERS = ", ".join(["%s"] * (len(_ROW_COLUMNS) + len(_SHARED_COLUMNS)))
_INSERT = f"INSERT INTO {_PROPERTY} ({_COLUMNS}) VALUES ({_PLACEHOLDERS})"
_INSERT_UNLESS_STORED = f"{_INSERT} ON CONFLICT (project_id, external_id) DO NOTHING"
_UPDATE = (
    f"UPDATE {_PROPERTY} SET {', '.join(f'{group} = %s' for group in IMPORTED_GROUPS)}, "
    "updated_at = %s WHERE id = %s AND project_id = %s"
)
_HISTORY_COPY = f"""
INSERT INTO {_HISTORY}
    (id, {_COLUMNS}, history_date, history_change_reason, history_type, history_user_id)
SELECT id, {_COLUMNS}, %s, %s, %s, %s FROM {_PROPERTY}
"""
# New rows of one batch hold consecutive ids (see _insert_new); any other set of rows is named
# by a JSON list of ids, one parameter whatever its length.
_HISTORY_OF_RANGE = f"{_HISTORY_COPY} WHERE id BETWEEN %s AND %s AND project_id = %s"
_HISTORY_OF_IDS = f"{_HISTORY_COPY} WHERE id IN (SELECT value FROM json_each(%s))"
_STORED_IDS = (
    f"SELECT id FROM {_PROPERTY} WHERE id IN (SELECT value FROM json_each(%s)) AND project_id = %s"
)

DELETED_MEANWHILE = "could not be stored: the property was deleted meanwhile"


@contextlib.contextmanager
def _unchecked_json(cursor):
    """The JSON columns' CHECK (JSON_VALID) parses each of a row's five texts again, in the
    property and in its history row; the texts come from orjson or json.dumps, valid by
    construction. Only this connection, only for the statements inside, restored even when
    one fails (docs/imports.md gives the figure)."""
    cursor.execute("PRAGMA ignore_check_constraints = ON")
    try:
        yield
    finally:
        cursor.execute("PRAGMA ignore_check_constraints = OFF")


class SqliteWriter:
    """The default writer on SQLite. New rows go in by one executemany; the ids SQLite hands
    them are consecutive (AUTOINCREMENT, and the transaction holds the database's only write
    lock), so one INSERT ... SELECT over that id range writes their history rows. A batch that
    meets a stored id takes the careful path: row by row, each conflicting row reported."""

    def __init__(self, *, project: Project, actor, change_reason: str):
        self.project = project
        self.actor_id = actor.pk if actor is not None else None
        self.change_reason = change_reason

    @staticmethod
    def prepare(external_id: str, group_texts: tuple) -> tuple:
        """A new row's own values (external id, then the groups' JSON), built in validation."""
        return (external_id, *group_texts)

    def _now(self) -> str:
        return connection.ops.adapt_datetimefield_value(timezone.now())

    def _history(self, now: str, kind: str) -> list:
        return [now, self.change_reason, kind, self.actor_id]

    def _values(self, rows: BatchRows, now: str) -> list[tuple]:
        shared = (
            self.project.pk,
            self.project.organization_id,
            Status.ACTIVE.value,
            self.actor_id,
            now,
            now,
        )
        prepared = rows.prepared()
        if None in prepared:  # validated for another writer
            prepared = [(row.external_id, *row.group_texts) for row in rows]
        return [values + shared for values in prepared]

    def create_new(self, rows: BatchRows) -> bool:
        try:
            with transaction.atomic():  # a savepoint: a conflict undoes only this attempt
                self._insert_new(rows)
            return True
        except IntegrityError:
            return False

    def _insert_new(self, rows: BatchRows) -> None:
        now = self._now()
        with connection.cursor() as cursor, _unchecked_json(cursor):
            cursor.executemany(_INSERT, self._values(rows, now))
            cursor.execute("SELECT last_insert_rowid()")
            (last,) = cursor.fetchone()
            first = last - len(rows) + 1
            cursor.execute(
                _HISTORY_OF_RANGE, [*self._history(now, "+"), first, last, self.project.pk]
            )
            if cursor.rowcount != len(rows):
                # Cannot happen while SQLite numbers a table's rows in order; if it ever did,
                # the batch is undone rather than left with history rows missing.
                raise RuntimeError(
                    f"The {len(rows)} new rows did not get consecutive ids ({first}-{last})."
                )

    def create(self, rows: BatchRows) -> list:
        if not rows or self.create_new(rows):
            return []
        # Another writer stored some of these ids since the batch was classified: row by row,
        # so only those rows are rejected.
        now = self._now()
        stored, failures = [], []
        with transaction.atomic(), connection.cursor() as cursor:
            for row, values in zip(rows, self._values(rows, now), strict=True):
                try:
                    with transaction.atomic():
                        cursor.execute(_INSERT_UNLESS_STORED, values)
                except IntegrityError as exc:
                    failures.append((row, refusal_sentence(exc)))
                    continue
                if cursor.rowcount == 1:
                    stored.append(cursor.lastrowid)
                else:
                    failures.append((row, STORED_MEANWHILE))
            if stored:
                cursor.execute(_HISTORY_OF_IDS, [*self._history(now, "+"), json.dumps(stored)])
        return failures

    def update(self, properties: list[Property]) -> list:
        if not properties:
            return []
        now = timezone.now()
        stamp = connection.ops.adapt_datetimefield_value(now)
        dumps, project_id = json.dumps, self.project.pk
        ids = [prop.pk for prop in properties]
        # Atomic, as the ORM's bulk update is: outside a transaction, each row would commit.
        with transaction.atomic(), connection.cursor() as cursor, _unchecked_json(cursor):
            cursor.executemany(
                _UPDATE,
                [
                    (
                        *(dumps(getattr(prop, group)) for group in IMPORTED_GROUPS),
                        stamp,
                        pk,
                        project_id,
                    )
                    for prop, pk in zip(properties, ids, strict=True)
                ],
            )
            stored = set(ids)
            if cursor.rowcount != len(properties):
                cursor.execute(_STORED_IDS, [json.dumps(ids), project_id])
                stored = {pk for (pk,) in cursor.fetchall()}
            cursor.execute(
                _HISTORY_OF_IDS, [*self._history(stamp, "~"), json.dumps(sorted(stored))]
            )
        for prop in properties:
            prop.updated_at = now
        return [(prop, DELETED_MEANWHILE) for prop in properties if prop.pk not in stored]
