"""Merge and point-in-time restores against a replace_all restore, at N properties, on PostgreSQL.

    python bench/bench_backups_recovery.py [N] [--changed 0.01] [--only NAME,...] [--keep]

N (default: BENCH_ROWS, else 1,000,000) properties in one organisation spread over ten projects,
an analysis for one property in ten, and every row's creation history row as an import writes
it, in a scratch PostgreSQL database. A full backup is taken; then two edits, each in its own
transaction with its history rows, change the given share of the properties between them
(nine in ten of the chosen ones updated with their analyses, one in ten deleted with its
analysis, as many new ones inserted; spread over the id range); the instant between the two
edits is the point-in-time target. That diverged database is kept as a template and each
restore starts from a fresh copy of it, so every figure is of the same work:

- replace_all: `backup_restore` of the full backup;
- merge_skip, merge_overwrite, merge_rename: `backup_restore --strategy merge --conflict ...`;
- point_in_time: `organization_restore_as_of` (what `restore_org --as-of` runs) to the instant
  between the edits, based on the full backup plus the history written since.

Each restore is checked: replace_all must give the backed-up state and the point-in-time
restore the state at the instant (a fingerprint of every column but `updated_at` of the
projects, properties and analyses). Prints one key=value line per step and the ratios to
replace_all. The scratch databases are dropped at the end unless --keep.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import CHAPEL_STREET_VALUES, INSERT_PROPERTIES

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "bench_backups_recovery"
PROJECTS = 10
RESTORES = ("replace_all", "merge_skip", "merge_overwrite", "merge_rename", "point_in_time")


def _run(command, args):
    env = {**os.environ, "PGHOST": args.host, "PGUSER": args.user}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)


def _live_columns(table: str) -> str:
    from backups.archive import spec_for

    return ", ".join(spec_for(table).columns)


def _history(cursor, table: str, kind: str, where: str, source: str | None = None) -> None:
    """One history row of `kind` per row of `source` (default `table`) matching `where`,
    dated the transaction's start as the writers' history rows are."""
    columns = _live_columns(table)
    history = table.replace("_", "_historical", 1)
    cursor.execute(
        f"INSERT INTO {history} ({columns}, history_date, history_change_reason, history_type) "
        f"SELECT {columns}, now(), 'bench', %s FROM {source or table} WHERE {where}",
        [kind],
    )


def _insert_properties(cursor, *, organization_id: int, projects: list[int], numbers: str, where):
    """Properties numbered by `numbers` (a set-returning SQL expression) with their `+` history
    rows; the project is chosen by the number, the external id is EXT-<number>."""
    cursor.execute(
        f"""
        WITH added AS (
            {INSERT_PROPERTIES}
            SELECT (%s::bigint[])[1 + n %% {len(projects)}], %s, 'EXT-' || n,
                {CHAPEL_STREET_VALUES}
            FROM {numbers} AS n WHERE {where}
            RETURNING id
        )
        SELECT count(*) FROM added
        """,
        [projects, organization_id],
    )
    return cursor.fetchone()[0]


def _seed(cursor, *, organization_id: int, rows: int) -> list[int]:
    cursor.execute(
        "INSERT INTO properties_project (organization_id, name, description, config, status, "
        "created_at, updated_at) SELECT %s, 'Bench project ' || n, '', '{}', 'active', now(), "
        "now() FROM generate_series(1, %s) AS n RETURNING id",
        [organization_id, PROJECTS],
    )
    projects = sorted(row[0] for row in cursor.fetchall())
    _history(cursor, "properties_project", "+", f"organization_id = {organization_id}")
    _insert_properties(
        cursor,
        organization_id=organization_id,
        projects=projects,
        numbers=f"generate_series(1, {int(rows)})",
        where="TRUE",
    )
    _history(cursor, "properties_property", "+", "TRUE")
    cursor.execute(
        """
        INSERT INTO properties_propertyanalysis (property_id, organization_id, analysis_type,
            input_parameters, results, status, started_at, completed_at, error_message,
            metadata, created_at)
        SELECT id, organization_id, 'financial', jsonb_build_object('discount_rate', 0.07),
            jsonb_build_object('npv', id * 10), 'completed', now(), now(), '', '{}', now()
        FROM properties_property WHERE mod(id, 10) = 0
        """
    )
    _history(cursor, "properties_propertyanalysis", "+", "TRUE")
    return projects


def _edit(connection, *, organization_id, projects, step: int, half: int, rows: int) -> dict:
    """One of the two edits, in one transaction with its history rows: of the properties whose
    id is a multiple of `step` and whose `id / step` has the parity `half`, one in ten deleted
    (with its analysis), the others updated with their analyses; as many new properties added
    as were deleted."""
    chosen = f"mod(id, {step}) = 0 AND mod(id / {step}, 2) = {half}"
    deleted_where = f"{chosen} AND mod(id / {step} / 2, 10) = 0"
    updated_where = f"{chosen} AND mod(id / {step} / 2, 10) <> 0"
    counts = {}
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute(
            "UPDATE properties_property SET status = 'archived', updated_at = now(), "
            "basic_info = basic_info || jsonb_build_object('address', id || ' Edited Rd') "
            f"WHERE {updated_where}"
        )
        counts["updated"] = cursor.rowcount
        _history(cursor, "properties_property", "~", updated_where)
        analyses = f"property_id IN (SELECT id FROM properties_property WHERE {updated_where})"
        cursor.execute(
            "UPDATE properties_propertyanalysis SET status = 'failed', "
            f"error_message = 'edited {half}' WHERE {analyses}"
        )
        counts["analyses_updated"] = cursor.rowcount
        _history(cursor, "properties_propertyanalysis", "~", analyses)
        cursor.execute(
            "CREATE TEMPORARY TABLE gone AS SELECT * FROM properties_property "
            f"WHERE {deleted_where}"
        )
        gone_analyses = "property_id IN (SELECT id FROM gone)"
        _history(cursor, "properties_propertyanalysis", "-", gone_analyses)
        cursor.execute(f"DELETE FROM properties_propertyanalysis WHERE {gone_analyses}")
        counts["analyses_deleted"] = cursor.rowcount
        _history(cursor, "properties_property", "-", "TRUE", source="gone")
        cursor.execute("DELETE FROM properties_property WHERE id IN (SELECT id FROM gone)")
        counts["deleted"] = cursor.rowcount
        cursor.execute("DROP TABLE gone")
        cursor.execute("SELECT COALESCE(max(id), 0) FROM properties_property")
        first_new = cursor.fetchone()[0] + 1
        # New external ids: EXT-<number> above every number used so far.
        start = (half + 1) * rows + 1
        counts["inserted"] = _insert_properties(
            cursor,
            organization_id=organization_id,
            projects=projects,
            numbers=f"generate_series({start}, {start + counts['deleted'] - 1})",
            where="TRUE",
        )
        _history(cursor, "properties_property", "+", f"id >= {first_new}")
        cursor.execute("COMMIT")
    return counts


def _fingerprint(connection, organization_id: int) -> tuple:
    """Row count and an order-independent hash of every column but updated_at, per live table."""
    from backups.archive import spec_for

    result = []
    with connection.cursor() as cursor:
        for table in ("properties_project", "properties_property", "properties_propertyanalysis"):
            columns = [c for c in spec_for(table).columns if c != "updated_at"]
            row = "ROW(" + ", ".join(columns) + ")::text"
            cursor.execute(
                f"SELECT count(*), COALESCE(sum(('x' || substr(md5({row}), 1, 15))::bit(60)"
                f"::bigint), 0) FROM {table} WHERE organization_id = %s",
                [organization_id],
            )
            result.append(tuple(cursor.fetchone()))
    return tuple(result)


def _fresh_copy(connection, args, template: str) -> None:
    """The working database becomes a copy of the diverged template."""
    connection.close()
    _run(["dropdb", "--if-exists", args.database], args)
    _run(["createdb", "-T", template, args.database], args)


def _restore(name, *, full, organization, as_of):
    from backups.pitr import organization_restore_as_of
    from backups.services.restore import backup_restore

    if name == "point_in_time":
        return organization_restore_as_of(organization=organization, as_of=as_of)
    if name == "replace_all":
        return backup_restore(backup=full, organization=organization)
    conflict = name.removeprefix("merge_")
    return backup_restore(
        backup=full, organization=organization, strategy="merge", conflict=conflict
    )


def _summary(counts: dict) -> str:
    properties = counts.get("properties_property", {})
    analyses = counts.get("properties_propertyanalysis", {})
    parts = [f"{key}={value}" for key, value in properties.items() if value]
    parts += [f"analyses_{key}={value}" for key, value in analyses.items() if value]
    return " ".join(parts)


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    parser.add_argument("properties", nargs="?", type=int, default=default_rows)
    parser.add_argument("--changed", type=float, default=0.01, help="Share of properties changed.")
    parser.add_argument(
        "--only", default=",".join(RESTORES), help=f"Restores to time, of {', '.join(RESTORES)}."
    )
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch databases.")
    args = parser.parse_args()
    args.only = [name for name in args.only.split(",") if name]
    unknown = set(args.only) - set(RESTORES)
    if unknown:
        parser.error(f"unknown restores {', '.join(sorted(unknown))}")
    return args


def _prepare(args, connection):
    """Seeds, backs up, edits twice; returns (organization, full backup, instant, fingerprints)."""
    from django.core.management import call_command

    from backups.services.backup import backup_create
    from organizations.models import Organization

    call_command("migrate", verbosity=0)
    organization = Organization.objects.create(name="Bench Org", slug="bench-org")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        projects = _seed(cursor, organization_id=organization.pk, rows=args.properties)
        for table in ("property", "historicalproperty", "propertyanalysis"):
            cursor.execute(f"VACUUM ANALYZE properties_{table}")
    print(f"seed properties={args.properties} seconds={time.perf_counter() - started:.1f}")

    started = time.perf_counter()
    full = backup_create(organization=organization)
    assert full.status == "completed", full.error_message
    print(
        f"full_backup seconds={time.perf_counter() - started:.2f} bytes={full.size_bytes} "
        f"records={full.record_count}"
    )
    backed_up = _fingerprint(connection, organization.pk)
    step = max(1, round(1 / args.changed))
    edit = {"organization_id": organization.pk, "projects": projects, "step": step}
    first = _edit(connection, half=0, rows=args.properties, **edit)
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        as_of = cursor.fetchone()[0]
    at_instant = _fingerprint(connection, organization.pk)
    time.sleep(0.01)
    second = _edit(connection, half=1, rows=args.properties, **edit)
    for label, counts in (("first", first), ("second", second)):
        print(f"edit_{label} " + " ".join(f"{key}={value}" for key, value in counts.items()))
    print(f"as_of={as_of.isoformat()}")
    with connection.cursor() as cursor:
        for table in ("property", "historicalproperty", "propertyanalysis"):
            cursor.execute(f"VACUUM ANALYZE properties_{table}")
    return organization, full, as_of, {"replace_all": backed_up, "point_in_time": at_instant}


def main() -> None:
    args = _parse()
    template = f"{args.database}_diverged"
    for name in (args.database, template):
        _run(["dropdb", "--if-exists", name], args)
    _run(["createdb", args.database], args)
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = f"postgres://{args.user}@{args.host}:5432/{args.database}"
    os.environ["BACKUP_ROOT"] = tempfile.mkdtemp(prefix="bench-recovery-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection

    organization, full, as_of, expected = _prepare(args, connection)
    connection.close()
    _run(["createdb", "-T", args.database, template], args)

    seconds = {}
    for name in args.only:
        _fresh_copy(connection, args, template)
        started = time.perf_counter()
        restore = _restore(name, full=full, organization=organization, as_of=as_of)
        seconds[name] = time.perf_counter() - started
        assert restore.status == "completed", restore.error_message
        check = ""
        if name in expected:
            matches = _fingerprint(connection, organization.pk) == expected[name]
            check = f" state_matches={'yes' if matches else 'NO'}"
        print(f"{name} seconds={seconds[name]:.2f} {_summary(restore.counts)}{check}", flush=True)
    if "replace_all" in seconds:
        base = seconds["replace_all"]
        ratios = " ".join(
            f"{name}={value / base:.2f}" for name, value in seconds.items() if name != "replace_all"
        )
        print(f"ratio_to_replace_all {ratios}")
    connection.close()
    if not args.keep:
        for name in (args.database, template):
            _run(["dropdb", "--if-exists", name], args)


if __name__ == "__main__":
    main()
