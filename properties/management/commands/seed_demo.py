from django.core.management.base import BaseCommand

from organizations.models import Organization
from properties.demo import DEMO_PASSWORD, demo_data_seed, demo_logins


class Command(BaseCommand):
    help = "Create two demo organisations with a login per role and realistic properties."

    def add_arguments(self, parser):
        parser.add_argument(
            "--properties",
            type=int,
            default=2000,
            help="Properties per organisation (default 2000).",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Seed only when the database has no organisation yet (used by `make run`).",
        )

    def handle(self, *args, properties, if_empty, **options):
        if properties < 0:
            self.stderr.write("--properties must be zero or more.")
            raise SystemExit(2)
        if if_empty and Organization.objects.exists():
            for org, username, role in demo_logins():
                self._print_login(org, username, role)
            self.stdout.write(
                "seed_demo skipped=existing-data (run `manage.py seed_demo` to top up)"
            )
            return
        result = demo_data_seed(properties=properties)
        for org, username, role in result.logins:
            self._print_login(org, username, role)
        self.stdout.write(
            f"seed_demo organizations_created={result.organizations_created} "
            f"properties_created={result.properties_created} "
            f"analyses_created={result.analyses_created}"
        )

    def _print_login(self, org, username, role):
        self.stdout.write(
            f"login org={org} username={username} role={role} password={DEMO_PASSWORD}"
        )
