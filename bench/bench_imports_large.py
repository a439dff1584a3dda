"""Large imports: our pipeline against a plain django-import-export ModelResource.

Usage: python bench/bench_imports_large.py [N] [SAMPLE]   (N defaults to 100,000, SAMPLE to 2,000;
DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/property_bench_imports;
BENCH_WRITER=orm forces the bulk ORM writer on PostgreSQL, for comparison with COPY)

In one process, on one database (created and migrated if needed), each into a fresh project:
  preview   import_preview of a 10,000-row file (streaming validation, no write): server seconds
  import    import_run of an N-row CSV (generated to a temporary file, streamed): rows/s with one
            history row per property, then the peak RSS of this process so far
  plain     a django-import-export ModelResource (its default: row by row, with history through
            simple-history's signal) importing SAMPLE rows of the same data: rows/s
Prints one key=value line per step and the speed ratio.
"""

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from _common import django_migrated, ensure_database

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/property_bench_imports")

SUBURBS = ["Richmond", "Fitzroy", "St. Kilda East", "O'Connor", "Brunswick"]
HEADER = "propertyid,address,suburb,postcode,state,price,landsize,lattitude,longtitude\n"


def row(n: int) -> str:
    # 1% of the rows carry a 2-digit postcode, so the rejected-rows path is part of the figure.
    postcode = "31" if n % 100 == 0 else str(3000 + n % 200)
    return (
        f"L-{n},{n} Chapel St,{SUBURBS[n % 5]},{postcode},VIC,"
        f'"${300_000 + (n * 37) % 2_000_000:,}",{400 + n % 500},'
        f"{-37.8 - (n % 100) / 1000:.3f},{144.9 + (n % 100) / 1000:.3f}\n"
    )


def write_csv(count: int) -> Path:
    handle = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8")  # noqa: SIM115
    with handle:
        handle.write(HEADER)
        for start in range(1, count + 1, 10_000):
            handle.write("".join(row(n) for n in range(start, min(start + 10_000, count + 1))))
    return Path(handle.name)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def validator_peak_rss_mb() -> float:
    """The forked validation process's peak (the largest finished child's). Its pages are
    shared with this process until either writes them, so the two peaks overlap."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    sample = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000
    ensure_database(os.environ["DATABASE_URL"])
    django_migrated()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection

    from imports.pipeline import writer_for
    from imports.services.jobs import import_job_create, import_preview, import_run
    from organizations.models import Organization
    from properties.models import Project

    settings.IMPORT_WRITER = os.environ.get("BENCH_WRITER", "")
    org, _ = Organization.objects.get_or_create(slug="bench-imports", defaults={"name": "Bench"})
    # An import as the admin runs it: by a user, whom every property and history row names.
    actor, _ = get_user_model().objects.get_or_create(
        username="bench-importer", defaults={"is_superuser": True, "is_staff": True}
    )
    print(f"database={connection.vendor} rows={count} sample={sample}", flush=True)

    def new_project(label):
        return Project.objects.create(organization=org, name=f"Bench {label} {time.time():.0f}")

    def job_for(project, path):
        with path.open("rb") as handle:
            return import_job_create(
                actor=actor, project=project, file=handle, file_name="bench.csv", batch_size=5000
            )

    small = write_csv(10_000)
    job = job_for(new_project("preview"), small)
    started = time.perf_counter()
    job = import_preview(job=job, actor=actor)
    seconds = time.perf_counter() - started
    print(
        f"step=preview rows=10000 seconds={seconds:.2f} server_seconds={job.preview['seconds']} "
        f"reject={job.preview['totals']['reject']}",
        flush=True,
    )
    small.unlink()

    path = write_csv(count)
    print(f"file_mb={path.stat().st_size / 1e6:.1f} rss_before_mb={peak_rss_mb():.0f}", flush=True)
    project = new_project("import")
    job = job_for(project, path)
    started = time.perf_counter()
    job = import_run(job=job, actor=actor)
    seconds = time.perf_counter() - started
    ours = count / seconds
    history = project.properties.model.history.filter(
        project_id=project.pk, history_user=actor, history_type="+"
    ).count()
    writer = type(writer_for(project=project, dry_run=False, actor=None, change_reason="")).__name__
    print(
        f"step=import writer={writer} "
        f"status={job.status} seconds={seconds:.1f} rows_per_s={ours:,.0f} "
        f"created={job.created_count} rejected={job.rejected_count} history_rows={history} "
        f"peak_rss_mb={peak_rss_mb():.0f} validator_peak_rss_mb={validator_peak_rss_mb():.0f}",
        flush=True,
    )
    path.unlink()

    plain = plain_resource_import(new_project("plain"), sample)
    print(f"step=plain rows={sample} rows_per_s={plain:,.0f}", flush=True)
    print(f"ratio={ours / plain:.1f}x")


def plain_resource_import(project, sample: int) -> float:
    """django-import-export as documented: a ModelResource, its default row-by-row import."""
    import tablib
    from import_export import resources

    from imports.columns import cells_by_column, map_columns
    from imports.rules import validate_row
    from properties.models import Property

    class PlainPropertyResource(resources.ModelResource):
        class Meta:
            model = Property
            fields = (
                "id",
                "project",
                "organization",
                "external_id",
                "basic_info",
                "planning_controls",
                "financial_metrics",
                "spatial_attributes",
            )

    # The same rows, already validated and transformed: the plain resource is given the easier job.
    columns = map_columns(HEADER.strip().split(","))
    dataset = tablib.Dataset(headers=list(PlainPropertyResource.Meta.fields))
    for n in range(1, sample + 1):
        if n % 100 == 0:
            continue
        values = next(iter([row(n).strip().replace('"', "").split(",")]))
        values = [*values[:5], "".join(values[5:-3]), *values[-3:]]
        valid, _ = validate_row(cells_by_column(columns, values), row=n)
        groups = valid.groups
        dataset.append(
            [
                "",
                project.pk,
                project.organization_id,
                valid.external_id,
                json.dumps(groups.get("basic_info", {})),
                json.dumps(groups.get("planning_controls", {})),
                json.dumps(groups.get("financial_metrics", {})),
                json.dumps(groups.get("spatial_attributes", {})),
            ]
        )
    started = time.perf_counter()
    result = PlainPropertyResource().import_data(dataset, dry_run=False, raise_errors=True)
    seconds = time.perf_counter() - started
    assert not result.has_errors() and Property.history.filter(project_id=project.pk).exists()
    return len(dataset) / seconds


if __name__ == "__main__":
    main()
