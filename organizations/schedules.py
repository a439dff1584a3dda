"""The django-q2 schedule a row keeps in step with its cron expression (a backup configuration,
an open-data source): one place that knows how such a schedule is stored."""

from django_q.models import Schedule


def cron_schedule_sync(*, name: str, func: str, args: tuple, cron: str, wanted: bool):
    """The schedule `name` that calls `func(*args)` on `cron`, created or updated while
    `wanted`, removed otherwise; returns it, or None once removed."""
    if not wanted:
        Schedule.objects.filter(name=name).delete()
        return None
    schedule, _ = Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": func,
            "args": repr(args),
            "schedule_type": Schedule.CRON,
            "cron": cron,
            "repeats": -1,
        },
    )
    return schedule
