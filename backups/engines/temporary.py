"""What the set-based engines (SqliteEngine, PostgresEngine) share: the archive's rows in
temporary tables, the reference check over them in SQL, and the order of apply."""

from django.utils import timezone

from ..archive import ArchiveError, TableSpec
from .base import outside_reference_error, reference_fields, spec_of_model
from .orm import OrmEngine


class TemporaryTableEngine(OrmEngine):
    """What the set-based engines share: each archived table's rows loaded into a temporary
    table (`_temp`, by table name), checked and applied by SQL over it."""

    def __init__(self, connection=None):
        super().__init__(connection)
        self._temp: dict[str, str] = {}

    def plan(self) -> dict[str, dict[str, int]]:
        """Per table, the rows a restore would insert, update and delete."""
        with self.connection.cursor() as cursor:
            return {spec.name: self._plan_table(cursor, spec) for spec in self._specs}

    def _plan_table(self, cursor, spec: TableSpec) -> dict[str, int]:
        raise NotImplementedError

    def apply(self, *, reason: str, actor_id: int | None) -> None:
        """Applies what plan() found; call plan() first."""
        now = self.connection.ops.adapt_datetimefield_value(timezone.now())
        history = [now, reason, actor_id]
        live = [spec for spec in self._specs if not spec.is_history]
        with self.connection.cursor() as cursor:
            for spec in self._specs:
                if spec.is_history:
                    self._insert_from_archive(cursor, spec)
            self._reset_sequences([spec.model for spec in self._specs if spec.is_history])
            self._apply_live(cursor, live, history)
            self._reset_sequences([spec.model for spec in live])
        self._check_constraints()

    def _apply_live(self, cursor, live: list[TableSpec], history) -> None:
        # Children before parents when deleting, parents before children when inserting.
        for spec in reversed(live):
            self._delete_gone(cursor, spec, history)
        for spec in live:
            self._revert_and_insert(cursor, spec, history)

    def _check_references(self, cursor) -> None:
        """As OrmEngine's, in SQL over the loaded rows."""
        for spec in self._specs:
            if spec.is_history:
                self._check_history_ids(cursor, spec)
        for spec in self._specs:
            for field in reference_fields(spec):
                self._check_reference(cursor, spec, field)

    def _check_history_ids(self, cursor, spec: TableSpec) -> None:
        """Refuses history rows whose id is that of another organisation's row, live or
        history: a history row's id is an unchecked integer."""
        qn, model = self.connection.ops.quote_name, spec.live_model
        key = qn(model._meta.pk.column)
        org = int(self._organization_id)
        taken = set()
        for table in (model, model.history.model):
            # The database's rows probed by the archive's ids, through the table's index on
            # the id, rather than every other organisation's ids listed.
            cursor.execute(
                f"SELECT DISTINCT t.{key} FROM {qn(table._meta.db_table)} t "
                f"WHERE t.{key} IN (SELECT {key} FROM {self._temp[spec.name]} "
                f"WHERE {key} IS NOT NULL) "
                f"AND (t.organization_id <> {org} OR t.organization_id IS NULL) LIMIT 5"
            )
            taken.update(row[0] for row in cursor.fetchall())
        if taken:
            raise ArchiveError(outside_reference_error(spec, model._meta.pk.column, model, taken))

    def _foreign(self, model, column: str) -> str:
        """SQL that holds when the loaded row `b`'s `column` is the id of another
        organisation's `model` row, live or history."""
        qn, key = self.connection.ops.quote_name, self.connection.ops.quote_name("id")
        others = f"(organization_id <> {int(self._organization_id)} OR organization_id IS NULL)"
        present = " OR ".join(
            f"NOT ({self._absent_from(qn(table._meta.db_table), key, column, others)})"
            for table in (model, model.history.model)
        )
        return f"({present})"

    def _check_reference(self, cursor, spec: TableSpec, field) -> None:
        """Refuses rows whose `field` points at no row of the organisation (see OrmEngine's
        _check_references)."""
        qn, model = self.connection.ops.quote_name, field.related_model
        column, key = qn(field.column), qn(model._meta.pk.column)
        own_rows = f"organization_id = {int(self._organization_id)}"
        live_table, history_table = qn(model._meta.db_table), qn(model.history.model._meta.db_table)
        absent = []
        for history in (False, True) if spec.is_history else (False,):
            archived = spec_of_model(self._specs, model, history=history)
            if archived is not None:
                absent.append(self._absent_from(self._temp[archived.name], key, column, ""))
        absent += [
            self._absent_from(live_table, key, column, own_rows),
            # A history row of the database names a row of the organisation deleted since,
            # unless another organisation's row has its id. Last: rarely reached.
            f"({self._absent_from(history_table, key, column, own_rows)} "
            f"OR {self._foreign(model, column)})",
        ]
        cursor.execute(
            f"SELECT DISTINCT b.{column} FROM {self._temp[spec.name]} b "
            f"WHERE b.{column} IS NOT NULL AND {' AND '.join(absent)} LIMIT 5"
        )
        outside = [row[0] for row in cursor.fetchall()]
        if outside:
            raise ArchiveError(outside_reference_error(spec, field.column, model, outside))

    def _absent_from(self, table: str, key: str, column: str, where: str) -> str:
        """SQL that holds when the loaded row `b`'s `column` is no `key` of `table`'s rows
        (those matching `where`, when given)."""
        raise NotImplementedError
