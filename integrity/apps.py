from django.apps import AppConfig


def _schedule_new_organization(organization) -> None:
    from .services.schedules import integrity_schedule_sync, schedule_tables_exist

    # An organisation created while django-q's tables are migrated away (a migration test)
    # gets its schedule from the post_migrate sync instead.
    if schedule_tables_exist():
        integrity_schedule_sync(organization=organization)


def _unschedule_organization(organization) -> None:
    from .services.schedules import integrity_schedule_remove

    integrity_schedule_remove(organization=organization)


def _alert_on_backup(execution) -> None:
    from .services.backup_alerts import backup_execution_alert

    backup_execution_alert(execution=execution)


def _alert_on_drill(drill) -> None:
    from .services.backup_alerts import drill_alert

    drill_alert(drill=drill)


def _checks_for_drill(organization) -> list[dict]:
    from .services.backup_alerts import drill_checks

    return drill_checks(organization)


class IntegrityConfig(AppConfig):
    name = "integrity"
    verbose_name = "Data integrity"

    def ready(self):
        from backups.drills import on_drill_checks, on_drill_finished
        from backups.services.backup import on_backup_finished
        from organizations.models import register_settings_check
        from organizations.services import on_organization_created, on_organization_deleted

        from . import signals
        from .webhooks import webhook_settings_problem

        signals.connect(self)
        on_organization_created(_schedule_new_organization)
        on_organization_deleted(_unschedule_organization)
        on_backup_finished(_alert_on_backup)
        register_settings_check(webhook_settings_problem)
        on_drill_checks(_checks_for_drill)
        on_drill_finished(_alert_on_drill)
