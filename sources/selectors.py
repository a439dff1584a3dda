"""Reads of the sources app, always within the actor's scope."""

from organizations.access import Scope

from .models import DataSource, SourceRecord, SyncRun


def source_list(*, actor):
    return Scope.of(actor).filter(DataSource.objects.select_related("project"))


def source_get(*, actor, pk: int) -> DataSource:
    return Scope.of(actor).get(DataSource.objects.select_related("project"), pk=pk)


def run_list(*, actor, source: DataSource | None = None):
    runs = Scope.of(actor).filter(SyncRun.objects.select_related("source"))
    return runs.filter(source=source) if source is not None else runs


def run_get(*, actor, pk: int) -> SyncRun:
    return Scope.of(actor).get(SyncRun.objects.select_related("source__project"), pk=pk)


def property_provenance(*, actor, property_id: int):
    """Where a property came from: the source records that fed it, newest run first."""
    return (
        Scope.of(actor)
        .filter(SourceRecord.objects.select_related("source", "first_run", "changed_run"))
        .filter(property_id=property_id)
        .order_by("-changed_run_id")
    )
