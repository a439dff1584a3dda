"""How a sync writes records the source never sent before: straight through the writer's
create (COPY on PostgreSQL) with their provenance, unless the project already holds some of
their ids (then they are merged), and with the upsert should a provenance row exist after all.
Outsiders see no provenance."""

import pytest
from django.db import transaction

from properties.models import Property
from sources.ingest import column_map
from sources.models import SourceRecord, SyncRun
from sources.records import RecordApplier
from sources.selectors import property_provenance
from sources.sync import run_claim

from .helpers import ckan_source, history_reasons, sync
from .portal import FIELDS, OVERRIDES, make_record

pytestmark = pytest.mark.django_db

NAMES = [field["id"] for field in FIELDS]
#: The forked validators' page size (the `validation` fixture).
FORKED_PAGE_SIZE = 3


def test_ids_the_project_holds_already_are_merged_and_the_rest_created(
    tenants, project, portal, validation
):
    # Imported from a file before the source existed: one as the source has it, one older.
    Property.objects.create(
        project=project,
        external_id="PFI0000002",
        basic_info={"address": "Old address 2", "suburb": "Richmond", "postcode": "3121"},
    )
    portal.load([make_record(n) for n in range(1, 6)])
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)

    run = sync(source, tenants.admin)

    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert (run.created, run.updated, run.unchanged) == (4, 1, 0)
    merged = Property.objects.get(external_id="PFI0000002")
    assert merged.basic_info["address"] == "2 Swan Street"
    assert Property.objects.filter(project=project).count() == 5
    assert history_reasons(project).count(f"sync {run.pk}") == 5
    records = SourceRecord.objects.filter(source=source)
    assert {record.key: record.property_id for record in records} == dict(
        Property.objects.filter(project=project).values_list("external_id", "pk")
    )
    assert {record.first_run_id for record in records} == {run.pk}


def test_a_provenance_row_recorded_meanwhile_is_refreshed_not_duplicated(tenants, project, portal):
    portal.load([make_record(1), make_record(2)])
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)
    run = run_claim(
        source=source, trigger="command", actor=tenants.admin, dry_run=False, full=False
    )
    applier = RecordApplier(
        run=run, cmap=column_map(NAMES, OVERRIDES), actor=tenants.admin, dry_run=False
    )
    # Written after the applier read the source's provenance: its COPY meets the unique key.
    SourceRecord.objects.create(
        organization=source.organization,
        source=source,
        key="PFI0000002",
        sha256="0" * 64,
        first_run=run,
        changed_run=run,
    )
    items = [(n, [make_record(n)[name] for name in NAMES], "") for n in (1, 2)]

    with transaction.atomic():
        counts = applier.apply(items)

    assert (counts.created, counts.rejected) == (2, 0)
    records = SourceRecord.objects.filter(source=source).order_by("key")
    assert [record.key for record in records] == ["PFI0000001", "PFI0000002"]
    assert all(record.property_id and record.sha256 != "0" * 64 for record in records)


def test_an_outsider_sees_no_provenance(tenants, project, portal):
    portal.load([make_record(1)])
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)
    sync(source, tenants.admin)
    prop = Property.objects.get(external_id="PFI0000001")

    assert property_provenance(actor=tenants.admin, property_id=prop.pk).count() == 1
    assert not property_provenance(actor=tenants.outsider, property_id=prop.pk).exists()


def test_deletes_clean_provenance_up_without_database_constraints(tenants, project, portal):
    # Migration 0003 dropped the provenance rows' database key checks: Django's on-delete rules
    # must still leave no record pointing at a property or a source that is gone.
    portal.load([make_record(n) for n in range(1, 4)])
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)
    run = sync(source, tenants.admin)
    assert run.status == SyncRun.Status.COMPLETED, run.error
    gone = Property.objects.get(project=project, external_id="PFI0000001")

    gone.delete()

    record = SourceRecord.objects.get(source=source, key="PFI0000001")
    assert record.property_id is None
    assert SourceRecord.objects.filter(source=source, property__isnull=False).count() == 2

    assert len(property_provenance(property_id=kept_id(project), actor=tenants.admin)) == 1
    assert list(property_provenance(property_id=kept_id(project), actor=tenants.outsider)) == []
    source.delete()

    assert not SourceRecord.objects.filter(source_id=source.pk).exists()
    assert not SyncRun.objects.filter(source_id=source.pk).exists()


def kept_id(project) -> int:
    return Property.objects.filter(project=project).values_list("pk", flat=True).first()
