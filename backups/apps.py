from django.apps import AppConfig
from django.db.models.signals import post_migrate

DRILL_SCHEDULE = "backup-drills-daily"


def sync_drill_schedule(sender, using="default", **kwargs):
    """The daily restore drill of every organisation's newest backup, kept by code."""
    from django.db import connections
    from django_q.models import Schedule

    # post_migrate also fires when migrating backwards, after the table may be gone.
    if Schedule._meta.db_table not in connections[using].introspection.table_names():
        return
    Schedule.objects.using(using).update_or_create(
        name=DRILL_SCHEDULE,
        defaults={
            "func": "backups.tasks.backup_drills_daily_task",
            "schedule_type": Schedule.CRON,
            "cron": "30 3 * * *",
            "repeats": -1,
        },
    )


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "Backups"

    def ready(self):
        post_migrate.connect(sync_drill_schedule, sender=self)
