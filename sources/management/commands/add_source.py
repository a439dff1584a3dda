import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from organizations.access import Scope
from organizations.models import Organization
from properties.models import Project

from ...models import DataSource
from ...services import source_create


def quoted(message: str) -> str:
    return '"' + message.replace('"', "'") + '"'


class Command(BaseCommand):
    help = "Add a government open-data source (CKAN datastore resource or published file)."

    def add_arguments(self, parser):
        parser.add_argument("org_slug")
        parser.add_argument("--project", type=int, required=True, dest="project_id")
        parser.add_argument("--kind", required=True, choices=DataSource.Kind.values)
        parser.add_argument("--url", required=True)
        parser.add_argument("--resource-id", default="")
        parser.add_argument("--schedule", default="", help="Cron expression, e.g. '0 3 * * *'.")
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--on-vanish", default=DataSource.OnVanish.IGNORE, choices=DataSource.OnVanish.values
        )
        parser.add_argument("--token-env", default="", help="Env variable with the API token.")
        parser.add_argument(
            "--column-overrides",
            default="{}",
            help='Source field to import column, JSON, e.g. \'{"prop_pfi": "propertyid"}\'.',
        )

    def handle(self, *args, org_slug, project_id, **options):
        organization = Organization.objects.filter(slug=org_slug).first()
        if organization is None:
            raise CommandError(f"status=refused reason=unknown_organization org={org_slug}")
        try:
            project = Scope.system().get(
                Project.objects.filter(organization=organization), pk=project_id
            )
        except Project.DoesNotExist:
            raise CommandError(
                f"status=refused reason=unknown_project project={project_id} org={org_slug}"
            ) from None
        try:
            overrides = json.loads(options["column_overrides"])
        except ValueError as error:
            raise CommandError(f"status=refused reason={quoted(str(error))}") from error
        try:
            source = source_create(
                actor=None,
                project=project,
                kind=options["kind"],
                url=options["url"],
                resource_id=options["resource_id"],
                schedule_cron=options["schedule"],
                name=options["name"],
                on_vanish=options["on_vanish"],
                api_token_env=options["token_env"],
                column_overrides=overrides,
            )
        except ValidationError as error:
            raise CommandError(
                f"status=refused reason={quoted(' '.join(error.messages))}"
            ) from error
        self.stdout.write(f"source={source.pk} kind={source.kind} project={project.pk}")
