"""The integrity app's django-q2 schedules, derived from the organisations table: one daily
check per organisation and one hourly backup watch. Never created by hand."""

from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django_q.models import Schedule

from organizations.models import Organization

SCHEDULE_PREFIX = "integrity-check:"
BACKUP_WATCH_SCHEDULE = "integrity-backup-watch"
CHECK_TASK = "integrity.tasks.integrity_check_task"
#: Daily runs start at this UTC hour, spread over the following two hours by organisation so
#: that every organisation's checks do not hit the database at the same minute.
SCHEDULE_HOUR_UTC = 2


def _first_run(organization: Organization, now: datetime) -> datetime:
    offset = timedelta(hours=SCHEDULE_HOUR_UTC, minutes=(organization.pk * 17) % 120)
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = midnight + offset
    return first if first > now else first + timedelta(days=1)


def integrity_schedule_sync(*, organization: Organization) -> Schedule:
    """The organisation's daily integrity schedule, created when missing. An existing schedule
    keeps its next run, so syncing again never shifts or doubles it."""
    expected = {
        "func": CHECK_TASK,
        "kwargs": f"organization_id={organization.pk}",
        "schedule_type": Schedule.DAILY,
        "repeats": -1,
    }
    schedule, created = Schedule.objects.get_or_create(
        name=f"{SCHEDULE_PREFIX}{organization.pk}",
        defaults={**expected, "next_run": _first_run(organization, timezone.now())},
    )
    if not created and any(getattr(schedule, key) != value for key, value in expected.items()):
        for key, value in expected.items():
            setattr(schedule, key, value)
        schedule.save()
    return schedule


def integrity_schedule_remove(*, organization: Organization) -> None:
    """An organisation that is deleted is no longer checked."""
    Schedule.objects.filter(name=f"{SCHEDULE_PREFIX}{organization.pk}").delete()


def integrity_schedules_sync() -> dict:
    """One daily schedule per organisation and one hourly backup watch, derived from the
    organisations table; schedules of organisations that no longer exist are removed."""
    with transaction.atomic():
        organizations = list(Organization.objects.all())
        for organization in organizations:
            integrity_schedule_sync(organization=organization)
        wanted = {f"{SCHEDULE_PREFIX}{organization.pk}" for organization in organizations}
        stale = Schedule.objects.filter(name__startswith=SCHEDULE_PREFIX).exclude(name__in=wanted)
        removed = stale.count()
        stale.delete()
        Schedule.objects.update_or_create(
            name=BACKUP_WATCH_SCHEDULE,
            defaults={
                "func": "integrity.tasks.backup_watch_task",
                "schedule_type": Schedule.HOURLY,
                "repeats": -1,
            },
        )
    return {"organizations": len(organizations), "removed": removed}


def schedule_tables_exist(using: str = "default") -> bool:
    tables = set(connection.introspection.table_names())
    return {Schedule._meta.db_table, Organization._meta.db_table} <= tables
