"""Incremental backups: changes and deletions since the chain's previous backup, restored as
the chain's state at the incremental's time."""

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from backups.models import BackupExecution
from backups.services.backup import backup_create
from backups.services.permissions import BackupRefused
from backups.services.restore import backup_restore
from backups.services.verify import backup_verify
from properties.models import Property
from tests.factories import PropertyAnalysisFactory, PropertyFactory

from .helpers import archive_members, manifest_of, org_rows

pytestmark = pytest.mark.django_db

# Tests of what an incremental holds commit their writes, so the baseline (transaction ids on
# PostgreSQL) is exercised as in production: inside one test transaction every row shares a
# transaction id and an incremental holds everything the test wrote (correct, not minimal).
committed = pytest.mark.django_db(transaction=True)


def fingerprint(organization) -> dict:
    """Every column of the organisation's live rows but updated_at."""
    return {
        table: {pk: {k: v for k, v in row.items() if k != "updated_at"} for pk, row in rows.items()}
        for table, rows in org_rows(organization).items()
    }


def _backup(tenants, backup_type="full"):
    backup = backup_create(
        organization=tenants.owner_org, actor=tenants.manager, backup_type=backup_type
    )
    assert backup.status == BackupExecution.Status.COMPLETED, backup.error_message
    return backup


def _restore(tenants, backup, **kwargs):
    return backup_restore(
        backup=backup, organization=tenants.owner_org, actor=tenants.manager, **kwargs
    )


def _ids(backup, member) -> set[int]:
    return {int(line.split(b"\t")[0]) for line in archive_members(backup)[member].splitlines()}


def _assert_changed_rows(held: set[int], changed: set[int]) -> None:
    """On SQLite an incremental holds exactly the changed (or deleted) rows. On PostgreSQL it
    may also hold rows written after the oldest transaction then running anywhere on the server
    (another database's included), re-read; never fewer."""
    if connection.vendor == "postgresql":
        assert held >= changed
    else:
        assert held == changed


@committed
def test_an_incremental_chain_restores_updates_and_deletions_exactly(tenants, estate):
    full = _backup(tenants)
    first, second, third = estate.properties
    first_id, second_id, analysis_id = first.pk, second.pk, estate.analysis.pk
    first.basic_info = {**first.basic_info, "address": "1 Changed St"}
    first.save()
    second.delete()
    added = PropertyFactory(project=estate.project)
    estate.project.name = "Richmond renamed"
    estate.project.save()
    one = _backup(tenants, "incremental")
    at_one = fingerprint(tenants.owner_org)

    added_id = added.pk
    added.delete()
    first.delete()  # takes its analysis with it
    PropertyAnalysisFactory(property=third, results={"score": 0.9})
    estate.spare.status = "archived"
    estate.spare.save()
    two = _backup(tenants, "incremental")
    at_two = fingerprint(tenants.owner_org)
    other_before = org_rows(tenants.other_org)

    third.delete()
    PropertyFactory(project=estate.second_project)
    _restore(tenants, one)
    assert fingerprint(tenants.owner_org) == at_one
    _restore(tenants, two)
    assert fingerprint(tenants.owner_org) == at_two
    assert org_rows(tenants.other_org) == other_before
    assert (one.base_backup_id, two.base_backup_id) == (full.pk, one.pk)
    # Each incremental holds only what changed since its parent, and the ids deleted since.
    manifest = manifest_of(archive_members(one))
    _assert_changed_rows(_ids(one, "properties_property.tsv"), {first_id, added_id})
    _assert_changed_rows(_ids(one, "properties_property.deleted.tsv"), {second_id})
    _assert_changed_rows(_ids(one, "properties_project.tsv"), {estate.project.pk})
    assert manifest["parent"] == {"id": full.pk, "sha256": full.sha256}
    _assert_changed_rows(_ids(two, "properties_property.tsv"), {estate.spare.pk})
    _assert_changed_rows(_ids(two, "properties_property.deleted.tsv"), {added_id, first_id})
    _assert_changed_rows(_ids(two, "properties_propertyanalysis.deleted.tsv"), {analysis_id})
    if connection.vendor == "sqlite":
        assert manifest["tables"]["properties_historicalproperty"]["count"] == 3
        assert manifest_of(archive_members(two))["tables"]["properties_project"]["count"] == 0
    assert estate.other_property.pk not in _ids(one, "properties_property.tsv")


def test_an_incremental_of_nothing_changed_is_empty_and_restores(tenants, estate):
    _backup(tenants)
    before = fingerprint(tenants.owner_org)
    increment = _backup(tenants, "incremental")

    restore = _restore(tenants, increment, dry_run=True)
    assert all(not any(counts.values()) for counts in restore.counts.values())
    assert fingerprint(tenants.owner_org) == before


def _commit_from_another_connection(property_id: int, address: str, *, commit=True):
    """Updates a property and writes its history row from a second connection, as another
    worker would; with commit=False the transaction is left open and returned."""
    other = connections.create_connection("default")
    other.set_autocommit(False)
    with other.cursor() as cursor:
        cursor.execute(
            "UPDATE properties_property SET basic_info = jsonb_set(basic_info, '{address}', "
            "to_jsonb(%s::text)), updated_at = now() WHERE id = %s",
            [address, property_id],
        )
        columns = [field.column for field in Property._meta.concrete_fields]
        column_list = ", ".join(columns)
        cursor.execute(
            f"INSERT INTO properties_historicalproperty ({column_list}, history_date, "
            "history_change_reason, history_type) "
            f"SELECT {column_list}, now(), 'other worker', '~' FROM properties_property "
            "WHERE id = %s",
            [property_id],
        )
    if commit:
        other.commit()
        other.close()
    return other


@committed
def test_changes_committed_around_a_backups_snapshot_are_in_the_next_incremental(
    on_postgres, tenants, estate
):
    """The late worker's transaction holds a transaction id and a history id older than the
    full backup's snapshot, and a timestamp before it, but commits after it: a baseline by time
    or by history id would skip it for ever. The second worker commits while an incremental
    reads, so that incremental cannot hold it and the next must."""
    late, meanwhile = estate.properties[2], estate.properties[0]
    pending = _commit_from_another_connection(late.pk, "9 Late Commit Rd", commit=False)
    try:
        full = _backup(tenants)
    finally:
        pending.commit()
        pending.close()
    fired = []

    def commit_once_reading_started(execute, sql, params, many, context):
        if not fired and sql.startswith("SET LOCAL TimeZone"):
            fired.append(True)
            _commit_from_another_connection(meanwhile.pk, "5 Meanwhile Ave")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(commit_once_reading_started):
        during = _backup(tenants, "incremental")
    after = _backup(tenants, "incremental")

    assert fired
    assert b"9 Late Commit Rd" not in archive_members(full)["properties_property.tsv"]
    assert b"9 Late Commit Rd" in archive_members(during)["properties_property.tsv"]
    assert b"5 Meanwhile Ave" not in archive_members(during)["properties_property.tsv"]
    assert b"5 Meanwhile Ave" in archive_members(after)["properties_property.tsv"]
    at_after = fingerprint(tenants.owner_org)
    Property.objects.filter(pk__in=[late.pk, meanwhile.pk]).delete()
    _restore(tenants, after)
    assert fingerprint(tenants.owner_org) == at_after


def test_a_chain_with_a_missing_or_damaged_link_is_refused_naming_the_link(tenants, estate):
    full = _backup(tenants)
    estate.spare.delete()
    one = _backup(tenants, "incremental")
    PropertyFactory(project=estate.project)
    two = _backup(tenants, "incremental")

    with one.archive.storage.open(one.archive.name, "ab") as stored:
        stored.write(b"x")
    with pytest.raises(BackupRefused, match=f"link backup {one.pk} \\(incremental\\)"):
        _restore(tenants, two)
    verified = backup_verify(backup=two)
    assert verified.verification_status == "failed"
    assert f"link backup {one.pk}" in verified.verification_message

    BackupExecution.objects.filter(pk=full.pk).delete()
    with pytest.raises(
        BackupRefused, match=f"backup {full.pk}, the parent of incremental {one.pk}"
    ):
        _restore(tenants, one)


def test_an_incremental_verifies_by_a_drill_of_its_chain(tenants, estate):
    _backup(tenants)
    estate.properties[0].delete()
    increment = _backup(tenants, "incremental")

    assert backup_verify(backup=increment).verification_status == "passed"


def test_backup_org_incremental_prints_its_parent_and_refuses_without_a_full(tenants, estate):
    with pytest.raises(CommandError, match="no completed full backup"):
        call_command("backup_org", "owner-org", "--type", "incremental", stdout=io.StringIO())
    _backup(tenants)
    out = io.StringIO()
    call_command("backup_org", "owner-org", "--type", "incremental", stdout=out)

    pairs = dict(re.findall(r"(\w+)=(\S+)", out.getvalue()))
    increment = BackupExecution.objects.get(pk=pairs["backup"])
    assert pairs["type"] == "incremental"
    assert pairs["parent"] == str(increment.base_backup_id)


def test_an_outsider_cannot_take_an_incremental_of_another_organisation(tenants, estate):
    _backup(tenants)
    with pytest.raises(BackupRefused, match="not a member"):
        backup_create(
            organization=tenants.owner_org, actor=tenants.outsider, backup_type="incremental"
        )
    assert BackupExecution.objects.count() == 1
