from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from imports.models import ImportJob
from imports.pipeline import OnDuplicate
from imports.services.jobs import (
    DEFAULT_BATCH_SIZE,
    import_job_create,
    import_preview,
    import_run,
)
from properties.models import Project
from properties.selectors import project_get


class Command(BaseCommand):
    help = (
        "Import a CSV / XLSX / JSON file of properties into a project, through the same "
        "validation as the admin. Exits non-zero when the file is refused or the job fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--project", type=int, required=True, metavar="PROJECT_ID")
        parser.add_argument(
            "--user", metavar="USERNAME", help="Import as this user (history, tenancy check)."
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Write no property: the job is recorded as a preview, which a manager may "
            "confirm in the admin.",
        )
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--on-duplicate", choices=OnDuplicate.CHOICES, default=OnDuplicate.SKIP)
        parser.add_argument(
            "--errors-csv", metavar="PATH", help="Write the rejected rows, with reasons, here."
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        actor = None
        if options["user"]:
            try:
                actor = get_user_model().objects.get(username=options["user"])
            except get_user_model().DoesNotExist:
                raise CommandError(f"No user {options['user']!r}.") from None
        try:
            # Another organisation's project is as unknown to --user as a missing one.
            project = project_get(actor=actor, project_id=options["project"])
        except Project.DoesNotExist:
            raise CommandError(f"No project with id {options['project']}.") from None

        try:
            with path.open("rb") as source:
                job = import_job_create(
                    actor=actor,
                    project=project,
                    file=source,
                    file_name=path.name,
                    on_duplicate=options["on_duplicate"],
                    batch_size=options["batch_size"],
                )
            if options["dry_run"]:
                job = import_preview(job=job, actor=actor)
            else:
                job = import_run(job=job, actor=actor)
        except (PermissionDenied, ValidationError) as exc:
            raise CommandError(_message(exc)) from None

        if options["errors_csv"]:
            errors_path = Path(options["errors_csv"])
            if job.rejected_file:
                with job.rejected_file.open("rb") as report:
                    errors_path.write_bytes(report.read())
            elif errors_path.exists():
                # A stale report from an earlier run would be mistaken for this one's.
                errors_path.unlink()

        self.stdout.write(_summary(job, project, dry_run=options["dry_run"]))
        totals = (job.preview or {}).get("totals", {})
        if options["dry_run"] and totals and totals.get("reject") == totals.get("total"):
            raise CommandError(
                f"No valid row: all {totals['total']} rows would be rejected. "
                "See the rejected rows for why."
            )
        if job.status in {ImportJob.Status.FAILED, ImportJob.Status.CANCELLED}:
            raise CommandError(job.error_summary or f"Import {job.pk} {job.status}.")


def _summary(job: ImportJob, project, *, dry_run: bool) -> str:
    if dry_run:
        # A preview: what the import would do, and no throughput, since nothing was written.
        totals = (job.preview or {}).get("totals", {})
        return (
            f"import={job.pk} status={job.status} dry_run=preview "
            f"total={totals.get('total', 0)} created={totals.get('new', 0)} "
            f"updated={totals.get('update', 0)} skipped={totals.get('skip', 0)} "
            f"rejected={totals.get('reject', 0)}"
        )
    return (
        f"import={job.pk} status={job.status} total={job.total_rows} "
        f"created={job.created_count} updated={job.updated_count} "
        f"skipped={job.skipped_count} rejected={job.rejected_count} "
        f"rows_per_s={round(job.rows_per_second)} "
        f"{project.organization.clock_fields('finished_at', job.finished_at)}"
    )


def _message(exc) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)
