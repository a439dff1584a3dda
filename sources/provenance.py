"""Provenance rows in bulk: which property each source record became, and when it was seen.

A sync touches every record of the source on every pass, so these run once per page, not per
record. On PostgreSQL each is one statement with the page's keys as one JSON parameter (the
record's property id is joined in the same statement); elsewhere the ORM in chunks. The
vendor is chosen here once per function.
"""

import json

from django.db import IntegrityError, connection, transaction

from properties.models import Property

from .models import SourceRecord

CHUNK = 900
_RECORDS = SourceRecord._meta.db_table
_PROPERTIES = Property._meta.db_table


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def known_records(source) -> dict[str, list]:
    """{key: [record id, sha256, property id, raw digest]} of the whole source, read once per
    run."""
    rows = SourceRecord.objects.filter(source=source).values_list(
        "key", "pk", "sha256", "property_id", "raw_digest"
    )
    return {key: [pk, sha, prop, raw] for key, pk, sha, prop, raw in rows.iterator(10_000)}


def properties_by_external_id(*, project, external_ids: list[str]) -> dict[str, Property]:
    found = {}
    if not external_ids:
        return found
    if _postgres():
        queryset = Property.objects.raw(
            f"SELECT * FROM {_PROPERTIES} WHERE project_id = %s AND external_id = ANY(ARRAY("
            "SELECT jsonb_array_elements_text(%s::jsonb)))",
            [project.pk, json.dumps(external_ids)],
        )
        return {prop.external_id: prop for prop in queryset}
    for chunk in _chunks(external_ids):
        found.update(
            (prop.external_id, prop)
            for prop in Property.objects.filter(project=project, external_id__in=chunk)
        )
    return found


def any_property_with_external_id(*, project, external_ids: list[str]) -> bool:
    """Whether the project stores a property under any of these ids (one indexed query)."""
    if not external_ids:
        return False
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {_PROPERTIES} WHERE project_id = %s AND external_id = ANY(ARRAY("
                "SELECT jsonb_array_elements_text(%s::jsonb))) LIMIT 1",
                [project.pk, json.dumps(external_ids)],
            )
            return cursor.fetchone() is not None
    return any(
        Property.objects.filter(project=project, external_id__in=chunk).exists()
        for chunk in _chunks(external_ids)
    )


# COPY's text format: backslash, tab, newline and carriage return are escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_COLUMNS = (
    "organization_id, source_id, key, property_id, sha256, raw_digest, first_run_id, changed_run_id"
)


def records_created(*, source, run, keys: list[str], ids: list, hashes: list[tuple]) -> None:
    """Provenance of records the source never sent before, whose properties the writer has
    just created under `ids` (same order as `keys` and their (sha256, raw digest)): one COPY
    on PostgreSQL. Should a key be recorded already after all, the batch takes the upsert."""
    if not _postgres():
        records_written(source=source, run=run, written=dict(zip(keys, hashes, strict=True)))
        return
    head = f"{source.organization_id}\t{source.pk}\t"
    tail = f"\t{run.pk}\t{run.pk}\n"
    data = "".join(
        [
            f"{head}{key.translate(_COPY_ESCAPES)}\t{pk}\t{sha}\t{raw}{tail}"
            for key, pk, (sha, raw) in zip(keys, ids, hashes, strict=True)
        ]
    )
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _copy_into(cursor, data)
    # psycopg's own error: its COPY does not go through Django's error wrapper.
    except (IntegrityError, connection.Database.IntegrityError):
        records_written(source=source, run=run, written=dict(zip(keys, hashes, strict=True)))


def _copy_into(cursor, data: str) -> None:
    with cursor.cursor.copy(f"COPY {_RECORDS} ({_COPY_COLUMNS}) FROM STDIN") as copy:
        copy.write(data)


_UPSERT = f"""
INSERT INTO {_RECORDS}
    (organization_id, source_id, key, property_id, sha256, raw_digest, first_run_id,
     changed_run_id)
SELECT %(organization)s, %(source)s, x.key, p.id, x.sha, x.raw, %(run)s, %(run)s
FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(key text, sha text, raw text)
LEFT JOIN {_PROPERTIES} p ON p.project_id = %(project)s AND p.external_id = x.key
ON CONFLICT (source_id, key) DO UPDATE SET
    sha256 = EXCLUDED.sha256, raw_digest = EXCLUDED.raw_digest, property_id = EXCLUDED.property_id,
    changed_run_id = EXCLUDED.changed_run_id
RETURNING key, id, property_id
"""


def records_written(*, source, run, written: dict[str, tuple]) -> dict[str, tuple]:
    """Created or updated records ({key: (sha256, raw digest)}): their provenance row (new or
    refreshed) with the property's id. Returns {key: (record id, property id)}."""
    if not written:
        return {}
    if _postgres():
        rows = json.dumps(
            [{"key": key, "sha": sha, "raw": raw} for key, (sha, raw) in written.items()]
        )
        with connection.cursor() as cursor:
            cursor.execute(
                _UPSERT,
                {
                    "organization": source.organization_id,
                    "source": source.pk,
                    "project": source.project_id,
                    "run": run.pk,
                    "rows": rows,
                },
            )
            return {key: (pk, property_id) for key, pk, property_id in cursor.fetchall()}
    return _records_written_orm(source=source, run=run, written=written)


def _records_written_orm(*, source, run, written) -> dict[str, tuple]:
    keys = list(written)
    property_ids, existing = {}, {}
    for chunk in _chunks(keys):
        property_ids.update(
            Property.objects.filter(
                project_id=source.project_id, external_id__in=chunk
            ).values_list("external_id", "pk")
        )
        existing.update(
            (record.key, record)
            for record in SourceRecord.objects.filter(source=source, key__in=chunk)
        )
    fresh, again = [], []
    for key, (sha, raw) in written.items():
        record = existing.get(key)
        if record is None:
            record = SourceRecord(
                organization_id=source.organization_id,
                source=source,
                key=key,
                first_run=run,
                sha256=sha,
            )
            fresh.append(record)
        else:
            again.append(record)
        record.sha256, record.raw_digest = sha, raw
        record.property_id = property_ids.get(key)
        record.changed_run = run
    SourceRecord.objects.bulk_create(fresh, batch_size=2000)
    SourceRecord.objects.bulk_update(
        again,
        ["sha256", "raw_digest", "property", "changed_run"],
        batch_size=2000,
    )
    return {record.key: (record.pk, record.property_id) for record in fresh + again}
