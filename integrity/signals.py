"""The schedules follow the organisations table after every migrate (post_migrate also fires
when migrating backwards, after the tables may be gone)."""

from django.db.models.signals import post_migrate


def sync_schedules_after_migrate(sender, using="default", **kwargs):
    from .services.schedules import integrity_schedules_sync, schedule_tables_exist

    if schedule_tables_exist(using):
        integrity_schedules_sync()


def connect(app_config) -> None:
    post_migrate.connect(sync_schedules_after_migrate, sender=app_config)
