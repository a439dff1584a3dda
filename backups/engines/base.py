"""What both restore engines share: the archive's special columns, chunking, and the unique and
foreign-key relations a restore must work around."""

from django.apps import apps
from django.db.models import SET_NULL, UniqueConstraint

from ..archive import TableSpec, table_specs

IN_CLAUSE_CHUNK = 500
HISTORY_COLUMNS = ("history_date", "history_change_reason", "history_type", "history_user_id")
USER_COLUMNS = ("created_by_id", "history_user_id")


def outside_set_null_relations(spec: TableSpec):
    """Foreign keys into `spec`'s table from models the restore does not manage (an import
    job's project, say) whose on_delete is SET_NULL. The restore deletes with raw SQL, which
    skips Django's on_delete, so it applies SET_NULL itself before deleting."""
    restored = {model for model in apps.get_models() if model._meta.app_label == "properties"}
    return [
        relation
        for relation in spec.model._meta.related_objects
        if relation.on_delete is SET_NULL and relation.related_model not in restored
    ]


def detach_outside_references(spec: TableSpec, pks, using: str) -> None:
    for relation in outside_set_null_relations(spec):
        relation.related_model._base_manager.using(using).filter(
            **{f"{relation.field.name}__in": pks}
        ).update(**{relation.field.name: None})


def reference_fields(spec: TableSpec):
    """Foreign keys of the table's rows to the restored tables: a property's project, an
    analysis's property, and the same columns of their history rows. The organisation column
    is checked on its own; users are shared by all organisations."""
    restored = {other.model for other in table_specs() if not other.is_history}
    return [field for field in spec.fields if field.is_relation and field.related_model in restored]


def spec_of_model(specs, model, *, history: bool):
    """The spec among `specs` of `model`'s live table, or of its history table."""
    for spec in specs:
        if (spec.live_model if history else spec.model) is model:
            return spec
    return None


def outside_reference_error(spec: TableSpec, column: str, model, ids) -> str:
    """The refusal of rows whose `column` names `model` rows outside the organisation."""
    shown = ", ".join(str(pk) for pk in sorted(ids)[:5])
    return (
        f"Table {spec.name} has rows whose {column} points outside the organisation "
        f"({model._meta.verbose_name} {shown}); the archive cannot be restored."
    )


class RestoreConflict(Exception):
    """The archive's rows cannot be put back without touching another organisation."""


def chunks(items, size=IN_CLAUSE_CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def empty_counts() -> dict[str, int]:
    return {"inserted": 0, "updated": 0, "deleted": 0}


def unique_text_columns(spec: TableSpec) -> list[str]:
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


PARKED_PREFIX = "~restore~"
