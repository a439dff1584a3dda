from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from imports.models import ImportJob
from imports.services import import_resume


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
        job = ImportJob.objects.select_related("project", "user").filter(pk=options["job"]).first()
        if job is None:
            raise CommandError(f"No import job with id {options['job']}.")
        try:
            job = import_resume(job=job, actor=actor, inline=True)
        except PermissionDenied:
            # Same answer as for a missing job: nothing about another tenant leaks.
            raise CommandError(f"No import job with id {options['job']}.") from None
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
