"""Merge restores with each conflict policy, and selective restores of chosen tables."""

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backups.models import BackupExecution, RestoreExecution
from backups.services.backup import backup_create
from backups.services.permissions import BackupRefused
from backups.services.restore import backup_restore
from properties.models import Project, Property, PropertyAnalysis
from tests.factories import ProjectFactory, PropertyAnalysisFactory, PropertyFactory

from .helpers import org_rows

pytestmark = pytest.mark.django_db


def _backup(tenants):
    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    assert backup.status == BackupExecution.Status.COMPLETED, backup.error_message
    return backup


def _restore(tenants, backup, **kwargs):
    return backup_restore(
        backup=backup, organization=tenants.owner_org, actor=tenants.manager, **kwargs
    )


@pytest.fixture
def diverged(tenants, estate):
    """A backup, then: a property edited (a conflict), one deleted (only in the backup), one
    added (only in the database)."""
    backup = _backup(tenants)
    edited, deleted = estate.properties[1], estate.properties[2]
    backed_up_address = edited.basic_info["address"]
    edited.basic_info = {**edited.basic_info, "address": "7 Edited Rd"}
    edited.save()
    deleted_id = deleted.pk
    deleted.delete()
    added = PropertyFactory(project=estate.project)
    return backup, edited, deleted_id, added, backed_up_address


def test_merge_skip_brings_back_missing_rows_and_keeps_the_databases_versions(tenants, diverged):
    backup, edited, deleted_id, added, _ = diverged
    other_before = org_rows(tenants.other_org)

    restore = _restore(tenants, backup, strategy="merge", conflict="skip")

    counts = restore.counts["properties_property"]
    assert (counts["inserted"], counts["skipped"], counts["deleted"]) == (1, 1, 0)
    assert Property.objects.filter(pk=deleted_id).exists()
    edited.refresh_from_db()
    assert edited.basic_info["address"] == "7 Edited Rd"
    assert Property.objects.filter(pk=added.pk).exists()
    assert org_rows(tenants.other_org) == other_before
    assert Property.history.filter(id=deleted_id, history_change_reason=f"restore {restore.pk}")


def test_merge_overwrite_takes_the_backups_version(tenants, diverged):
    backup, edited, deleted_id, added, backed_up_address = diverged

    restore = _restore(tenants, backup, strategy="merge", conflict="overwrite")

    assert restore.counts["properties_property"]["updated"] == 1
    edited.refresh_from_db()
    assert edited.basic_info["address"] == backed_up_address
    assert Property.objects.filter(pk__in=[deleted_id, added.pk]).count() == 2


def test_merge_rename_keeps_both_versions_and_lists_the_renamed_row(tenants, diverged):
    backup, edited, _, _, backed_up_address = diverged

    restore = _restore(tenants, backup, strategy="merge", conflict="rename")

    edited.refresh_from_db()
    assert edited.basic_info["address"] == "7 Edited Rd"
    [renamed] = restore.report["renamed"]["properties_property"]
    copy = Property.objects.get(pk=renamed["new_id"])
    assert copy.pk != edited.pk
    assert copy.external_id == f"{edited.external_id}-restored-{restore.pk}"
    assert renamed["external_id"] == copy.external_id
    assert copy.basic_info["address"] == backed_up_address
    assert restore.counts["properties_property"]["renamed"] == 1


def test_merge_rename_of_an_analysis_inserts_the_backups_version_as_a_new_row(tenants, estate):
    backup = _backup(tenants)
    analysis = estate.analysis
    analysis.status = "failed"
    analysis.save()
    other_before = org_rows(tenants.other_org)

    restore = _restore(tenants, backup, strategy="merge", conflict="rename")

    # An analysis has no name to suffix: the backup's version comes back beside the edited one.
    [renamed] = restore.report["renamed"]["properties_propertyanalysis"]
    assert renamed["backup_id"] == analysis.pk and renamed["new_id"] != analysis.pk
    copy = PropertyAnalysis.objects.get(pk=renamed["new_id"])
    assert (copy.property_id, copy.status, copy.results) == (
        analysis.property_id,
        "pending",
        {"score": 0.5},
    )
    analysis.refresh_from_db()
    assert analysis.status == "failed"
    assert restore.counts["properties_propertyanalysis"]["renamed"] == 1
    assert PropertyAnalysis.history.filter(
        id=copy.pk, history_type="+", history_change_reason=f"restore {restore.pk}"
    ).exists()
    assert org_rows(tenants.other_org) == other_before


def test_the_dry_run_plan_samples_conflicts_field_by_field_and_changes_nothing(tenants, diverged):
    backup, edited, deleted_id, _, backed_up_address = diverged
    before = org_rows(tenants.owner_org)

    restore = _restore(tenants, backup, strategy="merge", conflict="overwrite", dry_run=True)

    assert org_rows(tenants.owner_org) == before
    [sample] = restore.report["conflicts"]["properties_property"]
    assert sample["id"] == edited.pk
    assert {"field": "basic_info.address", "old": "7 Edited Rd", "new": backed_up_address} in (
        sample["changes"]
    )
    assert not any(change["field"] == "updated_at" for change in sample["changes"])


def test_a_property_whose_external_id_was_taken_conflicts_by_key(tenants, estate):
    backup = _backup(tenants)
    original = estate.properties[0]
    external_id, project = original.external_id, original.project
    original.delete()
    successor = PropertyFactory(project=project, external_id=external_id)

    analysis_id = estate.analysis.pk
    skipped = _restore(tenants, backup, strategy="merge", conflict="skip")
    assert skipped.counts["properties_property"]["skipped"] == 1
    assert Property.objects.filter(project=project, external_id=external_id).get() == successor
    # Its analysis points at the property that did not come back: left out with it, listed.
    assert skipped.counts["properties_propertyanalysis"]["skipped"] == 1
    assert skipped.report["skipped_with_parent"]["properties_propertyanalysis"] == [analysis_id]
    assert not PropertyAnalysis.objects.filter(pk=analysis_id).exists()
    # Restored on its own, the analysis would dangle: refused.
    with pytest.raises(BackupRefused, match="properties_propertyanalysis row"):
        _restore(
            tenants,
            backup,
            strategy="selective",
            tables=["properties_propertyanalysis"],
            conflict="skip",
        )

    renamed = _restore(tenants, backup, strategy="merge", conflict="rename")
    assert renamed.counts["properties_property"]["renamed"] == 1
    assert Property.objects.filter(external_id=f"{external_id}-restored-{renamed.pk}").exists()


def test_a_selective_restore_touches_only_its_tables(tenants, estate):
    backup = _backup(tenants)
    estate.project.name = "Renamed since"
    estate.project.save()
    estate.spare.status = "archived"
    estate.spare.save()
    estate.analysis.results = {"score": 0.1}
    estate.analysis.save()

    restore = _restore(tenants, backup, strategy="selective", tables=["properties_project"])

    assert set(restore.counts) == {"properties_project"}
    assert Project.objects.get(pk=estate.project.pk).name == "Richmond"
    assert Property.objects.get(pk=estate.spare.pk).status == "archived"
    assert PropertyAnalysis.objects.get(pk=estate.analysis.pk).results == {"score": 0.1}


def test_a_selective_restore_that_would_break_a_reference_is_refused(tenants, estate):
    backup = _backup(tenants)
    newcomer = PropertyFactory(project=estate.project)
    PropertyAnalysisFactory(property=newcomer)
    before = org_rows(tenants.owner_org)

    # Replacing the properties would delete the newcomer, which a kept analysis points at.
    with pytest.raises(BackupRefused, match="would break references"):
        _restore(tenants, backup, strategy="selective", tables=["properties_property"])

    assert org_rows(tenants.owner_org) == before
    assert RestoreExecution.objects.latest("pk").status == "refused"


def test_a_selective_restore_of_a_table_the_backup_held_empty_checks_references(tenants):
    """The backup had no properties: replacing them deletes them all, and the analyses kept
    would point at none, so it is refused (an empty restored table is not a missing one)."""
    project = ProjectFactory(organization=tenants.owner_org)
    backup = _backup(tenants)
    PropertyAnalysisFactory(property=PropertyFactory(project=project))
    before = org_rows(tenants.owner_org)

    with pytest.raises(BackupRefused, match="would break references"):
        _restore(tenants, backup, strategy="selective", tables=["properties_property"])

    assert org_rows(tenants.owner_org) == before
    assert RestoreExecution.objects.latest("pk").status == "refused"


def test_restore_options_that_do_not_fit_are_refused(tenants, estate):
    backup = _backup(tenants)
    with pytest.raises(BackupRefused, match="needs --tables"):
        _restore(tenants, backup, strategy="selective")
    with pytest.raises(BackupRefused, match="replace_all restores every table"):
        _restore(tenants, backup, strategy="replace_all", conflict="skip")
    with pytest.raises(BackupRefused, match="no table auth_user"):
        _restore(tenants, backup, strategy="selective", tables=["auth_user"])


def test_an_outsider_cannot_merge_into_another_organisation(tenants, diverged):
    backup, *_ = diverged
    before = org_rows(tenants.owner_org)
    with pytest.raises(BackupRefused, match="not a member"):
        backup_restore(
            backup=backup, organization=tenants.owner_org, actor=tenants.outsider, strategy="merge"
        )
    assert org_rows(tenants.owner_org) == before


def test_restore_backup_command_merges_and_prints_the_policy_counts(tenants, diverged):
    backup, *_ = diverged
    out = io.StringIO()
    call_command(
        "restore_backup", str(backup.pk), "--org", "owner-org", "--strategy", "merge",
        "--conflict", "rename", stdout=out,
    )  # fmt: skip

    pairs = dict(re.findall(r"(\w+)=(\S+)", out.getvalue()))
    assert (pairs["renamed"], pairs["conflict"], pairs["strategy"]) == ("1", "rename", "merge")
    with pytest.raises(CommandError, match="status=refused"):
        call_command(
            "restore_backup", str(backup.pk), "--org", "owner-org", "--strategy", "selective",
            stdout=io.StringIO(),
        )  # fmt: skip


def test_admin_previews_a_merge_with_its_conflicts_then_runs_it(
    client, tenants, diverged, django_capture_on_commit_callbacks
):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.urls import reverse

    backup, edited, deleted_id, _, backed_up_address = diverged
    changelist = reverse("admin:backups_backupexecution_changelist")
    options = {"strategy": "merge", "conflict": "rename"}
    client.force_login(tenants.manager)

    with django_capture_on_commit_callbacks(execute=True):
        plan_url = client.post(
            changelist, {"action": "restore_backup", ACTION_CHECKBOX_NAME: [backup.pk], **options}
        )["Location"]
    page = client.get(plan_url)
    text = page.content.decode()
    assert page.status_code == 200 and "Conflicting rows" in text
    assert "7 Edited Rd" in text and backed_up_address in text
    assert page.context["totals"]["renamed"] == 1
    assert not Property.objects.filter(pk=deleted_id).exists()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(plan_url)

    restore = RestoreExecution.objects.filter(dry_run=False).get()
    assert (restore.strategy, restore.conflict_policy, restore.status) == (
        "merge",
        "rename",
        "completed",
    )
    assert Property.objects.filter(pk=deleted_id).exists()
    assert Property.objects.filter(external_id=f"{edited.external_id}-restored-{restore.pk}")
