import hashlib
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from backups.archive import TableDigest, table_specs
from backups.engines.orm import OrmEngine
from backups.engines.postgres import PostgresEngine
from backups.models import BackupExecution, RestoreExecution
from backups.services.backup import backup_create
from backups.services.permissions import BackupRefused
from backups.services.restore import backup_restore
from backups.services.verify import backup_verify
from properties.models import Project, Property, PropertyAnalysis
from tests.conftest import BLOCKER_TEXT
from tests.factories import (
    ImportJobFactory,
    ProjectFactory,
    PropertyAnalysisFactory,
    PropertyFactory,
)

from .helpers import archive_members, manifest_of, org_history, org_rows, rewrite_archive

pytestmark = pytest.mark.django_db


def _backup(tenants):
    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    assert backup.status == BackupExecution.Status.COMPLETED, backup.error_message
    return backup


def _change_everything(tenants, estate):
    """Edits, deletions and additions of every kind after a backup."""
    changed = estate.properties[1]
    changed.basic_info = {**changed.basic_info, "address": "99 Changed Rd"}
    changed.financial_metrics = {"estimated_value": 1}
    changed.save()
    estate.project.name = "Renamed"
    estate.project.save()
    estate.properties[0].delete()  # takes its analysis with it
    estate.spare.delete()
    estate.second_project.delete()
    new_project = ProjectFactory(organization=tenants.owner_org, name="Added later")
    added = PropertyFactory(project=new_project)
    PropertyAnalysisFactory(property=added)


# Backup --------------------------------------------------------------------------------------


def test_backup_archive_holds_only_the_organisations_rows_with_a_manifest(tenants, estate):
    backup = _backup(tenants)

    members = archive_members(backup)
    manifest = manifest_of(members)
    assert manifest["format_version"] == 1
    assert manifest["organization"] == {"id": tenants.owner_org.pk, "slug": "owner-org"}
    latest = MigrationLoader(connection).graph.leaf_nodes("properties")[0][1]
    assert manifest["migrations"]["properties"] == latest
    counts = {name: table["count"] for name, table in manifest["tables"].items()}
    assert counts["properties_project"] == 2
    assert counts["properties_property"] == 4
    assert counts["properties_propertyanalysis"] == 1
    assert counts["properties_historicalproperty"] == 4
    assert backup.record_count == sum(counts.values())
    property_ids = {
        int(line.split(b"\t")[0]) for line in members["properties_property.tsv"].splitlines()
    }
    assert property_ids == {p.pk for p in [*estate.properties, estate.spare]}
    assert estate.other_property.pk not in property_ids
    for name, table in manifest["tables"].items():
        digest = TableDigest()
        for line in members[f"{name}.tsv"].splitlines(keepends=True):
            digest.add_line(line)
        assert (digest.count, digest.hexdigest) == (table["count"], table["hash"])


def test_backup_records_the_stored_files_sha256_and_size(tenants, estate):
    backup = _backup(tenants)

    with backup.archive.storage.open(backup.archive.name, "rb") as stored:
        data = stored.read()
    assert backup.sha256 == hashlib.sha256(data).hexdigest()
    assert backup.size_bytes == len(data)
    assert backup.duration_ms is not None and backup.completed_at is not None


def test_failed_backup_leaves_a_failed_execution_and_no_file(tenants, estate, backups_storage):
    blocker = backups_storage(writable=False)

    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)

    assert backup.status == BackupExecution.Status.FAILED
    assert backup.error_message
    assert not backup.archive
    assert blocker.read_text() == BLOCKER_TEXT


def test_member_below_manager_cannot_take_a_backup(tenants, estate):
    for user in (tenants.member, tenants.viewer, tenants.outsider):
        with pytest.raises(BackupRefused):
            backup_create(organization=tenants.owner_org, actor=user)
    assert not BackupExecution.objects.exists()


def test_selective_backup_holds_only_the_chosen_tables(tenants, estate):
    backup = backup_create(
        organization=tenants.owner_org,
        actor=tenants.manager,
        backup_type="selective",
        tables=["properties_project", "properties_historicalproject"],
    )

    manifest = manifest_of(archive_members(backup))
    assert set(manifest["tables"]) == {"properties_project", "properties_historicalproject"}
    assert backup.record_count == 4


def test_unknown_table_and_an_incremental_without_a_full_backup_are_refused(tenants, estate):
    with pytest.raises(BackupRefused, match="Unknown table"):
        backup_create(organization=tenants.owner_org, backup_type="selective", tables=["auth_user"])
    with pytest.raises(BackupRefused, match="no completed full backup"):
        backup_create(organization=tenants.owner_org, backup_type="incremental")
    assert not BackupExecution.objects.exists()


def test_copy_and_orm_paths_write_the_same_bytes(on_postgres, tenants, estate):
    estate.analysis.results = {"b": [1.5, None, 'é\n"x"'], "aa": {"z": 1e-7}, "a": True}
    estate.analysis.save()
    estate.project.description = "tab\there, back\\slash, new\nline, café \x01"
    estate.project.save()
    for spec in table_specs():
        copied, serialised = io.BytesIO(), io.BytesIO()
        PostgresEngine(connection).dump_table(spec, tenants.owner_org.pk, copied, TableDigest())
        OrmEngine(connection).dump_table(spec, tenants.owner_org.pk, serialised, TableDigest())
        # The same lines; COPY does not sort them.
        copied_lines = sorted(copied.getvalue().splitlines(keepends=True))
        assert copied_lines == sorted(serialised.getvalue().splitlines(keepends=True)), spec.name
        assert copied_lines


# Restore -------------------------------------------------------------------------------------


def test_restore_puts_back_exactly_the_backed_up_rows(tenants, estate):
    before = org_rows(tenants.owner_org)
    deleted = estate.properties[0]
    deleted_pk, deleted_created_at = deleted.pk, deleted.created_at
    other_before = (org_rows(tenants.other_org), org_history(tenants.other_org))
    backup = _backup(tenants)
    _change_everything(tenants, estate)
    assert org_rows(tenants.owner_org) != before

    restore = backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)

    assert restore.status == RestoreExecution.Status.COMPLETED
    assert org_rows(tenants.owner_org) == before
    assert (org_rows(tenants.other_org), org_history(tenants.other_org)) == other_before
    assert restore.counts["properties_property"] == {"inserted": 2, "updated": 1, "deleted": 1}
    assert restore.counts["properties_project"] == {"inserted": 1, "updated": 1, "deleted": 1}
    assert restore.counts["properties_propertyanalysis"] == {
        "inserted": 1,
        "updated": 0,
        "deleted": 1,
    }
    assert Property.objects.get(pk=deleted_pk).created_at == deleted_created_at


def test_restoring_twice_changes_nothing_the_second_time(tenants, estate):
    backup = _backup(tenants)
    _change_everything(tenants, estate)
    backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)

    again = backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)

    assert all(sum(counts.values()) == 0 for counts in again.counts.values())


def test_restore_keeps_history_and_records_its_own_changes(tenants, estate):
    backup = _backup(tenants)
    _change_everything(tenants, estate)
    history_before = org_history(tenants.owner_org)

    restore = backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)

    history_after = org_history(tenants.owner_org)
    for table, rows in history_before.items():
        assert set(rows) <= set(history_after[table])
    own = Property.history.filter(history_change_reason=f"restore {restore.pk}")
    assert sorted(own.values_list("history_type", flat=True)) == ["+", "+", "-", "~"]
    assert set(own.values_list("history_user_id", flat=True)) == {tenants.manager.pk}
    reverted = own.get(history_type="~")
    assert reverted.basic_info == Property.objects.get(pk=reverted.id).basic_info


def test_restore_adds_backed_up_history_the_database_lost(tenants, estate):
    backup = _backup(tenants)
    lost = list(
        Property.history.filter(organization_id=tenants.owner_org.pk).values_list(
            "history_id", flat=True
        )
    )
    Property.history.filter(history_id__in=lost).delete()

    restore = backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)

    assert restore.counts["properties_historicalproperty"]["inserted"] == len(lost)
    assert set(lost) <= set(Property.history.values_list("history_id", flat=True))


def test_rows_created_after_a_restore_get_fresh_ids(tenants, estate):
    backup = _backup(tenants)
    newest = PropertyFactory(project=estate.project)
    spare_pk = estate.spare.pk
    estate.spare.delete()

    backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)
    created = PropertyFactory(project=estate.project)
    project = ProjectFactory(organization=tenants.owner_org)

    assert created.pk > newest.pk
    assert project.pk > estate.second_project.pk
    assert Property.objects.filter(pk=spare_pk).exists()


def test_dry_run_reports_the_plan_and_changes_nothing(tenants, estate):
    backup = _backup(tenants)
    _change_everything(tenants, estate)
    changed = (org_rows(tenants.owner_org), org_history(tenants.owner_org))

    restore = backup_restore(
        backup=backup, organization=tenants.owner_org, actor=tenants.manager, dry_run=True
    )

    assert restore.dry_run and restore.status == RestoreExecution.Status.COMPLETED
    assert restore.counts["properties_property"] == {"inserted": 2, "updated": 1, "deleted": 1}
    assert (org_rows(tenants.owner_org), org_history(tenants.owner_org)) == changed


def test_a_restore_that_fails_halfway_changes_nothing(tenants, estate):
    backup = _backup(tenants)
    added = PropertyFactory(project=estate.project)
    # Another table still points at a row the restore must delete: the foreign key fails.
    PropertyAnalysis.objects.filter(pk=estate.other_analysis.pk).update(property=added)
    estate.properties[2].delete()
    state = (org_rows(tenants.owner_org), org_history(tenants.owner_org))

    with pytest.raises(BackupRefused, match="changed nothing"):
        backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)

    assert (org_rows(tenants.owner_org), org_history(tenants.owner_org)) == state
    restore = RestoreExecution.objects.get()
    assert restore.status == RestoreExecution.Status.FAILED and restore.error_message


# Refusals ------------------------------------------------------------------------------------


@pytest.fixture
def changed_after_backup(tenants, estate):
    """A backup and a later change, so that any restore that ran would show."""
    backup = _backup(tenants)
    estate.spare.delete()
    return backup


def _assert_refused(tenants, backup, match, **kwargs):
    state = (org_rows(tenants.owner_org), org_history(tenants.owner_org))
    other = (org_rows(tenants.other_org), org_history(tenants.other_org))
    kwargs.setdefault("organization", tenants.owner_org)
    kwargs.setdefault("actor", tenants.manager)
    with pytest.raises(BackupRefused, match=match):
        backup_restore(backup=backup, **kwargs)
    assert (org_rows(tenants.owner_org), org_history(tenants.owner_org)) == state
    assert (org_rows(tenants.other_org), org_history(tenants.other_org)) == other
    assert RestoreExecution.objects.latest("id").status == RestoreExecution.Status.REFUSED


def test_backup_of_another_organisation_is_refused(tenants, changed_after_backup):
    _assert_refused(
        tenants,
        changed_after_backup,
        "belongs to owner-org, not other-org",
        organization=tenants.other_org,
        actor=tenants.outsider,
    )
    _assert_refused(tenants, changed_after_backup, "not a member", actor=tenants.outsider)


def test_superuser_restores_an_organisation_only_when_asking_explicitly(
    tenants, changed_after_backup
):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    _assert_refused(tenants, changed_after_backup, "--allow-cross-org", actor=root)

    restore = backup_restore(
        backup=changed_after_backup,
        organization=tenants.owner_org,
        actor=root,
        allow_cross_org=True,
    )

    assert restore.counts["properties_property"]["inserted"] == 1


def test_roles_below_manager_are_refused(tenants, changed_after_backup):
    for user in (tenants.member, tenants.viewer):
        _assert_refused(tenants, changed_after_backup, "below manager", actor=user)


def test_archive_whose_sha256_changed_is_refused(tenants, changed_after_backup):
    members = archive_members(changed_after_backup)
    rewrite_archive(changed_after_backup, members, record_sha256=False)

    _assert_refused(tenants, changed_after_backup, "altered")


def test_archive_whose_rows_differ_from_the_manifest_is_refused(tenants, changed_after_backup):
    members = archive_members(changed_after_backup)
    members["properties_property.tsv"] = members["properties_property.tsv"].replace(
        b"Chapel St", b"Chapel Rd"
    )
    rewrite_archive(changed_after_backup, members, record_sha256=True)

    _assert_refused(tenants, changed_after_backup, "do not match the manifest")


def test_archive_with_a_row_removed_is_refused(tenants, changed_after_backup):
    members = archive_members(changed_after_backup)
    lines = members["properties_property.tsv"].splitlines(keepends=True)
    members["properties_property.tsv"] = b"".join(lines[1:])
    rewrite_archive(changed_after_backup, members, record_sha256=True)

    _assert_refused(tenants, changed_after_backup, "holds 3 rows, the manifest says 4")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("format_version", 99, "format version 99"),
        ("migrations", {"properties": "0001_initial"}, "migration state"),
    ],
)
def test_unknown_format_or_migration_state_is_refused(
    tenants, changed_after_backup, key, value, match
):
    members = archive_members(changed_after_backup)
    manifest = manifest_of(members)
    manifest[key] = value
    members["manifest.json"] = json.dumps(manifest).encode()
    rewrite_archive(changed_after_backup, members, record_sha256=True)

    _assert_refused(tenants, changed_after_backup, match)


# Verification --------------------------------------------------------------------------------


def test_verify_passes_a_sound_backup_and_changes_nothing(tenants, estate):
    backup = _backup(tenants)
    _change_everything(tenants, estate)
    state = (org_rows(tenants.owner_org), org_history(tenants.owner_org))

    backup_verify(backup=backup)

    backup.refresh_from_db()
    assert backup.verification_status == BackupExecution.Verification.PASSED, (
        backup.verification_message
    )
    assert backup.verified_at is not None
    assert (org_rows(tenants.owner_org), org_history(tenants.owner_org)) == state


def test_verify_fails_a_tampered_archive_which_then_cannot_be_restored(tenants, estate):
    backup = _backup(tenants)
    members = archive_members(backup)
    members["properties_project.tsv"] = members["properties_project.tsv"].replace(
        b"Richmond", b"Hacked"
    )
    rewrite_archive(backup, members, record_sha256=True)

    backup_verify(backup=backup)

    backup.refresh_from_db()
    assert backup.verification_status == BackupExecution.Verification.FAILED
    assert "manifest" in backup.verification_message
    with pytest.raises(BackupRefused):
        backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)
    assert Project.objects.filter(name="Richmond").exists()


def test_verify_by_an_outsider_is_refused(tenants, estate):
    backup = _backup(tenants)
    with pytest.raises(BackupRefused):
        backup_verify(backup=backup, actor=tenants.outsider)


def test_restore_reverts_external_ids_swapped_between_properties(tenants, estate):
    first, second = estate.properties[0], estate.properties[1]
    first_id, second_id = first.external_id, second.external_id
    before = org_rows(tenants.owner_org)
    backup = _backup(tenants)
    first.external_id = "parked"
    first.save()
    second.external_id = first_id
    second.save()
    first.external_id = second_id
    first.save()

    restore = backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)

    assert restore.counts["properties_property"] == {"inserted": 0, "updated": 2, "deleted": 0}
    assert org_rows(tenants.owner_org) == before
    assert not Property.objects.filter(external_id__startswith="~restore~").exists()
    reverted = Property.history.filter(history_change_reason=f"restore {restore.pk}")
    assert sorted(reverted.values_list("external_id", flat=True)) == sorted([first_id, second_id])


def test_a_restore_removes_a_newer_project_and_keeps_its_import_job(client, tenants, estate):
    from imports.models import ImportJob
    from tests.factories import ProjectFactory

    backup = _backup(tenants)
    newer = ProjectFactory(organization=tenants.owner_org, name="Imported after the backup")
    PropertyFactory(project=newer)
    job = ImportJob.objects.create(
        organization=tenants.owner_org, project=newer, file_name="late.csv", status="completed"
    )

    plan = backup_restore(
        backup=backup, organization=tenants.owner_org, actor=tenants.manager, dry_run=True
    )
    restore = backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)

    assert plan.counts == restore.counts
    assert restore.status == RestoreExecution.Status.COMPLETED
    job.refresh_from_db()
    assert job.project is None and job.file_name == "late.csv"
    client.force_login(tenants.manager)
    page = client.get(f"/admin/imports/importjob/{job.pk}/change/")
    assert page.status_code == 200 and "late.csv" in page.content.decode()
    resume = client.post(f"/admin/imports/importjob/{job.pk}/resume/", follow=True)
    assert "no longer exists" in resume.content.decode()


def test_a_restore_waits_for_a_running_import(tenants, estate):
    from imports.models import ImportJob

    backup = _backup(tenants)
    state = org_rows(tenants.owner_org)
    job = ImportJobFactory(project=estate.project, status=ImportJob.Status.IMPORTING)

    with pytest.raises(BackupRefused, match=f"Import {job.pk} into owner-org is running"):
        backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)

    assert org_rows(tenants.owner_org) == state
    assert RestoreExecution.objects.get().status == RestoreExecution.Status.REFUSED
