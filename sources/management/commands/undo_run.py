from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ...undo import undo_run


class Command(BaseCommand):
    help = "Undo an import job or a sync run from history: import:<id> or sync:<id>."

    def add_arguments(self, parser):
        parser.add_argument("target", help="import:<id> or sync:<id>")
        parser.add_argument("--dry-run", action="store_true", help="Print the plan only.")
        parser.add_argument(
            "--force", action="store_true", help="Also undo properties edited since the run."
        )

    def handle(self, *args, target, dry_run, force, **options):
        try:
            plan = undo_run(target=target, actor=None, dry_run=dry_run, force=force)
        except ValidationError as error:
            message = " ".join(error.messages).replace('"', "'")
            raise CommandError(f'undo={target} status=refused reason="{message}"') from error
        self.stdout.write(plan.summary())
