"""Undo an import job or a sync run from history: every property it created is deleted,
every property it changed (or archived, or marked deleted) gets back its state from just
before the run, in one transaction. A property edited after the run is a conflict, listed and
left alone unless forced. The undo's own history rows carry `undo <import|sync> <id>`.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from imports.models import ImportJob
from organizations.access import Scope
from organizations.locks import organization_lock
from properties.models import Property

from .models import SourceRecord, SyncRun

RESTORED_FIELDS = (
    "external_id",
    "basic_info",
    "planning_controls",
    "environmental_factors",
    "financial_metrics",
    "spatial_attributes",
    "status",
)
PERMISSION = "properties.delete_property"


@dataclass
class UndoPlan:
    target: str
    organization_id: int
    delete: list = field(default_factory=list)  # property ids the run created
    restore: dict = field(default_factory=dict)  # property id -> historical row before the run
    conflicts: list = field(default_factory=list)  # property ids edited since the run
    done: bool = False

    def summary(self) -> str:
        status = "done" if self.done else "planned"
        conflicts = ",".join(map(str, self.conflicts[:20])) or "none"
        return (
            f"undo={self.target} status={status} deleted={len(self.delete)} "
            f"restored={len(self.restore)} conflicts={len(self.conflicts)} "
            f"conflict_ids={conflicts}"
        )


def parse_target(target: str) -> tuple[str, int]:
    kind, _, number = (target or "").partition(":")
    if kind not in ("import", "sync") or not number.isdigit():
        raise ValidationError(f"{target!r} is not import:<id> or sync:<id>.")
    return kind, int(number)


def _organization_of(kind: str, pk: int, scope: Scope) -> int:
    model = ImportJob if kind == "import" else SyncRun
    try:
        return scope.get(model.objects.all(), pk=pk).organization_id
    except model.DoesNotExist:
        raise ValidationError(f"No {kind} with id {pk}.") from None


def undo_plan(*, target: str, actor, force: bool = False) -> UndoPlan:
    kind, pk = parse_target(target)
    scope = Scope.of(actor)
    organization_id = _organization_of(kind, pk, scope)
    scope.require(PERMISSION, organization=organization_id)
    reason = f"{kind} {pk}"
    history = Property.history.model.objects.filter(organization_id=organization_id)
    if history.filter(history_change_reason=f"undo {reason}").exists():
        raise ValidationError(f"{kind}:{pk} has been undone already.")
    plan = UndoPlan(target=f"{kind}:{pk}", organization_id=organization_id)
    first_of_run: dict[int, tuple[int, str]] = {}
    last_of_run: dict[int, int] = {}
    for history_id, prop_id, kind_of_change in (
        history.filter(history_change_reason=reason)
        .order_by("history_id")
        .values_list("history_id", "id", "history_type")
    ):
        first_of_run.setdefault(prop_id, (history_id, kind_of_change))
        last_of_run[prop_id] = history_id
    if not first_of_run:
        return plan
    latest = _latest_history(history, list(first_of_run))
    for prop_id, (first_id, kind_of_change) in first_of_run.items():
        if latest.get(prop_id, last_of_run[prop_id]) != last_of_run[prop_id] and not force:
            plan.conflicts.append(prop_id)
        elif kind_of_change == "+":
            plan.delete.append(prop_id)
        else:
            before = (
                history.filter(id=prop_id, history_id__lt=first_id).order_by("-history_id").first()
            )
            if before is not None:
                plan.restore[prop_id] = before
    plan.conflicts.sort()
    return plan


def _latest_history(history, property_ids: list[int]) -> dict[int, int]:
    from django.db.models import Max

    latest = {}
    for start in range(0, len(property_ids), 900):
        chunk = property_ids[start : start + 900]
        latest.update(
            history.filter(id__in=chunk)
            .values("id")
            .annotate(last=Max("history_id"))
            .values_list("id", "last")
        )
    return latest


def undo_run(*, target: str, actor, dry_run: bool = False, force: bool = False) -> UndoPlan:
    """The plan (dry run), or the plan carried out in one transaction."""
    plan = undo_plan(target=target, actor=actor, force=force)
    if dry_run:
        return plan
    reason = f"undo {plan.target.replace(':', ' ')}"
    user = Scope.of(actor).actor
    with transaction.atomic():
        organization_lock(plan.organization_id)
        for prop in Property.objects.filter(pk__in=plan.delete):
            prop._change_reason = reason
            prop._history_user = user
            prop.delete()
        for prop in Property.objects.filter(pk__in=list(plan.restore)):
            before = plan.restore[prop.pk]
            for name in RESTORED_FIELDS:
                setattr(prop, name, getattr(before, name))
            prop._change_reason = reason
            prop._history_user = user
            prop.save()
        if plan.target.startswith("sync:"):
            _forget_provenance(int(plan.target.split(":")[1]))
        plan.done = True
    return plan


def _forget_provenance(run_id: int) -> None:
    """The run's records are re-evaluated by the next sync (their digests no longer describe
    what the properties hold), and what it marked vanished is present again. Looked up within
    the run's source, which the (source, key) index serves: the run columns have no index."""
    records = SourceRecord.objects.filter(source_id=SyncRun.objects.get(pk=run_id).source_id)
    records.filter(changed_run_id=run_id).update(sha256="", raw_digest="")
    records.filter(vanished_run_id=run_id).update(vanished_run=None)
