"""Restore drills: a backup restored into scratch tables, checked, and compared with its
manifest; the real tables never move."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django_q.models import Schedule

from backups.apps import DRILL_SCHEDULE, sync_drill_schedule
from backups.drills import backup_drill
from backups.models import BackupDrill
from backups.services.backup import backup_create
from backups.services.permissions import BackupRefused
from backups.tasks import backup_drills_daily_task
from integrity.models import IntegrityAlert
from properties.models import Property

from .helpers import org_history, org_rows

pytestmark = pytest.mark.django_db


def _backup(tenants, **kwargs):
    backup = backup_create(organization=tenants.owner_org, **kwargs)
    assert backup.status == "completed", backup.error_message
    return backup


def _damage(backup):
    with backup.archive.storage.open(backup.archive.name, "ab") as stored:
        stored.write(b"x")


def test_a_drill_restores_into_scratch_tables_and_leaves_the_real_ones_alone(tenants, estate):
    backup = _backup(tenants)
    estate.spare.delete()
    Property.objects.filter(pk=estate.properties[0].pk).update(external_id="CHANGED-SINCE")
    before, history_before = org_rows(tenants.owner_org), org_history(tenants.owner_org)
    other_before = org_rows(tenants.other_org)

    drill = backup_drill(backup=backup, actor=tenants.manager)

    assert drill.status == "passed", drill.message
    assert drill.fingerprint_matches is True
    assert {result["slug"] for result in drill.check_results} >= {"missing_address"}
    assert org_rows(tenants.owner_org) == before
    assert org_history(tenants.owner_org) == history_before
    assert org_rows(tenants.other_org) == other_before


def test_a_drill_of_an_incremental_restores_its_chain(tenants, estate):
    _backup(tenants)
    estate.spare.delete()
    increment = _backup(tenants, backup_type="incremental")

    assert backup_drill(backup=increment).status == "passed"


def test_a_drill_catches_a_damaged_backup_and_alerts(tenants, estate):
    backup = _backup(tenants)
    _damage(backup)

    drill = backup_drill(backup=backup)

    assert drill.status == "failed" and "altered" in drill.message
    alert = IntegrityAlert.objects.get(organization=tenants.owner_org, condition="drill_failed")
    assert alert.kind == "drill_failed" and f"#{backup.pk}" in alert.subject
    good = _backup(tenants)
    assert backup_drill(backup=good).status == "passed"
    alert.refresh_from_db()
    assert alert.cleared_at is not None


def test_the_daily_drill_takes_each_organisations_newest_backup_once(tenants, estate):
    _backup(tenants)
    newest = _backup(tenants)
    other = backup_create(organization=tenants.other_org)

    assert backup_drills_daily_task() == 2
    assert set(BackupDrill.objects.values_list("backup_id", flat=True)) == {newest.pk, other.pk}
    BackupDrill.objects.create(organization=tenants.owner_org, backup=newest)  # still running
    assert backup_drills_daily_task() == 1


def test_the_daily_drill_schedule_is_kept_by_code(tenants):
    Schedule.objects.filter(name=DRILL_SCHEDULE).delete()
    sync_drill_schedule(sender=None)
    schedule = Schedule.objects.get(name=DRILL_SCHEDULE)
    assert schedule.func == "backups.tasks.backup_drills_daily_task"
    assert schedule.schedule_type == Schedule.CRON


def test_drill_backup_command_prints_its_outcome_and_fails_on_a_damaged_backup(tenants, estate):
    backup = _backup(tenants)
    out = io.StringIO()
    call_command("drill_backup", str(backup.pk), stdout=out)
    assert "status=passed fingerprint=match" in out.getvalue()
    _damage(backup)
    with pytest.raises(CommandError, match="status=failed"):
        call_command("drill_backup", str(backup.pk), stdout=io.StringIO())


def test_an_outsider_cannot_drill_another_organisations_backup(tenants, estate):
    backup = _backup(tenants)
    with pytest.raises(BackupRefused, match="below manager"):
        backup_drill(backup=backup, actor=tenants.viewer)
    with pytest.raises(BackupRefused):
        backup_drill(backup=backup, actor=tenants.outsider)
    assert not BackupDrill.objects.exists()


def test_the_data_health_panel_shows_the_latest_drill(client, tenants, estate):
    backup = _backup(tenants)
    _damage(backup)
    backup_drill(backup=backup)
    client.force_login(tenants.manager)

    page = client.get(reverse("admin:index")).content.decode()

    assert "Latest restore drill" in page and "Failed" in page
    client.force_login(tenants.outsider)
    assert f"(backup #{backup.pk})" not in client.get(reverse("admin:index")).content.decode()


def test_admin_drills_the_selected_backup_as_a_task(
    client, tenants, estate, django_capture_on_commit_callbacks
):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    backup = _backup(tenants)
    changelist = reverse("admin:backups_backupexecution_changelist")
    client.force_login(tenants.outsider)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {"action": "drill_backups", ACTION_CHECKBOX_NAME: [backup.pk]})
    assert not BackupDrill.objects.exists()
    client.force_login(tenants.manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {"action": "drill_backups", ACTION_CHECKBOX_NAME: [backup.pk]})

    assert BackupDrill.objects.get().status == "passed"
    assert client.get(reverse("admin:backups_backupdrill_changelist")).status_code == 200
