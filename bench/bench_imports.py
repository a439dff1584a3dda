"""Import pipeline speed: preview, import with history, and re-import of N generated rows.

Usage: python bench/bench_imports.py [N]   (N defaults to 20,000;
DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/property_bench_imports)

Creates (or reuses) the database named in DATABASE_URL, migrates it, writes a CSV of N valid
rows (1% deliberately invalid, so the rejected-rows path is measured too) and runs, each into a
fresh project, the same services the admin and the command use:
  preview   import_preview: read, validate, classify, no write
  import    import_run: bulk ORM path, one history row per created property
  reimport  import_run of the same file again: every row found and skipped
Prints one key=value line per step and the process's peak RSS.
"""

import io
import os
import resource
import sys
import time

from _common import django_migrated, ensure_database

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/property_bench_imports")


def generate_csv(count: int) -> bytes:
    suburbs = ["Richmond", "Fitzroy", "St. Kilda East", "O'Connor", "Brunswick"]
    lines = ["propertyid,address,suburb,postcode,state,price,landsize,lattitude,longtitude"]
    for n in range(1, count + 1):
        postcode = "31" if n % 100 == 0 else str(3000 + n % 200)
        lines.append(
            f"B-{n},{n} Chapel St,{suburbs[n % 5]},{postcode},VIC,"
            f'"${300_000 + (n * 37) % 2_000_000:,}",{400 + n % 500},'
            f"{-37.8 - (n % 100) / 1000},{144.9 + (n % 100) / 1000}"
        )
    return ("\n".join(lines) + "\n").encode()


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    ensure_database(os.environ["DATABASE_URL"])
    django_migrated()
    from django.db import connection

    from imports.services.jobs import import_job_create, import_preview, import_run
    from organizations.models import Organization
    from properties.models import Project

    org, _ = Organization.objects.get_or_create(slug="bench-imports", defaults={"name": "Bench"})
    content = generate_csv(count)
    print(f"database={connection.vendor} rows={count} file_mb={len(content) / 1e6:.1f}", flush=True)

    def job_for(project):
        return import_job_create(
            actor=None, project=project, file=io.BytesIO(content), file_name="bench.csv"
        )

    project = Project.objects.create(organization=org, name=f"Bench {time.time():.0f}")
    job = job_for(project)
    started = time.perf_counter()
    job = import_preview(job=job, actor=None)
    seconds = time.perf_counter() - started
    totals = job.preview["totals"]
    print(
        f"step=preview seconds={seconds:.2f} rows_per_s={count / seconds:,.0f} "
        f"new={totals['new']} reject={totals['reject']}",
        flush=True,
    )

    for step in ("import", "reimport"):
        if step == "import":
            job = import_run(job=job, actor=None)
        else:
            job = import_run(job=job_for(project), actor=None)
        print(
            f"step={step} status={job.status} seconds="
            f"{(job.finished_at - job.started_at).total_seconds():.2f} "
            f"rows_per_s={job.rows_per_second:,.0f} created={job.created_count} "
            f"skipped={job.skipped_count} rejected={job.rejected_count}",
            flush=True,
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak_rss_mb={peak_mb:.0f}")


if __name__ == "__main__":
    main()
