"""undo_run: an import job or a sync run put back from history, with conflicts."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from properties.models import Property, Status
from sources.models import DataSource, SourceRecord
from sources.undo import undo_run
from tests.imports.conftest import csv_bytes, run_import, valid_row

from .helpers import ckan_source, history_reasons, sync
from .portal import make_record


@pytest.fixture
def two_syncs(tenants, project, portal):
    """A first sync of 10 records, then one that revalues PFI 2 and drops PFI 9 (archived)."""
    portal.load([make_record(n) for n in range(1, 11)])
    source = ckan_source(
        actor=tenants.admin, project=project, portal=portal, on_vanish=DataSource.OnVanish.ARCHIVE
    )
    first = sync(source, tenants.admin)
    portal.load(
        [
            make_record(n, valuation=1_111_000) if n == 2 else make_record(n)
            for n in range(1, 11)
            if n != 9
        ]
    )
    second = sync(source, tenants.admin)
    assert (second.updated, second.vanished) == (1, 1)
    return source, first, second


@pytest.mark.django_db
class TestUndoSync:
    def test_dry_run_plans_and_changes_nothing(self, tenants, two_syncs):
        _, _, second = two_syncs

        plan = undo_run(target=f"sync:{second.pk}", actor=tenants.admin, dry_run=True)

        assert (len(plan.delete), len(plan.restore), plan.conflicts) == (0, 2, [])
        assert not plan.done
        assert Property.objects.get(external_id="PFI0000009").status == Status.ARCHIVED

    def test_undo_puts_changed_and_archived_properties_back(self, tenants, project, two_syncs):
        source, _, second = two_syncs

        plan = undo_run(target=f"sync:{second.pk}", actor=tenants.admin)

        assert plan.done and len(plan.restore) == 2
        assert (
            Property.objects.get(external_id="PFI0000002").financial_metrics["estimated_value"]
            == 650_020
        )
        assert Property.objects.get(external_id="PFI0000009").status == Status.ACTIVE
        assert history_reasons(project)[-2:] == [f"undo sync {second.pk}"] * 2
        assert SourceRecord.objects.get(key="PFI0000009").vanished_run is None
        with pytest.raises(ValidationError, match="undone already"):
            undo_run(target=f"sync:{second.pk}", actor=tenants.admin)

    def test_a_property_edited_since_is_a_conflict_unless_forced(self, tenants, two_syncs):
        _, first, _ = two_syncs
        edited = Property.objects.get(external_id="PFI0000005")
        edited.basic_info = {**edited.basic_info, "description": "checked on site"}
        edited.save()

        ids = dict(Property.objects.values_list("external_id", "pk"))

        plan = undo_run(target=f"sync:{first.pk}", actor=tenants.admin)

        # PFI 2 and 9 were changed by the second sync: conflicts of the first as well.
        assert plan.conflicts == sorted(ids[f"PFI000000{n}"] for n in (2, 5, 9))
        assert len(plan.delete) == 7
        assert set(Property.objects.values_list("external_id", flat=True)) == {
            "PFI0000002",
            "PFI0000005",
            "PFI0000009",
        }

    def test_force_undoes_conflicts_too(self, tenants, two_syncs):
        _, first, _ = two_syncs
        edited = Property.objects.get(external_id="PFI0000005")
        edited.basic_info = {**edited.basic_info, "description": "checked on site"}
        edited.save()

        plan = undo_run(target=f"sync:{first.pk}", actor=tenants.admin, force=True)

        assert (len(plan.delete), plan.conflicts) == (10, [])
        assert not Property.objects.exists()

    def test_outsider_cannot_undo(self, tenants, two_syncs):
        _, _, second = two_syncs
        with pytest.raises(ValidationError, match="No sync with id"):
            undo_run(target=f"sync:{second.pk}", actor=tenants.outsider)
        assert Property.objects.get(external_id="PFI0000009").status == Status.ARCHIVED


@pytest.mark.django_db
class TestUndoImport:
    def test_undo_of_an_import_deletes_what_it_created_and_restores_what_it_updated(self, project):
        run_import(project, csv_bytes(valid_row(1), valid_row(2)))
        second = run_import(
            project,
            csv_bytes(valid_row(2, value="990000"), valid_row(3)),
            on_duplicate="update",
        )
        assert (second.created_count, second.updated_count) == (1, 1)

        out = io.StringIO()
        call_command("undo_run", f"import:{second.pk}", stdout=out)

        assert out.getvalue().strip() == (
            f"undo=import:{second.pk} status=done deleted=1 restored=1 conflicts=0 "
            "conflict_ids=none"
        )
        assert set(Property.objects.values_list("external_id", flat=True)) == {"P-0001", "P-0002"}
        assert (
            Property.objects.get(external_id="P-0002").financial_metrics["estimated_value"]
            == 800_002
        )

    def test_the_command_refuses_a_bad_target(self, db):
        with pytest.raises(CommandError, match="status=refused"):
            call_command("undo_run", "backup:3", stdout=io.StringIO())
        with pytest.raises(CommandError, match="No import with id 999"):
            call_command("undo_run", "import:999", stdout=io.StringIO())
