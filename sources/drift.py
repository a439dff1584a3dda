"""Schema drift: what changed in a source's fields since the mapping an admin accepted.

New fields are recorded and ignored. A required column the mapping no longer finds, a mapped
field that is gone, or a mapped field whose type changed family (a number that became text)
would feed the rules something they were not set up for: the run is quarantined instead.
"""

from dataclasses import dataclass, field

from .ingest import column_map

_FAMILIES = {
    "numeric": {
        "int",
        "int2",
        "int4",
        "int8",
        "integer",
        "bigint",
        "smallint",
        "numeric",
        "float",
        "float4",
        "float8",
        "double precision",
        "real",
        "decimal",
    },
    "text": {"text", "varchar", "character varying", "char", "citext", "string", ""},
    "date": {"date", "timestamp", "timestamptz", "time"},
    "boolean": {"bool", "boolean"},
}


def type_family(name: str) -> str:
    name = (name or "").lower()
    for family, members in _FAMILIES.items():
        if name in members:
            return family
    return name


@dataclass
class DriftReport:
    cmap: object
    mapped: dict
    new_fields: list = field(default_factory=list)
    problems: list = field(default_factory=list)


def drift_check(
    *, field_types: dict, accepted: dict | None, accepted_mapped: dict | None, overrides: dict
) -> DriftReport:
    """`field_types`: {source field: type} now; `accepted`: the same as last accepted (None on
    a first run); `accepted_mapped`: {import column: source field} last accepted."""
    cmap = column_map(list(field_types), overrides or {})
    mapped = {column: cmap.headers[index] for column, index in cmap.positions.items()}
    report = DriftReport(cmap=cmap, mapped=mapped)
    if cmap.missing:
        report.problems.append(
            "required column(s) not found: "
            + ", ".join(cmap.missing)
            + f" (fields: {', '.join(field_types) or 'none'})"
        )
    if accepted is None:
        return report
    report.new_fields = [name for name in field_types if name not in accepted]
    for column, source_field in (accepted_mapped or {}).items():
        if source_field not in field_types:
            report.problems.append(f"mapped field {source_field!r} ({column}) is gone")
            continue
        before, now = accepted.get(source_field, ""), field_types[source_field]
        if type_family(before) != type_family(now):
            report.problems.append(
                f"mapped field {source_field!r} ({column}) changed type from {before} to {now}"
            )
    return report
