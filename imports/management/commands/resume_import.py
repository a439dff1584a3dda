from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from imports.models import ImportJob
from imports.selectors import import_job_get
from imports.services.jobs import import_resume
from organizations.access import AccessDenied


class Command(BaseCommand):
    help = (
        "Resume an import whose worker died (or that failed half-way) in this process: it "
        "continues after its last committed batch. Exits non-zero unless the job then completes."
    )

    def add_arguments(self, parser):
        parser.add_argument("job", type=int, metavar="JOB_ID")
        parser.add_argument(
            "--user", metavar="USERNAME", help="Act as this user (the tenancy check)."
        )

    def handle(self, *args, **options):
        actor = None
        if options["user"]:
            actor = get_user_model().objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(f"No user {options['user']!r}.")
        try:
            # Another organisation's job is as unknown to --user as a missing one.
            job = import_job_get(actor=actor, job_id=options["job"])
        except ImportJob.DoesNotExist:
            raise CommandError(f"No import job with id {options['job']}.") from None
        try:
            job = import_resume(job=job, actor=actor)
        except AccessDenied as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(
            f"import={job.pk} status={job.status} total={job.total_rows} "
            f"created={job.created_count} updated={job.updated_count} "
            f"skipped={job.skipped_count} rejected={job.rejected_count} "
            f"last_committed_row={job.last_committed_row}"
        )
        if job.status not in {ImportJob.Status.COMPLETED, ImportJob.Status.COMPLETED_WITH_ERRORS}:
            raise CommandError(job.error_summary or f"Import {job.pk} {job.status}.")
