"""A crafted archive whose rows point at another organisation's rows: refused by the dry run,
the restore, verification and the drill, with nothing changed."""

import json

import pytest

from backups.archive import NULL, TableDigest, spec_for
from backups.models import BackupExecution, RestoreExecution
from backups.services.backup import backup_create
from backups.services.permissions import BackupRefused
from backups.services.restore import backup_restore
from backups.services.verify import backup_verify
from properties.models import Property, PropertyAnalysis

from .helpers import archive_members, manifest_of, org_history, org_rows, rewrite_archive

pytestmark = pytest.mark.django_db


def _forge(backup, table: str, column: str, value: int | str | None, *, row: int = 0) -> None:
    """Points `column` of one row of `table` at `value` (None: NULL), then fixes the
    manifest's count and hash and the recorded SHA-256, so only the reference check can
    catch it."""
    members = archive_members(backup)
    spec = spec_for(table)
    index = spec.columns.index(column)
    lines = members[spec.member].splitlines(keepends=True)
    fields = lines[row].rstrip(b"\n").split(b"\t")
    fields[index] = (NULL if value is None else str(value)).encode()
    lines[row] = b"\t".join(fields) + b"\n"
    members[spec.member] = b"".join(lines)
    digest = TableDigest()
    for line in lines:
        digest.add_line(line)
    manifest = manifest_of(members)
    manifest["tables"][table].update(count=digest.count, hash=digest.hexdigest)
    members["manifest.json"] = json.dumps(manifest).encode()
    rewrite_archive(backup, members, record_sha256=True)


def _state(tenants):
    return [(org_rows(org), org_history(org)) for org in (tenants.owner_org, tenants.other_org)]


#: A property id no organisation has, for a history row to claim.
UNUSED_ID = 10**9


@pytest.mark.parametrize(
    ("forgeries", "column"),
    [
        ([("properties_property", "project_id", "other_project")], "project_id"),
        ([("properties_propertyanalysis", "property_id", "other_property")], "property_id"),
        ([("properties_historicalproperty", "project_id", "other_project")], "project_id"),
        (
            [("properties_historicalpropertyanalysis", "property_id", "other_property")],
            "property_id",
        ),
        # A history row claiming another organisation's property, and a live analysis
        # pointing at that property.
        (
            [
                ("properties_historicalproperty", "id", "other_property"),
                ("properties_propertyanalysis", "property_id", "other_property"),
            ],
            "id",
        ),
        # A history row's id never vouches for a live row's reference.
        (
            [
                ("properties_historicalproperty", "id", UNUSED_ID),
                ("properties_propertyanalysis", "property_id", UNUSED_ID),
            ],
            "property_id",
        ),
        # A NULL among the archive's history ids must not switch the check off.
        (
            [
                ("properties_historicalproperty", "id", None),
                ("properties_historicalpropertyanalysis", "property_id", "other_property"),
            ],
            "property_id",
        ),
    ],
)
def test_archive_pointing_at_another_organisations_row_is_refused_everywhere(
    tenants, estate, forgeries, column
):
    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    estate.spare.delete()  # a change any restore that ran would undo
    for table, forged_column, target in forgeries:
        value = getattr(estate, target).pk if isinstance(target, str) else target
        _forge(backup, table, forged_column, value)
    before = _state(tenants)

    for strategy, dry_run in (("replace_all", True), ("replace_all", False), ("merge", False)):
        with pytest.raises(BackupRefused, match=f" {column} points outside the organisation"):
            backup_restore(
                backup=backup,
                organization=tenants.owner_org,
                actor=tenants.manager,
                strategy=strategy,
                dry_run=dry_run,
            )
        assert RestoreExecution.objects.latest("id").status == RestoreExecution.Status.REFUSED
    backup_verify(backup=backup, actor=tenants.manager)

    backup.refresh_from_db()
    assert backup.verification_status == BackupExecution.Verification.FAILED
    assert "points outside the organisation" in backup.verification_message
    assert _state(tenants) == before
    assert not PropertyAnalysis.objects.filter(
        organization=tenants.owner_org, property__organization=tenants.other_org
    ).exists()


def test_a_forged_history_row_in_the_database_vouches_for_nothing(tenants, estate):
    """A history row of the organisation carrying another organisation's property id (left
    by a restore before history ids were checked) does not let a live row point there."""
    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    forged = Property.history.filter(id=estate.properties[0].pk).first()
    forged.history_id, forged.id = None, estate.other_property.pk
    forged.save()
    _forge(backup, "properties_propertyanalysis", "property_id", estate.other_property.pk)
    before = _state(tenants)

    for strategy in ("replace_all", "merge"):
        with pytest.raises(BackupRefused, match=" property_id points outside the organisation"):
            backup_restore(
                backup=backup,
                organization=tenants.owner_org,
                actor=tenants.manager,
                strategy=strategy,
            )
    assert _state(tenants) == before


def test_an_archived_value_the_database_cannot_load_is_refused_with_a_sentence(tenants, estate):
    """A JSON column holding text that is not JSON: the restore is recorded refused with the
    table's name, verification fails, nothing changes (PostgreSQL's COPY refuses it)."""
    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    estate.spare.delete()
    _forge(backup, "properties_property", "basic_info", "not json")
    before = _state(tenants)

    for strategy, dry_run in (("replace_all", True), ("replace_all", False), ("merge", False)):
        with pytest.raises(BackupRefused, match="properties_property"):
            backup_restore(
                backup=backup,
                organization=tenants.owner_org,
                actor=tenants.manager,
                strategy=strategy,
                dry_run=dry_run,
            )
        restore = RestoreExecution.objects.latest("id")
        assert restore.status == RestoreExecution.Status.REFUSED
        assert "properties_property" in restore.error_message
        assert restore.completed_at is not None
    backup_verify(backup=backup, actor=tenants.manager)

    backup.refresh_from_db()
    assert backup.verification_status == BackupExecution.Verification.FAILED
    assert "properties_property" in backup.verification_message
    assert _state(tenants) == before


def test_reference_to_a_deleted_row_of_the_organisation_still_restores(tenants, estate):
    """History rows may name a property deleted long ago: its own history keeps it inside."""
    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    estate.properties[2].delete()

    restore = backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)

    assert restore.status == RestoreExecution.Status.COMPLETED
    assert restore.counts["properties_property"]["inserted"] == 1
    backup_verify(backup=backup)
    backup.refresh_from_db()
    assert backup.verification_status == BackupExecution.Verification.PASSED


def test_an_archive_member_that_expands_too_far_is_refused_before_reading(
    tenants, estate, settings
):
    """A zip bomb in place of a table: refused from its declared sizes, by restore and
    verification alike, with nothing changed."""
    import hashlib
    import io
    import zipfile

    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    members = archive_members(backup)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", members["manifest.json"])
        with archive.open("properties_property.tsv", "w", force_zip64=True) as bomb:
            for _ in range(8):
                bomb.write(bytes(1024 * 1024))
    storage = backup.archive.storage
    storage.delete(backup.archive.name)
    storage.save(backup.archive.name, io.BytesIO(buffer.getvalue()))
    backup.sha256 = hashlib.sha256(buffer.getvalue()).hexdigest()
    backup.save(update_fields=["sha256"])
    before = _state(tenants)

    with pytest.raises(BackupRefused, match=r"BACKUP_MAX_COMPRESSION_RATIO \(200\)"):
        backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)
    settings.BACKUP_MAX_MEMBER_BYTES = 4 * 1024 * 1024
    backup_verify(backup=backup, actor=tenants.manager)

    backup.refresh_from_db()
    assert backup.verification_status == BackupExecution.Verification.FAILED
    assert "BACKUP_MAX_MEMBER_BYTES (4194304)" in backup.verification_message
    assert _state(tenants) == before
