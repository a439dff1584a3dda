"""Schema drift quarantines; vanished records by policy behind the mass-delete guard."""

import pytest

from properties.models import Property, Status
from sources.models import DataSource, SourceRecord, SyncRun
from sources.services import source_confirm

from .helpers import ckan_source, history_reasons, sync
from .portal import FIELDS, make_record


def _without(name):
    return [f for f in FIELDS if f["id"] != name]


def _records_without(name, numbers):
    return [{k: v for k, v in make_record(n).items() if k != name} for n in numbers]


def twenty_synced(tenants, project, portal, *, on_vanish):
    """A CKAN source of twenty records with the vanish policy `on_vanish`, synced once."""
    portal.load([make_record(n) for n in range(1, 21)])
    source = ckan_source(actor=tenants.admin, project=project, portal=portal, on_vanish=on_vanish)
    sync(source, tenants.admin)
    return source


@pytest.mark.django_db
class TestSchemaDrift:
    def test_a_new_field_is_recorded_and_ignored(self, tenants, project, portal):
        portal.load([make_record(n) for n in range(1, 6)])
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)
        sync(source, tenants.admin)
        portal.load(
            [make_record(n, heritage_overlay="HO12") for n in range(1, 6)],
            fields=[*FIELDS, {"id": "heritage_overlay", "type": "text"}],
        )

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.COMPLETED
        assert run.details["new_fields"] == ["heritage_overlay"]
        assert run.unchanged == 5
        assert "heritage_overlay" in source.state["fields"]

    def test_a_missing_mapped_field_quarantines_and_pauses_until_confirmed(
        self, tenants, project, portal
    ):
        portal.load([make_record(n) for n in range(1, 6)])
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)
        sync(source, tenants.admin)
        portal.load(_records_without("valuation", range(1, 8)), fields=_without("valuation"))

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.QUARANTINED
        assert "mapped field 'valuation' (estimatedvalue) is gone" in run.error
        assert (run.created, run.updated) == (0, 0)
        assert Property.objects.count() == 5
        assert source.paused and "Confirm the new mapping" in source.pause_message
        assert sync(source, tenants.admin).status == SyncRun.Status.SKIPPED

        source_confirm(source=source, actor=tenants.admin)
        resumed = sync(source, tenants.admin)

        assert resumed.status == SyncRun.Status.COMPLETED, resumed.error
        assert resumed.created == 2
        # Merged: the value the source no longer carries stays on the property.
        assert (
            Property.objects.get(external_id="PFI0000001").financial_metrics["estimated_value"]
            == 650_010
        )

    def test_a_breaking_type_change_quarantines(self, tenants, project, portal):
        portal.load([make_record(n) for n in range(1, 4)])
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)
        sync(source, tenants.admin)
        fields = [dict(f, type="text") if f["id"] == "valuation" else f for f in FIELDS]
        portal.load([make_record(n, valuation="see notes") for n in range(1, 4)], fields=fields)

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.QUARANTINED
        assert "'valuation' (estimatedvalue) changed type from numeric to text" in run.error
        assert not Property.objects.filter(financial_metrics__estimated_value="see notes").exists()

    def test_a_first_run_without_a_required_column_is_quarantined(self, tenants, project, portal):
        portal.load(_records_without("locality", [1, 2]), fields=_without("locality"))
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.QUARANTINED
        assert "required column(s) not found: suburb" in run.error
        assert not Property.objects.exists()


@pytest.mark.django_db
class TestVanished:
    @pytest.mark.parametrize(
        ("policy", "status"),
        [
            (DataSource.OnVanish.ARCHIVE, Status.ARCHIVED),
            (DataSource.OnVanish.MARK_DELETED, Status.DELETED),
            (DataSource.OnVanish.IGNORE, Status.ACTIVE),
        ],
    )
    def test_records_missing_from_a_complete_pass_follow_the_policy(
        self, tenants, project, portal, policy, status
    ):
        source = twenty_synced(tenants, project, portal, on_vanish=policy)
        portal.load([make_record(n) for n in range(1, 21) if n != 13])

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.COMPLETED
        assert (run.vanished, run.unchanged) == (1, 19)
        assert Property.objects.get(external_id="PFI0000013").status == status
        assert SourceRecord.objects.get(key="PFI0000013").vanished_run_id == run.pk
        changed_by_run = history_reasons(project).count(f"sync {run.pk}")
        assert changed_by_run == (0 if policy == DataSource.OnVanish.IGNORE else 1)

    def test_a_record_that_comes_back_is_no_longer_vanished(self, tenants, project, portal):
        source = twenty_synced(tenants, project, portal, on_vanish=DataSource.OnVanish.ARCHIVE)
        portal.load([make_record(n) for n in range(1, 21) if n != 13])
        sync(source, tenants.admin)
        portal.load([make_record(n) for n in range(1, 21)])

        run = sync(source, tenants.admin)

        assert run.vanished == 0
        assert SourceRecord.objects.get(key="PFI0000013").vanished_run_id is None
        assert Property.objects.get(external_id="PFI0000013").status == Status.ACTIVE
        assert history_reasons(project)[-1] == f"sync {run.pk}"

    def test_mass_delete_guard_stops_before_writing_and_pauses(self, tenants, project, portal):
        source = twenty_synced(tenants, project, portal, on_vanish=DataSource.OnVanish.MARK_DELETED)
        history = len(history_reasons(project))
        # A truncated export: 15 of 20 records gone, one of the rest changed.
        portal.load([make_record(n, valuation=700_000 + n) for n in range(1, 6)])

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.GUARDED
        assert "15 of 20 known records (75%) would vanish" in run.error
        assert source.paused and "Mass-delete guard" in source.pause_message
        assert (run.updated, run.vanished) == (0, 0)
        assert len(history_reasons(project)) == history
        assert Property.objects.filter(status=Status.ACTIVE).count() == 20

        source_confirm(source=source, actor=tenants.admin)
        allowed = sync(source, tenants.admin)

        assert allowed.status == SyncRun.Status.COMPLETED, allowed.error
        assert (allowed.updated, allowed.vanished) == (5, 15)
        assert Property.objects.filter(status=Status.DELETED).count() == 15
        assert "allow_mass_vanish" not in source.state

    def test_the_guard_share_is_a_setting(self, tenants, project, portal, settings):
        settings.SYNC_MASS_DELETE_SHARE = 0.5
        portal.load([make_record(n) for n in range(1, 11)])
        source = ckan_source(
            actor=tenants.admin,
            project=project,
            portal=portal,
            on_vanish=DataSource.OnVanish.ARCHIVE,
        )
        sync(source, tenants.admin)
        portal.load([make_record(n) for n in range(1, 7)])

        run = sync(source, tenants.admin)

        assert (run.status, run.vanished) == (SyncRun.Status.COMPLETED, 4)
