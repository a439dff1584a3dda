"""The one door from sources into the import machinery: header aliases, rules, readers, writers.

Everything sources needs from `imports` is imported here and nowhere else in the app, so when
the import services are restructured, or the rules gain severities, only this module changes.
"""

import hashlib
from dataclasses import asdict, dataclass

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
from imports.pipeline.prefetch import INLINE, PROCESS, THREAD, prefetched, process_available
from imports.pipeline.rows import ALL_GROUPS, IMPORTED_GROUPS, NewRow
from imports.pipeline.rows import BatchRows as NewRows
from imports.pipeline.writers import writer_for
from imports.readers import open_table
from imports.rules import RuleSettings, merge_groups, validate_row

__all__ = [
    "ALL_GROUPS",
    "IMPORTED_GROUPS",
    "KNOWN_COLUMNS",
    "REQUIRED_COLUMNS",
    "ColumnMap",
    "FileRefused",
    "INLINE",
    "PROCESS",
    "THREAD",
    "NewRow",
    "NewRows",
    "RuleSettings",
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


def raw_digester(cmap: ColumnMap, overrides: dict, rule_settings: RuleSettings | None = None):
    """A function of a record's values giving the SHA-256 of its mapped fields as sent, keyed
    by the mapping and the organisation's rule settings (so a new mapping, new overrides or new
    bounds or severities make every record go through the rules again once)."""
    positions = sorted(cmap.positions.items())
    signature = orjson.dumps(
        {
            "mapped": [[name, cmap.headers[index]] for name, index in positions],
            "overrides": sorted((overrides or {}).items()),
            "rules": asdict(rule_settings or RuleSettings()),
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
    cmap: ColumnMap, values: list, *, number: int, rule_settings: RuleSettings | None = None
) -> tuple[Validated | None, list[str]]:
    """A record through the import's rules with the organisation's settings. Returns the
    normalised record (its groups as JSON texts in ALL_GROUPS order, their SHA-256, and the
    findings of warning severity as "field: message"), or None and every error."""
    valid, errors = validate_row(
        cells_by_column(cmap, values), row=number, settings=rule_settings or RuleSettings()
    )
    if errors:
        return None, [f"{error.field}: {error.message}" for error in errors]
    groups = valid.groups
    texts = tuple(
        _dumps(groups[g], option=_SORTED).decode() if g in groups else "{}" for g in ALL_GROUPS
    )
    # The external id and the texts joined by a unit separator: one hash call per record.
    digest = hashlib.sha256("\x1f".join((valid.external_id, *texts)).encode()).hexdigest()
    warnings = [f"{finding.field}: {finding.message}" for finding in valid.warnings]
    return Validated(valid.external_id, texts, digest, warnings), []


_dumps, _SORTED = orjson.dumps, orjson.OPT_SORT_KEYS


def property_writer(*, project, actor, change_reason: str, dry_run: bool = False):
    """The import's writer for this database (COPY on PostgreSQL, the bulk ORM elsewhere)."""
    return writer_for(project=project, dry_run=dry_run, actor=actor, change_reason=change_reason)
