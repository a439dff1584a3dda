"""The one door from sources into the import machinery: header aliases, rules, readers, writers.

Everything sources needs from `imports` is imported here and nowhere else in the app, so when
the import services are restructured, or the rules gain severities, only this module changes.
"""

import hashlib
from dataclasses import dataclass

import orjson

from imports.columns import (
    KNOWN_COLUMNS,
    REQUIRED_COLUMNS,
    ColumnMap,
    cells_by_column,
    map_columns,
    normalise_header,
)
from imports.errors import FileRefused
from imports.pipeline.prefetch import INLINE, PROCESS, prefetched, process_available
from imports.pipeline.rows import ALL_GROUPS, IMPORTED_GROUPS, NewRow
from imports.pipeline.rows import BatchRows as NewRows
from imports.pipeline.writers import writer_for
from imports.readers import open_table
from imports.rules import merge_groups, validate_row

__all__ = [
    "ALL_GROUPS",
    "IMPORTED_GROUPS",
    "KNOWN_COLUMNS",
    "REQUIRED_COLUMNS",
    "ColumnMap",
    "FileRefused",
    "INLINE",
    "PROCESS",
    "NewRow",
    "NewRows",
    "Validated",
    "column_map",
    "merge_groups",
    "open_table",
    "prefetched",
    "process_available",
    "property_writer",
    "raw_digester",
    "validate_record",
]


def column_map(fields: list[str], overrides: dict) -> ColumnMap:
    """The import's header aliases applied to the source's fields, after the source's own
    overrides (`{"source field": "import column"}`; an empty target ignores the field)."""
    headers = []
    for name in fields:
        if name in overrides:
            target = overrides[name]
            headers.append(normalise_header(target) if target else "")
        else:
            headers.append(name)
    mapped = map_columns(headers)
    # Report the source's own names, not the override targets.
    return ColumnMap(headers=tuple(fields), positions=mapped.positions, ignored=mapped.ignored)


def raw_digester(cmap: ColumnMap, overrides: dict):
    """A function of a record's values giving the SHA-256 of its mapped fields as sent, keyed
    by the mapping (so a new mapping or new overrides make every record look changed once)."""
    positions = sorted(cmap.positions.items())
    signature = orjson.dumps(
        {
            "mapped": [[name, cmap.headers[index]] for name, index in positions],
            "overrides": sorted((overrides or {}).items()),
        }
    )
    indexes = [index for _, index in positions]

    def digest(values: list) -> str:
        width = len(values)
        mapped = [values[i] if i < width else None for i in indexes]
        return hashlib.sha256(signature + orjson.dumps(mapped, default=str)).hexdigest()

    return digest


@dataclass
class Validated:
    external_id: str
    group_texts: tuple
    sha256: str
    warnings: list
    raw_digest: str = ""


def validate_record(
    cmap: ColumnMap, values: list, *, number: int
) -> tuple[Validated | None, list[str]]:
    """A record through the import's rules. Returns the normalised record (its groups as JSON
    texts in ALL_GROUPS order and their SHA-256), or None and every error as "field: message".

    Warnings are passed through when the rules report them (a `warnings` attribute on the
    result); until they do, every accepted record has none."""
    valid, errors = validate_row(cells_by_column(cmap, values), row=number)
    if errors:
        return None, [f"{error.field}: {error.message}" for error in errors]
    groups = valid.groups
    texts = tuple(
        orjson.dumps(groups[g], option=orjson.OPT_SORT_KEYS).decode() if g in groups else "{}"
        for g in ALL_GROUPS
    )
    digest = hashlib.sha256(valid.external_id.encode())
    for text in texts:
        digest.update(b"\x1f")
        digest.update(text.encode())
    warnings = [str(w) for w in getattr(valid, "warnings", ()) or ()]
    return Validated(valid.external_id, texts, digest.hexdigest(), warnings), []


def property_writer(*, project, actor, change_reason: str, dry_run: bool = False):
    """The import's writer for this database (COPY on PostgreSQL, the bulk ORM elsewhere)."""
    return writer_for(project=project, dry_run=dry_run, actor=actor, change_reason=change_reason)
