"""An incremental backup against a full one, at N properties with a share of them changed.

    BENCH_ROWS=1000000 python bench/bench_backups_incremental.py [--changed 0.01] [--runs 3]

Seeds one organisation with BENCH_ROWS properties (default 1,000,000), each with its creation
history row as an import writes it, in a scratch PostgreSQL database; takes a full backup; then
changes the given share of the properties (nine in ten updated, one in ten deleted, each with
its history row in the same transaction, spread over the whole id range) and times an
incremental backup onto the full one (--runs times, each onto the full backup: the previous
incremental is removed first) and the restore of the chain (full + incremental) into the
organisation as it is now (a dry run, which reads, checks and folds the chain and plans the
changes, then the real restore). Prints one key=value line per measurement; the median of the
runs for the backups. The scratch database is dropped at the end.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time

from _common import django_migrated, seed_chapel_street

DATABASE = "bench_backups_incremental"


def _run(command, args):
    env = {**os.environ, "PGHOST": args.host, "PGUSER": args.user}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)


def _seed(cursor, *, project, organization, rows: int) -> None:
    seed_chapel_street(cursor, project=project, organization=organization, rows=rows)
    _history(cursor, "+", "TRUE")


def _history(cursor, kind: str, where: str, table="properties_property") -> None:
    columns = (
        "id, project_id, organization_id, external_id, basic_info, planning_controls, "
        "environmental_factors, financial_metrics, spatial_attributes, status, created_by_id, "
        "created_at, updated_at"
    )
    cursor.execute(
        f"INSERT INTO properties_historicalproperty ({columns}, history_date, "
        f"history_change_reason, history_type) SELECT {columns}, now(), 'bench', %s "
        f"FROM {table} WHERE {where}",
        [kind],
    )


def _change(connection, *, share: float) -> tuple[int, int]:
    """Updates nine in ten and deletes one in ten of `share` of the rows, spread evenly."""
    step = max(1, round(1 / share))
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute(
            "UPDATE properties_property SET status = 'archived', updated_at = now() "
            "WHERE id %% %s = 0 AND (id / %s) %% 10 <> 0",
            [step, step],
        )
        updated = cursor.rowcount
        _history(cursor, "~", f"id %% {step} = 0 AND (id / {step}) %% 10 <> 0")
        cursor.execute(
            "CREATE TEMPORARY TABLE gone AS SELECT * FROM properties_property "
            "WHERE id %% %s = 0 AND (id / %s) %% 10 = 0",
            [step, step],
        )
        _history(cursor, "-", "TRUE", table="gone")
        cursor.execute("DELETE FROM properties_property WHERE id IN (SELECT id FROM gone)")
        deleted = cursor.rowcount
        cursor.execute("DROP TABLE gone")
        cursor.execute("COMMIT")
    return updated, deleted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changed", type=float, default=0.01, help="Share of rows changed.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="postgres")
    args = parser.parse_args()
    rows = int(os.environ.get("BENCH_ROWS", "1000000"))

    _run(["dropdb", "--if-exists", DATABASE], args)
    _run(["createdb", DATABASE], args)
    os.environ["DATABASE_URL"] = f"postgres://{args.user}@{args.host}:5432/{DATABASE}"
    os.environ["BACKUP_ROOT"] = tempfile.mkdtemp(prefix="bench-incremental-")
    django_migrated()
    from django.db import connection

    from backups.services.backup import backup_create
    from backups.services.restore import backup_restore
    from organizations.models import Organization
    from properties.models import Project

    organization = Organization.objects.create(name="Bench Org", slug="bench-org")
    project = Project.objects.create(organization=organization, name="Bench project")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        _seed(cursor, project=project, organization=organization, rows=rows)
        cursor.execute("VACUUM ANALYZE properties_property")
        cursor.execute("VACUUM ANALYZE properties_historicalproperty")
    print(f"seed properties={rows} seconds={time.perf_counter() - started:.1f}")

    full_times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        full = backup_create(organization=organization)
        full_times.append(time.perf_counter() - started)
        assert full.status == "completed", full.error_message
    full_seconds = statistics.median(full_times)
    print(
        f"full_backup seconds={full_seconds:.2f} bytes={full.size_bytes} "
        f"records={full.record_count} runs={' '.join(f'{t:.2f}' for t in full_times)}"
    )

    started = time.perf_counter()
    updated, deleted = _change(connection, share=args.changed)
    print(f"change updated={updated} deleted={deleted} seconds={time.perf_counter() - started:.1f}")

    times, increment = [], None
    for _ in range(args.runs):
        if increment is not None:
            increment.archive.storage.delete(increment.archive.name)
            increment.delete()
        started = time.perf_counter()
        increment = backup_create(organization=organization, backup_type="incremental")
        times.append(time.perf_counter() - started)
        assert increment.status == "completed", increment.error_message
        assert increment.base_backup_id == full.pk
    seconds = statistics.median(times)
    print(
        f"incremental_backup seconds={seconds:.3f} bytes={increment.size_bytes} "
        f"records={increment.record_count} ratio_to_full={seconds / full_seconds:.3f} "
        f"size_ratio_to_full={increment.size_bytes / full.size_bytes:.4f} "
        f"runs={' '.join(f'{t:.3f}' for t in times)}"
    )

    started = time.perf_counter()
    plan = backup_restore(backup=increment, organization=organization, dry_run=True)
    counts = plan.counts["properties_property"]
    print(
        f"chain_restore_dry_run seconds={time.perf_counter() - started:.2f} "
        f"updated={counts['updated']} inserted={counts['inserted']} deleted={counts['deleted']}"
    )
    with connection.cursor() as cursor:
        cursor.execute("UPDATE properties_property SET status = 'deleted' WHERE id % 1000 = 1")
    started = time.perf_counter()
    restore = backup_restore(backup=increment, organization=organization)
    counts = restore.counts["properties_property"]
    print(
        f"chain_restore seconds={time.perf_counter() - started:.2f} "
        f"updated={counts['updated']} inserted={counts['inserted']} deleted={counts['deleted']}"
    )
    connection.close()
    _run(["dropdb", "--if-exists", DATABASE], args)


if __name__ == "__main__":
    main()
