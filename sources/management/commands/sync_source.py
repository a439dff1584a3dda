from django.core.management.base import BaseCommand, CommandError

from ...models import DataSource, SyncRun
from ...services import source_sync

SUCCESS = {SyncRun.Status.COMPLETED, SyncRun.Status.COMPLETED_WITH_ERRORS, SyncRun.Status.UNCHANGED}


def summary(run: SyncRun) -> str:
    line = (
        f"sync={run.pk} status={run.status} fetched={run.fetched} created={run.created} "
        f"updated={run.updated} unchanged={run.unchanged} rejected={run.rejected} "
        f"warned={run.warned} vanished={run.vanished} requests={run.requests}"
    )
    if run.error:
        line += ' error="' + run.error.replace('"', "'") + '"'
    return line


class Command(BaseCommand):
    help = "Sync one source now, in this process."

    def add_arguments(self, parser):
        parser.add_argument("source_id", type=int)
        parser.add_argument("--dry-run", action="store_true", help="Classify, write nothing.")
        parser.add_argument("--full", action="store_true", help="Ignore cursor, ETag and hash.")

    def handle(self, *args, source_id, dry_run, full, **options):
        source = DataSource.objects.select_related("project").filter(pk=source_id).first()
        if source is None:
            raise CommandError(f"status=refused reason=unknown_source source={source_id}")
        run = source_sync(
            source=source, actor=None, trigger=SyncRun.Trigger.COMMAND, dry_run=dry_run, full=full
        )
        run.refresh_from_db()
        if run.status not in SUCCESS:
            raise CommandError(summary(run))
        self.stdout.write(summary(run))
