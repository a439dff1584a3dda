from django.db.models.signals import post_delete, post_migrate, post_save

from backups.models import BackupExecution
from organizations.models import Organization


def sync_schedules_after_migrate(sender, using="default", **kwargs):
    from .services import integrity_schedules_sync, schedule_tables_exist

    # post_migrate also fires when migrating backwards, after the tables may be gone.
    if schedule_tables_exist(using):
        integrity_schedules_sync()


def schedule_new_organization(sender, instance, created=False, raw=False, **kwargs):
    if created and not raw:
        from .services import integrity_schedule_sync, schedule_tables_exist

        # An organisation created while django-q's tables are migrated away (a migration test)
        # gets its schedule from the post_migrate sync instead.
        if schedule_tables_exist():
            integrity_schedule_sync(organization=instance)


def unschedule_deleted_organization(sender, instance, **kwargs):
    from django_q.models import Schedule

    from .services import SCHEDULE_PREFIX

    Schedule.objects.filter(name=f"{SCHEDULE_PREFIX}{instance.pk}").delete()


def alert_on_backup_execution(sender, instance, raw=False, **kwargs):
    if raw:
        return
    from .services import backup_execution_alert

    backup_execution_alert(execution=instance)


def connect(app_config) -> None:
    post_migrate.connect(sync_schedules_after_migrate, sender=app_config)
    post_save.connect(schedule_new_organization, sender=Organization)
    post_delete.connect(unschedule_deleted_organization, sender=Organization)
    post_save.connect(alert_on_backup_execution, sender=BackupExecution)
