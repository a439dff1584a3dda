"""The restore confirmation pages' options and plan, shared by the backups and recovery point
admins."""

from .archive import spec_for
from .models import RestoreExecution


def restore_options(data) -> dict:
    """The strategy, tables and conflict policy chosen on the confirmation page."""
    strategy = data.get("strategy") or RestoreExecution.Strategy.REPLACE_ALL
    return {
        "strategy": strategy,
        "tables": [name for name in data.getlist("tables") if name] or None,
        "conflict": data.get("conflict") or None,
    }


def restore_plan_context(preview: RestoreExecution) -> dict:
    keys = ["inserted", "updated", "deleted", "skipped", "renamed"]
    rows = [
        {
            "table": spec_for(table).model._meta.verbose_name_plural,
            **{key: counts.get(key, 0) for key in keys},
        }
        for table, counts in preview.counts.items()
    ]
    conflicts = [
        {"table": spec_for(table).model._meta.verbose_name_plural, "rows": samples}
        for table, samples in (preview.report or {}).get("conflicts", {}).items()
    ]
    return {
        "plan": rows,
        "totals": {key: sum(row[key] for row in rows) for key in keys},
        "conflicts": conflicts,
        "merging": bool(preview.conflict_policy),
    }
