from django.core.management.base import BaseCommand

from properties.demo import DEMO_PASSWORD, demo_data_seed


class Command(BaseCommand):
    help = "Create two demo organisations with a login per role and realistic properties."

    def add_arguments(self, parser):
        parser.add_argument(
            "--properties",
            type=int,
            default=2000,
            help="Properties per organisation (default 2000).",
        )

    def handle(self, *args, properties, **options):
        if properties < 0:
            self.stderr.write("--properties must be zero or more.")
            raise SystemExit(2)
        result = demo_data_seed(properties=properties)
        for org, username, role in result.logins:
            self.stdout.write(
                f"login org={org} username={username} role={role} password={DEMO_PASSWORD}"
            )
        self.stdout.write(
            f"seed_demo organizations_created={result.organizations_created} "
            f"properties_created={result.properties_created} "
            f"analyses_created={result.analyses_created}"
        )
