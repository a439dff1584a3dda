"""Integrity alerts and the dashboard with the real backups and imports apps."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from backups.models import BackupConfig, BackupExecution
from backups.services.backup import backup_create
from imports.models import ImportJob
from integrity.models import IntegrityAlert
from integrity.services.backup_alerts import backup_alerts_evaluate
from tests.factories import ImportJobFactory, ProjectFactory, PropertyFactory
from tests.integrity.webhook import WebhookReceiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def unwritable_backups(backups_storage):
    backups_storage(writable=False)


def _alerts(organization, kind):
    return IntegrityAlert.objects.filter(organization=organization, kind=kind)


def test_a_failed_backup_alerts_the_admins_once_by_mail_and_webhook(
    tenants, unwritable_backups, django_capture_on_commit_callbacks
):
    PropertyFactory(project=ProjectFactory(organization=tenants.owner_org))
    with WebhookReceiver() as hook:
        tenants.owner_org.settings = {"alert_webhook_url": hook.url}
        tenants.owner_org.save()
        # Alerts go out once the transaction that raised them commits.
        with django_capture_on_commit_callbacks(execute=True):
            first = backup_create(organization=tenants.owner_org, actor=tenants.manager)
        with django_capture_on_commit_callbacks(execute=True):
            second = backup_create(organization=tenants.owner_org, actor=tenants.manager)

    assert first.status == second.status == BackupExecution.Status.FAILED
    alerts = _alerts(tenants.owner_org, IntegrityAlert.Kind.BACKUP_FAILED)
    assert alerts.count() == 1  # the same condition does not alert twice
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [tenants.admin.email]
    assert f"Backup #{first.pk} failed" in mail.outbox[0].subject
    assert [call["json"]["kind"] for call in hook.received] == ["backup_failed"]
    # The other organisation heard nothing.
    assert not IntegrityAlert.objects.filter(organization=tenants.other_org).exists()


def test_a_completed_backup_clears_the_failure_so_the_next_failure_alerts_again(
    tenants, backups_storage
):
    PropertyFactory(project=ProjectFactory(organization=tenants.owner_org))
    for writable, expected in [(False, "failed"), (True, "completed"), (False, "failed")]:
        backups_storage(writable=writable)
        backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
        assert backup.status == expected

    alerts = _alerts(tenants.owner_org, IntegrityAlert.Kind.BACKUP_FAILED).order_by("pk")
    assert alerts.count() == 2
    assert alerts[0].cleared_at is not None and alerts[1].cleared_at is None


def test_an_active_config_without_a_recent_backup_raises_an_overdue_alert_once(
    tenants, django_capture_on_commit_callbacks
):
    config = BackupConfig.objects.create(
        organization=tenants.owner_org, schedule_cron="0 3 * * *", is_active=True
    )
    BackupConfig.objects.filter(pk=config.pk).update(created_at=timezone.now() - timedelta(days=3))
    with django_capture_on_commit_callbacks(execute=True):
        backup_alerts_evaluate(organization=tenants.owner_org)
    with django_capture_on_commit_callbacks(execute=True):
        backup_alerts_evaluate(organization=tenants.owner_org)
    overdue = _alerts(tenants.owner_org, IntegrityAlert.Kind.BACKUP_OVERDUE)
    assert overdue.count() == 1 and overdue.get().cleared_at is None
    assert len(mail.outbox) == 1

    PropertyFactory(project=ProjectFactory(organization=tenants.owner_org))
    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    assert backup.status == "completed"
    assert overdue.get().cleared_at is not None


def test_dashboard_shows_latest_backup_and_import_throughput_to_members_only(
    client, tenants, unwritable_backups
):
    project = ProjectFactory(organization=tenants.owner_org)
    PropertyFactory(project=project)
    backup_create(organization=tenants.owner_org, actor=tenants.manager)
    ImportJobFactory(
        project=project,
        status=ImportJob.Status.COMPLETED,
        total_rows=20000,
        rows_per_second=21500.0,
        started_at=timezone.now(),
    )
    # A preview and a dry run wrote nothing: never part of the throughput.
    ImportJobFactory(
        project=project,
        file_name="preview.csv",
        status=ImportJob.Status.PENDING,
        rows_per_second=999.0,
        preview={"totals": {"total": 7}},
    )
    ImportJobFactory(
        project=project,
        file_name="dry-run.csv",
        status=ImportJob.Status.COMPLETED,
        total_rows=10,
        rows_per_second=100.0,
        started_at=timezone.now(),
        options={"dry_run": True},
    )

    client.force_login(tenants.manager)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Owner Org" in page
    assert "Failed" in page
    assert "21,500 rows/s on average over 1 import<" in page
    assert "completed, 20,000 rows at 21,500 rows/s" in page
    assert "preview (pending), 7 rows" in page and "dry run (completed), 10 rows" in page
    assert "999 rows/s" not in page

    client.force_login(tenants.outsider)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Owner Org" not in page and "21500" not in page
    assert "no backups yet" in page and "no imports yet" in page
