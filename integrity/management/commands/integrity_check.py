from django.core.management.base import BaseCommand, CommandError

from integrity.checks import SEVERITY_RANK
from integrity.models import DataIntegrityReport
from integrity.services.reports import integrity_check_run
from organizations.models import Organization

#: Exit status when --fail-on finds issues (bad arguments exit 2, like argparse).
EXIT_CHECKS_FAILED = 1


class Command(BaseCommand):
    help = (
        "Run every integrity check over the given organisations (or --all), store a report per "
        "organisation and print one line per check."
    )

    def add_arguments(self, parser):
        parser.add_argument("org_slugs", nargs="*", metavar="ORG_SLUG")
        parser.add_argument("--all", action="store_true", help="Every organisation.")
        parser.add_argument(
            "--fail-on",
            choices=["error", "warning"],
            help="Exit non-zero when a check of this severity or worse has issues.",
        )

    def handle(self, *args, org_slugs, all, fail_on, **options):
        if all and org_slugs:
            raise CommandError("Give organisation slugs or --all, not both.", returncode=2)
        if all:
            organizations = list(Organization.objects.order_by("slug"))
        elif org_slugs:
            found = {org.slug: org for org in Organization.objects.filter(slug__in=org_slugs)}
            missing = [slug for slug in org_slugs if slug not in found]
            if missing:
                raise CommandError(
                    f"No organisation with slug {', '.join(missing)}; nothing was checked.",
                    returncode=2,
                )
            organizations = [found[slug] for slug in dict.fromkeys(org_slugs)]
        else:
            raise CommandError("Give one or more organisation slugs, or --all.", returncode=2)

        threshold = SEVERITY_RANK[fail_on.upper()] if fail_on else None
        failing = []
        for organization in organizations:
            report = integrity_check_run(
                organization=organization, trigger=DataIntegrityReport.Trigger.COMMAND
            )
            if report is None:
                # The same run lock as the schedule's: a run still going is not doubled.
                self.stdout.write(f"org={organization.slug} status=skipped reason=already_running")
                continue
            for result in report.check_results:
                self.stdout.write(
                    f"check={result['slug']} severity={result['severity']} count={result['count']}"
                )
                if (
                    threshold is not None
                    and result["count"] > 0
                    and SEVERITY_RANK[result["severity"]] >= threshold
                ):
                    failing.append(f"{organization.slug}:{result['slug']}")
            self.stdout.write(
                f"report={report.pk} org={organization.slug} total={report.total_issues} "
                f"errors={report.error_count} warnings={report.warning_count} "
                f"duration_ms={report.duration_ms} "
                f"{organization.clock_fields('created_at', report.created_at)}"
            )
        if failing:
            raise CommandError(
                f"{len(failing)} check(s) at or above {fail_on}: {', '.join(failing)}",
                returncode=EXIT_CHECKS_FAILED,
            )
