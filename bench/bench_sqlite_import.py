"""The embedded default: a 100,000-row import into SQLite through `manage.py import_properties`.

Usage: python bench/bench_sqlite_import.py [N]   (N defaults to 100,000; BENCH_WRITER=orm forces
the bulk ORM writer, for comparison with the SQLite writer; BENCH_PROFILE=path writes a cProfile
of the import command there; BENCH_POSTGRES_URL=postgres://.../name runs the same steps on that
PostgreSQL database instead, dropped and created afresh, for the figure beside SQLite's)

Each run makes a temporary folder holding a fresh SQLite database (or uses the fresh PostgreSQL
one) and the media storage, migrates it, generates an N-row CSV (the rows of
bench_imports_large.py: 1% with a two-digit postcode, so the rejected-rows path is part of the
figure), and runs the command as a user, as an operator would: `import_properties FILE --project
ID --user NAME`. It prints the command's wall time and rows/s (file storage, hashing and the
import itself), the job's own rows/s, the history rows the import wrote, and the CPU seconds of
this process and of the forked validator. Nothing is kept (the PostgreSQL database is dropped at
the end).
"""

import io
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
WORK = Path(tempfile.mkdtemp(prefix="bench-sqlite-"))
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "")
os.environ["DATABASE_URL"] = POSTGRES_URL or f"sqlite:///{WORK / 'bench.sqlite3'}"
os.environ["MEDIA_ROOT"] = str(WORK / "media")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench_imports_large import write_csv  # noqa: E402


def _fresh_postgres(url: str, *, create: bool = True) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0].replace("postgres://", "postgresql://", 1) + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def _database_mb(connection) -> float:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return cursor.fetchone()[0] / 1e6
    return (WORK / "bench.sqlite3").stat().st_size / 1e6


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    if POSTGRES_URL:
        _fresh_postgres(POSTGRES_URL)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from imports.models import ImportJob
    from imports.pipeline import writer_for
    from organizations.models import Organization
    from properties.models import Project, Property

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(
        f"database={connection.vendor} rows={count} migrate_s={time.perf_counter() - started:.1f}"
    )
    settings.IMPORT_WRITER = os.environ.get("BENCH_WRITER", "")
    org = Organization.objects.create(slug="bench-sqlite", name="Bench SQLite")
    project = Project.objects.create(organization=org, name="Bench import")
    actor = get_user_model().objects.create(
        username="bench-importer", is_superuser=True, is_staff=True
    )
    writer = type(writer_for(project=project, dry_run=False, actor=None, change_reason="")).__name__
    path = write_csv(count)
    print(f"writer={writer} file_mb={path.stat().st_size / 1e6:.1f}", flush=True)

    out = io.StringIO()
    own_before, validator_before = _cpu_seconds()
    arguments = [str(path), "--project", str(project.pk), "--user", actor.username]
    profile_path = os.environ.get("BENCH_PROFILE")
    started = time.perf_counter()
    if profile_path:
        import cProfile

        cProfile.runctx(
            "call_command('import_properties', *arguments, stdout=out)",
            globals(),
            {"call_command": call_command, "arguments": arguments, "out": out},
            profile_path,
        )
    else:
        call_command("import_properties", *arguments, stdout=out)
    seconds = time.perf_counter() - started
    own, validator = (
        after - before
        for after, before in zip(_cpu_seconds(), (own_before, validator_before), strict=True)
    )
    path.unlink()

    job = ImportJob.objects.get(project=project)
    history = Property.history.filter(
        project_id=project.pk,
        history_user=actor,
        history_type="+",
        history_change_reason=f"import {job.pk}",
    ).count()
    stored = Property.objects.filter(project=project).count()
    print(f"command: {out.getvalue().strip()}")
    print(
        f"step=import writer={writer} status={job.status} seconds={seconds:.1f} "
        f"rows_per_s={count / seconds:,.0f} job_rows_per_s={job.rows_per_second:,.0f} "
        f"created={job.created_count} rejected={job.rejected_count} properties={stored} "
        f"history_rows={history} db_mb={_database_mb(connection):.0f}",
        flush=True,
    )
    # On a machine shared with other work the wall figure drops while the CPU seconds stay
    # put: they tell a slow run from a slow import.
    print(
        f"cpu_s={own:.1f} validator_cpu_s={validator:.1f} "
        f"cpu_share={(own + validator) / seconds:.2f} load_average={os.getloadavg()[0]:.1f}"
    )


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds of this process and of its finished children (the forked validator)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
        if POSTGRES_URL:
            from django.db import connections

            connections.close_all()
            _fresh_postgres(POSTGRES_URL, create=False)
