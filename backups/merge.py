"""Merge restores, and the reference check of restores limited to some tables.

A merge puts back the backup's rows the database lacks (with their ids) and keeps the rows only
the database has. A row in both whose content differs is a conflict, settled by the policy:
`skip` keeps the database's version, `overwrite` takes the backup's, `rename` keeps the
database's and inserts the backup's as a new row with a new id and its external id (a
project's name) suffixed `-restored-<restore id>`. A backup property whose external id is now
held by another row of the same project conflicts with that row the same way. The plan counts
per table what each policy would do and samples conflicting rows side by side, key by key, in
the history diff's format; renamed rows are listed in the restore's report.
"""

from django.db.models import JSONField
from django.utils import timezone

from properties.history import display_value, json_key_changes
from properties.models import Project, Property, PropertyAnalysis

from .archive import TableSpec, row_decoder
from .engines import OrmEngine, RestoreConflict
from .engines.base import chunks

CONFLICT_POLICIES = ("skip", "overwrite", "rename")
SAMPLE_SIZE = 5
#: Child table -> (foreign key column, parent table) of the references a restore must keep.
REFERENCES = {
    Property._meta.db_table: ("project_id", Project._meta.db_table),
    PropertyAnalysis._meta.db_table: ("property_id", Property._meta.db_table),
}
#: The text a rename suffixes, per table.
RENAMED_FIELD = {Property._meta.db_table: "external_id", Project._meta.db_table: "name"}


def restore_mode(strategy: str, *, conflict: str | None, tables) -> str | None:
    """The conflict policy a restore merges with, or None for a replace; ValueError with the
    reason when the options do not fit together."""
    if strategy == "replace_all":
        if tables or conflict:
            raise ValueError(
                "replace_all restores every table of the backup; use --strategy selective "
                "--tables ... to limit it, or merge for a conflict policy."
            )
        return None
    if strategy not in ("merge", "selective"):
        raise ValueError(
            f"Unknown restore strategy {strategy!r}; use replace_all, merge or selective."
        )
    if strategy == "selective" and not tables:
        raise ValueError("A selective restore needs --tables.")
    if conflict is not None and conflict not in CONFLICT_POLICIES:
        raise ValueError(f"Unknown conflict policy {conflict!r}; use skip, overwrite or rename.")
    if strategy == "merge":
        return conflict or "skip"
    return conflict


def _empty_counts() -> dict[str, int]:
    return {"inserted": 0, "updated": 0, "skipped": 0, "renamed": 0, "deleted": 0}


def field_changes(spec: TableSpec, database: list, backup: list) -> list[dict]:
    """Field by field (JSON fields key by key) what differs: {"field", "old", "new"} with the
    database's value as old and the backup's as new."""
    changes = []
    for field, old, new in zip(spec.fields, database, backup, strict=True):
        if field.primary_key or getattr(field, "auto_now", False) or old == new:
            continue
        if isinstance(field, JSONField):
            for change in json_key_changes(field.name, old, new):
                changes.append(
                    {
                        "field": change["field"],
                        "old": display_value(change["old"]),
                        "new": display_value(change["new"]),
                    }
                )
        else:
            changes.append(
                {"field": field.name, "old": display_value(old), "new": display_value(new)}
            )
    return changes


def reference_problems(children, final_ids: set, *, child: str, parent: str) -> list[str]:
    """Rows of `children` ((id, parent id) pairs) whose parent is not in `final_ids`."""
    problems = []
    for pk, parent_id in children:
        if parent_id is not None and parent_id not in final_ids:
            problems.append(f"{child} row {pk} points at {parent} row {parent_id}")
            if len(problems) == SAMPLE_SIZE:
                break
    return problems


def refuse_broken_references(problems: list[str], tables) -> None:
    if problems:
        raise RestoreConflict(
            f"Restoring only {', '.join(tables)} would break references: "
            + "; ".join(problems)
            + ", which would be neither restored nor present. Include the referenced table."
        )


def selective_replace_check(reader, specs, organization_id: int) -> None:
    """A replace_all limited to `specs` must leave every reference whole: rows it restores
    point at rows that will exist, and rows it leaves point at rows it keeps."""
    names = {spec.name for spec in specs}
    restored_ids = {}
    for spec in specs:
        if not spec.is_history:
            pk_index = spec.columns.index(spec.pk_column)
            decode = row_decoder(spec)
            restored_ids[spec.name] = {decode(line)[pk_index] for line in reader.lines(spec.name)}
    problems = []
    for child, (column, parent) in REFERENCES.items():
        if child not in names and parent not in names:
            continue
        # A parent table restored empty is still restored: its final rows are none.
        if parent in restored_ids:
            final = restored_ids[parent]
        else:
            final = _current_ids(parent, organization_id)
        if child in names:
            spec = next(spec for spec in specs if spec.name == child)
            decode = row_decoder(spec)
            pk_index, fk_index = spec.columns.index(spec.pk_column), spec.columns.index(column)
            rows = ((v[pk_index], v[fk_index]) for v in map(decode, reader.lines(child)))
        else:
            rows = _current_pairs(child, column, organization_id)
        problems += reference_problems(rows, final, child=child, parent=parent)
    refuse_broken_references(problems, sorted(names))


def _model(table: str):
    return next(m for m in (Project, Property, PropertyAnalysis) if m._meta.db_table == table)


def _current_ids(table: str, organization_id: int) -> set:
    manager = _model(table)._base_manager
    return set(manager.filter(organization_id=organization_id).values_list("pk", flat=True))


def _current_pairs(table: str, column: str, organization_id: int):
    manager = _model(table)._base_manager
    return manager.filter(organization_id=organization_id).values_list("pk", column).iterator()


class MergePolicy:
    """What every merge engine is given: the conflict policy, the suffix a renamed row takes,
    and the report of conflicts and renames it fills."""

    def __init__(self, connection=None, *, conflict: str = "skip", restore_id=None):
        super().__init__(connection)
        if conflict not in CONFLICT_POLICIES:
            raise ValueError(
                f"Unknown conflict policy {conflict!r}; use skip, overwrite or rename."
            )
        self.conflict = conflict
        self.suffix = f"-restored-{restore_id}"
        self.report: dict = {"conflicts": {}, "renamed": {}}


class MergeEngine(MergePolicy, OrmEngine):
    """Merge on any database, through the ORM (the reads of OrmEngine.load)."""

    name = "merge"

    def __init__(self, connection=None, **policy):
        super().__init__(connection, **policy)
        self._actions: dict[str, dict] = {}

    def _comparable(self, spec: TableSpec, values: list) -> list:
        return [
            value
            for field, value in zip(spec.fields, values, strict=True)
            if not getattr(field, "auto_now", False)
        ]

    def _by_external_id(self, spec: TableSpec) -> dict:
        if spec.model is not Property:
            return {}
        columns = spec.columns
        project, external = columns.index("project_id"), columns.index("external_id")
        return {
            (values[project], values[external]): pk
            for pk, (_, values) in self._current[spec.name].items()
        }

    def _classify(self, spec: TableSpec):
        """(inserts, conflicts): backup ids to insert, and (backup id, database id) pairs."""
        backup, current = self._backup[spec.name], self._current[spec.name]
        by_key = self._by_external_id(spec)
        columns = spec.columns
        inserts, conflicts = [], []
        for pk, (_, values) in backup.items():
            if pk in current:
                if self._comparable(spec, current[pk][1]) != self._comparable(spec, values):
                    conflicts.append((pk, pk))
                continue
            if by_key:
                key = (values[columns.index("project_id")], values[columns.index("external_id")])
                if key in by_key:
                    conflicts.append((pk, by_key[key]))
                    continue
            inserts.append(pk)
        return inserts, conflicts

    def plan(self) -> dict[str, dict[str, int]]:
        counts = {}
        for spec in self._specs:
            table = _empty_counts()
            if spec.is_history:
                current = self._current[spec.name]
                missing = [pk for pk in self._backup[spec.name] if pk not in current]
                self._actions[spec.name] = {"insert": missing}
                table["inserted"] = len(missing)
                counts[spec.name] = table
                continue
            inserts, conflicts = self._classify(spec)
            orphans = self._orphans(spec, inserts)
            inserts = [pk for pk in inserts if pk not in orphans]
            self._actions[spec.name] = {"insert": inserts, "conflicts": conflicts}
            table["inserted"] = len(inserts)
            table["skipped"] = len(orphans)
            key = {"skip": "skipped", "overwrite": "updated", "rename": "renamed"}[self.conflict]
            table[key] += len(conflicts)
            counts[spec.name] = table
            if conflicts:
                self.report["conflicts"][spec.name] = [
                    {
                        "id": database_pk,
                        "backup_id": backup_pk,
                        "changes": field_changes(
                            spec,
                            self._current[spec.name][database_pk][1],
                            self._backup[spec.name][backup_pk][1],
                        ),
                    }
                    for backup_pk, database_pk in conflicts[:SAMPLE_SIZE]
                ]
        self._check_written_references()
        return counts

    def _orphans(self, spec: TableSpec, inserts: list) -> set:
        """Rows to insert whose parent, restored in the same merge, does not come back (a
        skipped conflict by key): left out with it, and listed."""
        reference = REFERENCES.get(spec.name)
        if reference is None or reference[1] not in self._actions:
            return set()
        column, parent = reference
        fk_index = spec.columns.index(column)
        final = self._final_ids(parent)
        backup = self._backup[spec.name]
        orphans = {pk for pk in inserts if backup[pk][1][fk_index] not in final}
        if orphans:
            self.report.setdefault("skipped_with_parent", {})[spec.name] = sorted(orphans)
        return orphans

    def _final_ids(self, table: str) -> set:
        if table not in self._current:
            return _current_ids(table, self._organization_id)
        ids = set(self._current[table]) | set(self._actions[table]["insert"])
        if self.conflict == "rename":
            ids |= {b for b, d in self._actions[table]["conflicts"] if b != d}
        return ids

    # Not _check_references: that is OrmEngine.load's check of the archive's own references,
    # which a merge must run too.
    def _check_written_references(self) -> None:
        problems = []
        for child, (column, parent) in REFERENCES.items():
            # A parent merged alongside was settled by _orphans.
            if child not in self._actions or parent in self._actions:
                continue
            spec = next(spec for spec in self._specs if spec.name == child)
            fk_index = spec.columns.index(column)
            backup = self._backup[child]
            actions = self._actions[child]
            written = list(actions["insert"])
            if self.conflict != "skip":
                written += [backup_pk for backup_pk, _ in actions["conflicts"]]
            rows = ((pk, backup[pk][1][fk_index]) for pk in written)
            problems += reference_problems(
                rows, self._final_ids(parent), child=child, parent=parent
            )
        refuse_broken_references(problems, [spec.name for spec in self._specs])

    def apply(self, *, reason: str, actor_id: int | None) -> None:
        now = timezone.now()
        history_models = []
        for spec in self._specs:
            if spec.is_history:
                rows = [self._backup[spec.name][pk][1] for pk in self._actions[spec.name]["insert"]]
                spec.model._base_manager.bulk_create(
                    [self._instance(spec, values) for values in rows], batch_size=500
                )
                history_models.append(spec.model)
        self._reset_sequences(history_models)
        live = [spec for spec in self._specs if not spec.is_history]
        for spec in live:
            self._apply_table(spec, now=now, reason=reason, actor_id=actor_id)
        self._reset_sequences([spec.model for spec in live])
        self._check_constraints()

    def _apply_table(self, spec: TableSpec, *, now, reason, actor_id) -> None:
        backup = self._backup[spec.name]
        actions = self._actions[spec.name]
        inserted = [backup[pk][1] for pk in actions["insert"]]
        self._insert(spec, inserted)
        self._record(spec, inserted, "+", now, reason, actor_id)
        if self.conflict == "overwrite":
            pk_index = spec.columns.index(spec.pk_column)
            changed = []
            for backup_pk, database_pk in actions["conflicts"]:
                values = list(backup[backup_pk][1])
                values[pk_index] = database_pk
                changed.append(values)
            self._park_unique_values(spec, changed)
            fields = [field.name for field in spec.fields if not field.primary_key]
            spec.model._base_manager.bulk_update(
                [self._instance(spec, values) for values in changed], fields, batch_size=200
            )
            self._record(spec, changed, "~", now, reason, actor_id)
        elif self.conflict == "rename":
            self._rename(spec, actions["conflicts"], now=now, reason=reason, actor_id=actor_id)

    def _rename(self, spec: TableSpec, conflicts, *, now, reason, actor_id) -> None:
        backup = self._backup[spec.name]
        pk_index = spec.columns.index(spec.pk_column)
        field = RENAMED_FIELD.get(spec.name)
        index = spec.columns.index(field) if field else None
        rows = []
        for backup_pk, database_pk in conflicts:
            values = list(backup[backup_pk][1])
            # Same id in both: the backup's version needs a new one. A property whose external
            # id another row took keeps its own free id.
            if backup_pk == database_pk:
                values[pk_index] = None
            if index is not None:
                values[index] = f"{values[index]}{self.suffix}"
            rows.append((backup_pk, values))
        instances = self._insert(spec, [values for _, values in rows])
        renamed = []
        for (backup_pk, values), instance in zip(rows, instances, strict=True):
            values[pk_index] = instance.pk
            entry = {"backup_id": backup_pk, "new_id": instance.pk}
            if field:
                entry[field] = values[index]
            renamed.append(entry)
        self._record(spec, [values for _, values in rows], "+", now, reason, actor_id)
        if renamed:
            self.report["renamed"][spec.name] = renamed

    def _insert(self, spec: TableSpec, rows: list[list]):
        instances = spec.model._base_manager.bulk_create(
            [self._instance(spec, values) for values in rows], batch_size=500
        )
        # bulk_create stamps auto_now fields with the current time; put the backup's back.
        auto_now = [field.name for field in spec.fields if getattr(field, "auto_now", False)]
        if auto_now and instances:
            for instance, values in zip(instances, rows, strict=True):
                for field in spec.fields:
                    if field.name in auto_now:
                        setattr(instance, field.attname, values[spec.fields.index(field)])
            spec.model._base_manager.bulk_update(instances, auto_now, batch_size=500)
        return instances

    def _record(self, spec: TableSpec, rows, history_type, now, reason, actor_id) -> None:
        history = spec.model.history.model
        for chunk in chunks(rows):
            history._base_manager.bulk_create(
                [
                    history(
                        **self._as_dict(spec, values),
                        history_date=now,
                        history_type=history_type,
                        history_change_reason=reason,
                        history_user_id=actor_id,
                    )
                    for values in chunk
                ],
                batch_size=500,
            )
