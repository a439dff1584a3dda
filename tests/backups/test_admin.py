import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django_q.models import Schedule

from backups.models import BackupConfig, BackupExecution, RestoreExecution
from backups.services.backup import backup_create
from properties.models import Property

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:backups_backupexecution_changelist"


@pytest.fixture
def backups(tenants, estate):
    owner = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    other = backup_create(organization=tenants.other_org, actor=tenants.outsider)
    return owner, other


def _action(client, action, backup):
    return client.post(
        reverse(CHANGELIST), {"action": action, ACTION_CHECKBOX_NAME: [backup.pk]}, follow=True
    )


def test_changelist_shows_own_organisations_backups_only(client, tenants, backups):
    owner, other = backups
    for user, visible, hidden in (
        (tenants.manager, owner, other),
        (tenants.viewer, owner, other),
        (tenants.outsider, other, owner),
    ):
        client.force_login(user)
        response = client.get(reverse(CHANGELIST))
        assert response.status_code == 200
        shown = [row.pk for row in response.context["cl"].result_list]
        assert shown == [visible.pk]
        assert hidden.pk not in shown
    client.force_login(tenants.manager)
    page = client.get(reverse(CHANGELIST)).content.decode()
    assert "completed" in page.lower() and "unverified" in page.lower() and "download" in page


def test_outsider_gets_404_for_another_organisations_backup_and_archive(client, tenants, backups):
    owner, _ = backups
    client.force_login(tenants.outsider)
    change = reverse("admin:backups_backupexecution_change", args=[owner.pk])
    download = reverse("admin:backups_backupexecution_download", args=[owner.pk])
    assert client.get(change).status_code == 404
    assert client.get(download).status_code == 404


def test_manager_downloads_the_archive_of_their_backup(client, tenants, backups):
    owner, _ = backups
    client.force_login(tenants.manager)
    assert "download</a>" in client.get(reverse(CHANGELIST)).content.decode()
    response = client.get(reverse("admin:backups_backupexecution_download", args=[owner.pk]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body.startswith(b"PK") and len(body) == owner.size_bytes
    assert "attachment" in response["Content-Disposition"]


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_roles_below_manager_cannot_download_an_archive(client, tenants, backups, role):
    # The archive carries the organisation's history, which only managers may read.
    owner, _ = backups
    client.force_login(getattr(tenants, role))
    assert "download</a>" not in client.get(reverse(CHANGELIST)).content.decode()
    url = reverse("admin:backups_backupexecution_download", args=[owner.pk])
    assert client.get(url).status_code == 403


def test_back_up_now_button_runs_a_backup_task(client, tenants, estate, run_on_commit):
    client.force_login(tenants.manager)
    assert "Back up now" in client.get(reverse(CHANGELIST)).content.decode()

    with run_on_commit():
        response = client.post(reverse("admin:backups_backupexecution_back_up_now"), follow=True)

    assert "Backup of Owner Org started" in response.content.decode()
    backup = BackupExecution.objects.get()
    assert backup.organization == tenants.owner_org
    assert backup.status == BackupExecution.Status.COMPLETED
    assert backup.created_by == tenants.manager


def test_viewer_has_no_back_up_button_and_cannot_post_it(client, tenants, estate):
    client.force_login(tenants.viewer)
    assert "Back up now" not in client.get(reverse(CHANGELIST)).content.decode()
    response = client.post(reverse("admin:backups_backupexecution_back_up_now"))
    assert response.status_code == 404
    assert not BackupExecution.objects.exists()


def test_back_up_now_action_backs_up_the_selected_organisation(
    client, tenants, backups, run_on_commit
):
    owner, _ = backups
    client.force_login(tenants.manager)
    with run_on_commit():
        _action(client, "back_up_now", owner)
    assert BackupExecution.objects.filter(organization=tenants.owner_org).count() == 2
    assert BackupExecution.objects.filter(organization=tenants.other_org).count() == 1


def test_verify_action_stores_and_shows_the_result(client, tenants, backups, run_on_commit):
    owner, _ = backups
    client.force_login(tenants.manager)
    with run_on_commit():
        _action(client, "verify_backups", owner)
    response = client.get(reverse(CHANGELIST))
    owner.refresh_from_db()
    assert owner.verification_status == BackupExecution.Verification.PASSED
    assert "passed" in response.content.decode()


def test_member_cannot_restore(client, tenants, estate, backups):
    owner, _ = backups
    estate.spare.delete()
    client.force_login(tenants.member)
    response = client.post(
        reverse(CHANGELIST),
        {"action": "restore_backup", ACTION_CHECKBOX_NAME: [owner.pk], "post": "yes"},
    )
    assert response.status_code in (200, 302, 403)
    assert not RestoreExecution.objects.exists()
    assert Property.objects.filter(organization=tenants.owner_org).count() == 3


def test_restore_executions_are_scoped_to_the_organisation(client, tenants, backups):
    owner, other = backups
    from backups.services.restore import backup_restore

    backup_restore(backup=owner, organization=tenants.owner_org, actor=tenants.manager)
    client.force_login(tenants.outsider)
    response = client.get(reverse("admin:backups_restoreexecution_changelist"))
    assert list(response.context["cl"].result_list) == []
    client.force_login(tenants.viewer)
    response = client.get(reverse("admin:backups_restoreexecution_changelist"))
    assert len(response.context["cl"].result_list) == 1


def test_organisation_admin_adds_a_backup_config_which_gets_a_schedule(client, tenants):
    client.force_login(tenants.admin)
    response = client.post(
        reverse("admin:backups_backupconfig_add"),
        {
            "backup_type": "full",
            "schedule_cron": "30 1 * * *",
            "retention_days": 7,
            "keep_full_backups": 1,
            "tables_included": "[]",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    config = BackupConfig.objects.get()
    assert config.organization == tenants.owner_org
    schedule = Schedule.objects.get(name=f"backup-config-{config.pk}")
    assert schedule.cron == "30 1 * * *"


def test_invalid_cron_is_rejected_with_a_message(client, tenants):
    client.force_login(tenants.admin)
    response = client.post(
        reverse("admin:backups_backupconfig_add"),
        {
            "backup_type": "full",
            "schedule_cron": "every day",
            "retention_days": 7,
            "tables_included": "[]",
        },
    )
    assert response.status_code == 200
    assert "Not a valid cron expression" in response.content.decode()
    assert not BackupConfig.objects.exists()


def test_configs_are_scoped_and_managers_cannot_add_them(client, tenants):
    BackupConfig.objects.create(organization=tenants.other_org)
    client.force_login(tenants.manager)
    assert client.get(reverse("admin:backups_backupconfig_add")).status_code == 403
    client.force_login(tenants.admin)
    response = client.get(reverse("admin:backups_backupconfig_changelist"))
    assert list(response.context["cl"].result_list) == []


def test_an_incremental_schedule_can_be_configured(client, tenants):
    client.force_login(tenants.admin)
    response = client.post(
        reverse("admin:backups_backupconfig_add"),
        {
            "backup_type": "incremental",
            "schedule_cron": "0 3 * * *",
            "retention_days": "30",
            "keep_full_backups": "1",
            "tables_included": "[]",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert BackupConfig.objects.get().backup_type == "incremental"
