"""Writes of the sources app: add and change sources (their schedules follow), confirm a
paused source, and run a sync inline or in the background."""

import csv
import io
import re

from croniter import croniter
from django.core.exceptions import ValidationError
from django.db import transaction
from django_q.models import Schedule

from organizations.access import Scope
from organizations.schedules import cron_schedule_sync
from properties.models import Project

from .models import DataSource, SyncRun
from .network import address_refusal
from .sync import run_claim, run_execute

PERMISSION_CHANGE = "sources.change_datasource"
PERMISSION_ADD = "sources.add_datasource"
SCHEDULED_TASK = "sources.tasks.source_scheduled_sync_task"


def source_clean(source: DataSource) -> None:
    """The checks a source passes at save: a public http(s) URL, a resource id for CKAN, a
    valid cron expression, overrides as a mapping of names."""
    errors = {}
    refusal = address_refusal(source.url)
    if refusal:
        errors["url"] = f"The URL cannot be used: {refusal}."
    if source.kind == DataSource.Kind.CKAN_DATASTORE and not source.resource_id.strip():
        errors["resource_id"] = "A CKAN datastore source needs the resource id."
    if source.schedule_cron and not croniter.is_valid(source.schedule_cron):
        errors["schedule_cron"] = f"{source.schedule_cron!r} is not a cron expression."
    overrides = source.column_overrides
    if not isinstance(overrides, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in overrides.items()
    ):
        errors["column_overrides"] = 'Give an object of names, e.g. {"prop_addr": "address"}.'
    if errors:
        raise ValidationError(errors)


def source_save(*, source: DataSource, actor) -> DataSource:
    """Create or change a source after its checks; its django-q2 schedule follows."""
    scope = Scope.of(actor)
    permission = PERMISSION_CHANGE if source.pk else PERMISSION_ADD
    organization_id = Project.objects.values_list("organization_id", flat=True).get(
        pk=source.project_id
    )
    scope.require(permission, organization=organization_id)
    source_clean(source)
    with transaction.atomic():
        if source.created_by_id is None and scope.actor is not None:
            source.created_by = scope.actor
        source.save()
        source_schedule_sync(source=source)
    return source


def source_create(
    *,
    actor,
    project: Project,
    kind: str,
    url: str,
    name: str = "",
    resource_id: str = "",
    schedule_cron: str = "",
    **fields,
) -> DataSource:
    if kind not in DataSource.Kind.values:
        raise ValidationError(f"kind must be one of {', '.join(DataSource.Kind.values)}.")
    source = DataSource(
        project=project,
        organization_id=project.organization_id,
        kind=kind,
        url=url,
        resource_id=resource_id,
        schedule_cron=schedule_cron,
        name=name or resource_id or url[:200],
        **fields,
    )
    return source_save(source=source, actor=actor)


def source_schedule_sync(*, source: DataSource, deleted: bool = False) -> Schedule | None:
    """The source's django-q2 schedule, derived from its cron: created, updated, or removed
    when the source is inactive, unscheduled or deleted."""
    return cron_schedule_sync(
        name=f"source-sync-{source.pk}",
        func=SCHEDULED_TASK,
        args=(source.pk,),
        cron=source.schedule_cron,
        wanted=source.active and bool(source.schedule_cron) and not deleted,
    )


def source_confirm(*, source: DataSource, actor) -> DataSource:
    """An admin accepts what paused the source: the new fields become the mapping, or (after
    the mass-delete guard) the next complete pass may mark the records vanished."""
    Scope.of(actor).require(PERMISSION_CHANGE, organization=source.organization_id)
    with transaction.atomic():
        source = DataSource.objects.select_for_update().get(pk=source.pk)
        if not source.paused:
            raise ValidationError("The source is not paused.")
        state = dict(source.state)
        if "pending_fields" in state:
            state["fields"] = state.pop("pending_fields")
            state.pop("mapped", None)  # recomputed from the accepted fields by the next run
        else:
            state["allow_mass_vanish"] = True
        source.state, source.paused, source.pause_message = state, False, ""
        source.save(update_fields=["state", "paused", "pause_message"])
    return source


def source_sync(
    *,
    source: DataSource,
    actor,
    trigger: str = SyncRun.Trigger.MANUAL,
    dry_run: bool = False,
    full: bool = False,
    sleep=None,
) -> SyncRun:
    """Run a sync now, in this process. A run already going for the source makes this one a
    recorded skip."""
    Scope.of(actor).require(PERMISSION_CHANGE, organization=source.organization_id)
    run = run_claim(source=source, trigger=trigger, actor=_user(actor), dry_run=dry_run, full=full)
    if run.status == SyncRun.Status.SKIPPED:
        return run
    return run_execute(run=run, actor=_user(actor), sleep=sleep)


def source_sync_start(*, source: DataSource, actor, trigger: str = SyncRun.Trigger.MANUAL):
    """Queue a sync as a django-q2 task (after the current transaction commits)."""
    from .tasks import enqueue_source_sync

    Scope.of(actor).require(PERMISSION_CHANGE, organization=source.organization_id)
    enqueue_source_sync(
        source_id=source.pk, actor_id=getattr(_user(actor), "pk", None), trigger=trigger
    )


def _user(actor):
    return actor.actor if isinstance(actor, Scope) else actor


_PLAIN_NUMBER = re.compile(r"\s*[+-]?[\d.,]+(?:[eE][+-]?\d+)?\s*")


def run_rejected_csv(*, run: SyncRun) -> str:
    """The run's rejected records with their errors, and the records it kept with a warning
    (their errors empty), as CSV text (formulas neutralised), as an import's report has them."""
    from properties.resources import neutralise_formula

    def cell(value):
        # A plain number such as a negative latitude stays as it is, as in an import's report.
        text = value or ""
        return text if _PLAIN_NUMBER.fullmatch(text) else neutralise_formula(text)

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    records = list(run.rejected_records.order_by("id"))
    headers = [name for name in (run.details or {}).get("headers", []) if isinstance(name, str)]
    for record in records:
        headers.extend(name for name in record.values if name not in headers)
    writer.writerow([*headers, "record", "errors", "warnings"])
    for record in records:
        cells = [cell(record.values.get(name)) for name in headers]
        writer.writerow(
            [*cells, record.number, "; ".join(record.errors), "; ".join(record.warnings)]
        )
    return buffer.getvalue()
