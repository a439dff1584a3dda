"""Recovery points, restores chosen by recovery point, and what retention keeps."""

import io
import re
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from backups.models import BackupConfig, BackupExecution, RecoveryPoint, RestoreExecution
from backups.recovery_points import recovery_point_create
from backups.services.backup import backup_create
from backups.services.permissions import BackupRefused
from backups.services.schedules import backup_prune, backup_scheduled_run
from properties.models import Property

from .helpers import org_rows

pytestmark = pytest.mark.django_db

POINTS = "admin:backups_recoverypoint_changelist"


def _pairs(text: str) -> dict:
    return dict(re.findall(r"(\w+)=(\S+)", text))


def _age(backup, days: int) -> None:
    BackupExecution.objects.filter(pk=backup.pk).update(
        started_at=timezone.now() - timedelta(days=days)
    )


def test_a_recovery_point_is_a_named_full_backup(tenants, estate):
    point = recovery_point_create(
        organization=tenants.owner_org, description="Before the reload", actor=tenants.manager
    )

    assert point.backup.status == BackupExecution.Status.COMPLETED
    assert point.backup.backup_type == "full"
    assert (point.description, point.created_by) == ("Before the reload", tenants.manager)


def test_a_recovery_point_is_refused_without_a_description_or_for_an_outsider(tenants, estate):
    with pytest.raises(BackupRefused, match="needs a description"):
        recovery_point_create(organization=tenants.owner_org, description=" ")
    with pytest.raises(BackupRefused, match="not a member"):
        recovery_point_create(
            organization=tenants.owner_org, description="x", actor=tenants.outsider
        )
    with pytest.raises(BackupRefused, match="below manager"):
        recovery_point_create(organization=tenants.owner_org, description="x", actor=tenants.member)
    assert not RecoveryPoint.objects.exists() and not BackupExecution.objects.exists()


def test_commands_create_a_recovery_point_and_restore_the_organisation_to_it(tenants, estate):
    out = io.StringIO()
    call_command("create_recovery_point", "owner-org", "--description", "Before reload", stdout=out)
    created = _pairs(out.getvalue())
    point = RecoveryPoint.objects.get()
    assert created["recovery_point"] == str(point.pk) and created["backup"] == str(point.backup_id)
    before = org_rows(tenants.owner_org)
    Property.objects.filter(organization=tenants.owner_org).delete()

    out = io.StringIO()
    call_command(
        "restore_backup",
        "--recovery-point",
        str(point.pk),
        "--org",
        "owner-org",
        "--strategy",
        "replace_all",
        stdout=out,
    )

    assert _pairs(out.getvalue())["backup"] == str(point.backup_id)
    assert org_rows(tenants.owner_org)["properties_property"].keys() == (
        before["properties_property"].keys()
    )
    with pytest.raises(CommandError, match="unknown_recovery_point"):
        call_command(
            "restore_backup", "--recovery-point", "999", "--org", "owner-org",
            "--strategy", "replace_all",
        )  # fmt: skip
    with pytest.raises(CommandError, match="refused"):
        call_command("create_recovery_point", "owner-org", "--description", "", stdout=out)


def test_admin_lists_recovery_points_newest_first_to_members_only(client, tenants, estate):
    older = recovery_point_create(organization=tenants.owner_org, description="first")
    newer = recovery_point_create(organization=tenants.owner_org, description="second")
    foreign = recovery_point_create(organization=tenants.other_org, description="theirs")
    RecoveryPoint.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=1))

    client.force_login(tenants.viewer)
    shown = [point.pk for point in client.get(reverse(POINTS)).context["cl"].result_list]
    assert shown == [newer.pk, older.pk]
    client.force_login(tenants.outsider)
    shown = [point.pk for point in client.get(reverse(POINTS)).context["cl"].result_list]
    assert shown == [foreign.pk]
    change = reverse("admin:backups_recoverypoint_change", args=[newer.pk])
    assert client.get(change).status_code == 404


def test_admin_creates_a_recovery_point_as_a_task_for_managers_only(
    client, tenants, estate, django_capture_on_commit_callbacks
):
    add = reverse("admin:backups_recoverypoint_add")
    client.force_login(tenants.viewer)
    assert client.get(add).status_code in (403, 404)
    client.force_login(tenants.manager)
    assert client.get(add).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(add, {"description": "Before the council reload"}, follow=True)

    assert response.status_code == 200
    point = RecoveryPoint.objects.get()
    assert (point.organization, point.description) == (
        tenants.owner_org,
        "Before the council reload",
    )
    assert point.created_by == tenants.manager


def test_admin_restores_to_a_recovery_point_after_the_confirmation(
    client, tenants, estate, django_capture_on_commit_callbacks
):
    point = recovery_point_create(organization=tenants.owner_org, description="Known good")
    estate.spare.delete()
    client.force_login(tenants.manager)

    with django_capture_on_commit_callbacks(execute=True):
        plan_url = client.post(
            reverse(POINTS), {"action": "restore_to_point", ACTION_CHECKBOX_NAME: [point.pk]}
        )["Location"]
    page = client.get(plan_url)
    assert page.status_code == 200 and b"Confirm restore" in page.content
    assert page.context["restore"].backup == point.backup
    assert Property.objects.filter(organization=tenants.owner_org).count() == 3
    with django_capture_on_commit_callbacks(execute=True):
        client.post(plan_url)

    assert Property.objects.filter(organization=tenants.owner_org).count() == 4
    assert RestoreExecution.objects.filter(backup=point.backup, dry_run=False).count() == 1


def test_an_outsider_cannot_restore_to_another_organisations_recovery_point(
    client, tenants, estate
):
    point = recovery_point_create(organization=tenants.owner_org, description="Known good")
    client.force_login(tenants.outsider)
    client.post(reverse(POINTS), {"action": "restore_to_point", ACTION_CHECKBOX_NAME: [point.pk]})
    assert not RestoreExecution.objects.exists()


def test_retention_keeps_chains_recovery_points_and_the_newest_full_backups(tenants, estate):
    config = BackupConfig.objects.create(organization=tenants.owner_org, retention_days=1)
    pointed = backup_scheduled_run(config=config)
    RecoveryPoint.objects.create(organization=tenants.owner_org, description="p", backup=pointed)
    plain = backup_scheduled_run(config=config)
    chain_base = backup_scheduled_run(config=config)
    config.backup_type = "incremental"
    config.save()
    estate.spare.delete()
    increment = backup_scheduled_run(config=config)
    for backup in (pointed, plain, chain_base):
        _age(backup, 3)

    pruned = backup_prune(config=config)

    assert increment.backup_type == "incremental" and increment.base_backup == chain_base
    assert pruned == 1
    assert not BackupExecution.objects.filter(pk=plain.pk).exists()
    assert BackupExecution.objects.filter(pk__in=[pointed.pk, chain_base.pk]).count() == 2


def test_retention_keeps_the_configured_number_of_full_backups(tenants, estate):
    config = BackupConfig.objects.create(
        organization=tenants.owner_org, retention_days=1, keep_full_backups=2
    )
    oldest, middle, newest = (backup_scheduled_run(config=config) for _ in range(3))
    for backup in (oldest, middle, newest):
        _age(backup, 3)

    assert backup_prune(config=config) == 1
    assert set(BackupExecution.objects.values_list("pk", flat=True)) == {middle.pk, newest.pk}


def test_a_scheduled_incremental_without_a_full_backup_starts_the_chain_with_one(tenants, estate):
    config = BackupConfig.objects.create(organization=tenants.owner_org, backup_type="incremental")

    first = backup_scheduled_run(config=config)
    second = backup_scheduled_run(config=config)

    assert first.backup_type == "full" and first.status == "completed"
    assert second.backup_type == "incremental" and second.base_backup == first
    assert backup_create(organization=tenants.owner_org).status == "completed"


def test_a_queued_restore_whose_backup_was_deleted_is_refused_with_a_sentence(
    tenants, estate, django_capture_on_commit_callbacks
):
    from backups.services.queued import restore_execute, restore_queue

    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    with django_capture_on_commit_callbacks():
        restore = restore_queue(
            organization=tenants.owner_org, actor=tenants.manager, dry_run=False, backup=backup
        )
    backup.delete()
    estate.spare.delete()
    before = org_rows(tenants.owner_org)

    restore_execute(restore=RestoreExecution.objects.get(pk=restore.pk))

    restore.refresh_from_db()
    assert restore.status == RestoreExecution.Status.REFUSED
    assert restore.error_message == "The backup of this restore no longer exists."
    assert restore.completed_at is not None
    assert org_rows(tenants.owner_org) == before


def test_retention_keeps_the_backups_of_pending_and_running_restores(
    tenants, estate, django_capture_on_commit_callbacks
):
    from backups.services.queued import restore_queue

    config = BackupConfig.objects.create(organization=tenants.owner_org, retention_days=1)
    planned, running, finished, newest = (backup_scheduled_run(config=config) for _ in range(4))
    for backup in (planned, running, finished, newest):
        _age(backup, 3)
    with django_capture_on_commit_callbacks():
        restore_queue(
            organization=tenants.owner_org, actor=tenants.manager, dry_run=True, backup=planned
        )
        started = restore_queue(
            organization=tenants.owner_org, actor=tenants.manager, dry_run=False, backup=running
        )
        done = restore_queue(
            organization=tenants.owner_org, actor=tenants.manager, dry_run=False, backup=finished
        )
    RestoreExecution.objects.filter(pk=started.pk).update(status=RestoreExecution.Status.RUNNING)
    RestoreExecution.objects.filter(pk=done.pk).update(status=RestoreExecution.Status.COMPLETED)
    # Another organisation's pending restore keeps nothing of this one's.
    other = backup_create(organization=tenants.other_org)
    with django_capture_on_commit_callbacks():
        restore_queue(organization=tenants.other_org, actor=None, dry_run=True, backup=other)

    assert backup_prune(config=config) == 1
    assert set(
        BackupExecution.objects.filter(organization=tenants.owner_org).values_list("pk", flat=True)
    ) == {planned.pk, running.pk, newest.pk}
