"""Backup and restore of one organisation on SQLite, the embedded default: time, queries, memory.

Usage: python bench/bench_sqlite_backups.py [N]   (N properties, default 100,000; BENCH_PROFILE=path
writes a cProfile of each step to path.<step>)

A temporary folder holds a fresh SQLite database and the backups storage. One organisation is
seeded with N properties and a history row each (by SQL, in seconds), then:
  backup    backup_create (full)
  dry_run   backup_restore dry run (verify the archive, load, plan)
  restore   backup_restore replace_all into the organisation emptied of its properties
  verify    backup_verify (checksums, manifest, and a restore drill rolled back)
Each prints its seconds, its CPU seconds (the machine may be shared), its SQL statements (and
the three most repeated statement shapes, which show a query made per row or per chunk) and the
process's peak RSS so far. Nothing is kept.
"""

import os
import re
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
WORK = Path(tempfile.mkdtemp(prefix="bench-sqlite-backups-"))
os.environ["DATABASE_URL"] = f"sqlite:///{WORK / 'bench.sqlite3'}"
os.environ["BACKUP_ROOT"] = str(WORK / "backups")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

_LITERALS = re.compile(r"'[^']*'|\b\d+\b")


def _shape(sql: str) -> str:
    """A statement with its literals and IN lists folded, so repeats of one query count as one."""
    folded = _LITERALS.sub("?", sql)
    return re.sub(r"\((?:\s*\?\s*,)+\s*\?\s*\)", "(?, ...)", folded)[:110]


def _measured(label, work):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        started, cpu = time.perf_counter(), time.process_time()
        if os.environ.get("BENCH_PROFILE"):
            import cProfile

            profile = cProfile.Profile()
            result = profile.runcall(work)
            profile.dump_stats(f"{os.environ['BENCH_PROFILE']}.{label}")
        else:
            result = work()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    shapes = Counter(_shape(query["sql"]) for query in queries.captured_queries)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"step={label} seconds={seconds:.2f} cpu_s={cpu:.2f} statements={len(queries)} "
        f"peak_rss_mb={peak:.0f}",
        flush=True,
    )
    for shape, count in shapes.most_common(3):
        print(f"    {count:>7} x {shape}")
    return result


def _seed(organization, project, count: int) -> None:
    from django.db import connection

    columns = (
        "external_id, basic_info, planning_controls, environmental_factors, financial_metrics, "
        "spatial_attributes, status, created_at, updated_at, project_id, organization_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s)
            INSERT INTO properties_property ({columns})
            SELECT 'EXT-' || i,
                json_object('address', i || ' Chapel St', 'suburb', 'Richmond', 'state', 'VIC',
                            'postcode', CAST(3000 + i %% 200 AS TEXT)),
                json_object('zoning', json_object('primary', 'GRZ' || i %% 3)),
                json_object('flood_overlay', json(CASE WHEN i %% 7 = 0 THEN 'true'
                                                  ELSE 'false' END)),
                json_object('estimated_value', 500000 + (i %% 1000) * 1000),
                json_object('coordinates', json_object('type', 'Point', 'coordinates',
                    json_array(144.9 + (i %% 100) / 1000.0, -37.8 - (i %% 100) / 1000.0))),
                'active', datetime('now'), datetime('now'), %s, %s
            FROM n
            """,
            [count, project.pk, organization.pk],
        )
        cursor.execute(
            f"""
            INSERT INTO properties_historicalproperty
                (id, {columns}, history_date, history_change_reason, history_type)
            SELECT id, {columns}, datetime('now'), 'seed', '+' FROM properties_property
            """
        )


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from backups.services.backup import backup_create
    from backups.services.restore import backup_restore
    from backups.services.verify import backup_verify
    from organizations.models import Organization
    from properties.models import Project, Property

    call_command("migrate", verbosity=0)
    organization = Organization.objects.create(name="Bench Org", slug="bench-org")
    project = Project.objects.create(organization=organization, name="Bench project")
    started = time.perf_counter()
    with transaction.atomic():
        _seed(organization, project, count)
    print(
        f"database={connection.vendor} properties={count} "
        f"seed_seconds={time.perf_counter() - started:.1f}",
        flush=True,
    )

    backup = _measured("backup", lambda: backup_create(organization=organization))
    assert backup.status == "completed", backup.error_message
    print(f"    bytes={backup.size_bytes} records={backup.record_count}")
    plan = _measured(
        "dry_run",
        lambda: backup_restore(backup=backup, organization=organization, dry_run=True),
    )
    print(f"    updated={plan.counts['properties_property']['updated']}")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM properties_property")
    restore = _measured("restore", lambda: backup_restore(backup=backup, organization=organization))
    print(
        f"    inserted={restore.counts['properties_property']['inserted']} "
        f"properties={Property.objects.count()} "
        f"history_rows={Property.history.filter(history_type='+').count()}"
    )
    verified = _measured("verify", lambda: backup_verify(backup=backup))
    print(f"    verification={verified.verification_status}")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
