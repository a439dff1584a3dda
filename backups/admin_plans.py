"""Restore plans in the admin, shared by the backups, recovery point and restore admins: the
options chosen, the dry run queued as a task, and the plan it found, as the plan page shows it."""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse

from organizations.tenancy import scope_of

from .archive import spec_for
from .models import RestoreExecution
from .services.permissions import BackupRefused
from .services.queued import restore_queue

PLAN_KEYS = ("inserted", "updated", "deleted", "skipped", "renamed")


def restore_options(data) -> dict:
    """The strategy, tables and conflict policy chosen on a restore form."""
    strategy = data.get("strategy") or RestoreExecution.Strategy.REPLACE_ALL
    return {
        "strategy": strategy,
        "tables": [name for name in data.getlist("tables") if name] or None,
        "conflict": data.get("conflict") or None,
    }


def plan_url(restore: RestoreExecution) -> str:
    return reverse("admin:backups_restoreexecution_plan", args=[restore.pk])


def plan_start(model_admin, request, *, organization, **options) -> HttpResponseRedirect:
    """Queues the dry run of a restore of `organization` and opens its plan page, which
    refreshes itself until the plan is ready. A superuser sees any organisation's plan; only
    the restore itself asks them to confirm acting outside their own."""
    try:
        plan = restore_queue(
            organization=organization,
            actor=request.user,
            dry_run=True,
            allow_cross_org=scope_of(request).sees_all,
            **options,
        )
    except BackupRefused as exc:
        model_admin.message_user(request, f"Restore refused: {exc.messages[0]}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())
    return HttpResponseRedirect(plan_url(plan))


def restore_plan_context(plan: RestoreExecution) -> dict:
    """Per table what the restore would insert, update, delete, skip and rename, with totals,
    and the sampled conflicting rows field by field."""
    rows = [
        {
            "table": spec_for(table).model._meta.verbose_name_plural,
            **{key: counts.get(key, 0) for key in PLAN_KEYS},
        }
        for table, counts in (plan.counts or {}).items()
    ]
    conflicts = [
        {"table": spec_for(table).model._meta.verbose_name_plural, "rows": samples}
        for table, samples in (plan.report or {}).get("conflicts", {}).items()
    ]
    return {
        "plan": rows,
        "totals": {key: sum(row[key] for row in rows) for key in PLAN_KEYS},
        "conflicts": conflicts,
        "merging": bool(plan.conflict_policy),
    }
