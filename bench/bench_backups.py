"""Our organisation backup and restore against pg_dump / pg_restore, on PostgreSQL.

    python bench/bench_backups.py [N] [--runs 3] [--host 127.0.0.1] [--user postgres] [--keep]

Seeds one organisation with N properties (default 1,000,000) in a scratch database, then times,
net of Django start-up:
- our full backup (`backup_create`: COPY in a REPEATABLE READ snapshot, zip, SHA-256, storage)
  against `pg_dump -Fc -t properties_property`;
- our replace_all restore of that backup into the organisation emptied of its properties
  (`backup_restore`: checksum and manifest check, COPY into temporary tables, set-based insert,
  history rows) against `pg_restore --data-only` of the dump into an identically migrated
  database holding the same organisation and project but no properties.
Backups and dumps are timed --runs times, alternating, and the median is reported (the machine
may be shared); the restores once each. Prints one key=value line per measurement. The scratch
databases are dropped at the end.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _common import django_migrated, seed_chapel_street

SOURCE_DB, TARGET_DB = "bench_backups_src", "bench_backups_dst"


def _psql_env(args):
    return {**os.environ, "PGHOST": args.host, "PGUSER": args.user}


def _run(command, args):
    subprocess.run(command, check=True, env=_psql_env(args), stdout=subprocess.DEVNULL)


def _timed(command, args) -> float:
    started = time.perf_counter()
    _run(command, args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("properties", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="Backup and dump timings to take.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch databases.")
    args = parser.parse_args()

    for name in (SOURCE_DB, TARGET_DB):
        _run(["dropdb", "--if-exists", name], args)
    _run(["createdb", SOURCE_DB], args)

    backups_dir = tempfile.mkdtemp(prefix="bench-backups-")
    os.environ["DATABASE_URL"] = f"postgres://{args.user}@{args.host}:5432/{SOURCE_DB}"
    os.environ["BACKUP_ROOT"] = backups_dir
    django_migrated()
    from django.db import connection

    from backups.services.backup import backup_create
    from backups.services.restore import backup_restore
    from organizations.models import Organization
    from properties.models import Project

    organization = Organization.objects.create(name="Bench Org", slug="bench-org")
    project = Project.objects.create(organization=organization, name="Bench project")
    connection.close()
    # The target is a copy taken now: same migrations, organisation and project, no properties.
    _run(["createdb", "-T", SOURCE_DB, TARGET_DB], args)

    started = time.perf_counter()
    with connection.cursor() as cursor:
        seed_chapel_street(cursor, project=project, organization=organization, rows=args.properties)
        cursor.execute("VACUUM ANALYZE properties_property")
    print(f"seed properties={args.properties} seconds={time.perf_counter() - started:.1f}")

    with tempfile.TemporaryDirectory() as scratch:
        dump = Path(scratch) / "properties.dump"
        dump_times, backup_times = [], []
        for _ in range(args.runs):
            dump_times.append(
                _timed(
                    ["pg_dump", "-Fc", "-t", "properties_property", "-f", str(dump), SOURCE_DB],
                    args,
                )
            )
            started = time.perf_counter()
            backup = backup_create(organization=organization)
            backup_times.append(time.perf_counter() - started)
            assert backup.status == "completed", backup.error_message
        pg_dump, ours = statistics.median(dump_times), statistics.median(backup_times)
        print(
            f"pg_dump seconds={pg_dump:.2f} bytes={dump.stat().st_size} "
            f"runs={' '.join(f'{t:.2f}' for t in dump_times)}"
        )
        print(
            f"backup_create seconds={ours:.2f} bytes={backup.size_bytes} "
            f"records={backup.record_count} ratio_to_pg_dump={ours / pg_dump:.2f} "
            f"runs={' '.join(f'{t:.2f}' for t in backup_times)}"
        )

        pg_restore = _timed(["pg_restore", "--data-only", "-d", TARGET_DB, str(dump)], args)
        print(f"pg_restore seconds={pg_restore:.2f}")

        started = time.perf_counter()
        plan = backup_restore(backup=backup, organization=organization, dry_run=True)
        print(
            f"backup_restore_dry_run seconds={time.perf_counter() - started:.2f} "
            f"updated={plan.counts['properties_property']['updated']}"
        )

        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE properties_property, properties_historicalproperty CASCADE")
            cursor.execute("VACUUM ANALYZE properties_property")
        started = time.perf_counter()
        restore = backup_restore(backup=backup, organization=organization)
        ours = time.perf_counter() - started
        print(
            f"backup_restore seconds={ours:.2f} "
            f"inserted={restore.counts['properties_property']['inserted']} "
            f"history_rows={restore.counts['properties_property']['inserted']} "
            f"ratio_to_pg_restore={ours / pg_restore:.2f}"
        )

    connection.close()
    if not args.keep:
        for name in (SOURCE_DB, TARGET_DB):
            _run(["dropdb", "--if-exists", name], args)


if __name__ == "__main__":
    main()
