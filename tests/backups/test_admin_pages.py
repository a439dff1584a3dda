"""Backups where people look: Verify, Restore and Download on the backup's own page, for the
roles that may use them; restore counts as a table; the restore pages refresh while one runs."""

import re

import pytest
from django.urls import reverse

from backups.models import BackupExecution, RestoreExecution
from backups.services.backup import backup_create
from backups.services.runs import RunLock
from properties.models import Property

from .helpers import org_rows

pytestmark = pytest.mark.django_db

BUTTONS = ('id="backup-download"', 'id="backup-verify"', 'id="backup-restore"')


@pytest.fixture
def backups(tenants, estate):
    owner = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    other = backup_create(organization=tenants.other_org, actor=tenants.outsider)
    return owner, other


def _page(backup):
    return reverse("admin:backups_backupexecution_change", args=[backup.pk])


def _form(html: str, form_id: str) -> tuple[str, dict]:
    """The action URL and hidden fields of one form on the page, as a browser would post it."""
    form = re.search(rf'<form[^>]*action="([^"]+)"[^>]*id="{form_id}".*?</form>', html, re.S)
    assert form, form_id
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form[0]))
    return form[1], fields


@pytest.mark.parametrize(
    ("role", "shown"),
    [("viewer", ()), ("member", ()), ("manager", BUTTONS), ("admin", BUTTONS)],
)
def test_backup_page_shows_the_buttons_the_role_may_use(client, tenants, backups, role, shown):
    owner, other = backups
    client.force_login(getattr(tenants, role))
    html = client.get(_page(owner)).content.decode()
    for button in BUTTONS:
        assert (button in html) == (button in shown), button
    assert ("/download/" in html) == bool(shown)
    # An outsider's backup is not there at all.
    assert client.get(_page(other)).status_code == 404


def test_no_verify_or_restore_for_a_failed_backup(client, tenants, backups):
    owner, _ = backups
    BackupExecution.objects.filter(pk=owner.pk).update(status=BackupExecution.Status.FAILED)
    client.force_login(tenants.manager)
    html = client.get(_page(owner)).content.decode()
    assert 'id="backup-verify"' not in html and 'id="backup-restore"' not in html


def test_verify_button_verifies_the_backup(client, tenants, backups, run_on_commit):
    owner, _ = backups
    client.force_login(tenants.manager)
    url, fields = _form(client.get(_page(owner)).content.decode(), "backup-verify")
    with run_on_commit():
        response = client.post(url, fields, follow=True)
    assert response.status_code == 200
    owner.refresh_from_db()
    assert owner.verification_status == BackupExecution.Verification.PASSED
    assert "Verification started for 1 backup(s)." in response.content.decode()


def test_restore_button_leads_to_the_plan_and_restores(
    client, tenants, estate, backups, run_on_commit
):
    owner, _ = backups
    before = org_rows(tenants.owner_org)
    spare_pk = estate.spare.pk
    estate.spare.delete()
    client.force_login(tenants.manager)
    url, fields = _form(client.get(_page(owner)).content.decode(), "backup-restore")
    with run_on_commit():
        plan_url = client.post(url, fields)["Location"]
    html = client.get(plan_url).content.decode()
    assert "Restore plan" in html and "Confirm restore" in html
    assert "<td>properties</td><td>1</td><td>0</td><td>0</td>" in html
    assert not Property.objects.filter(pk=spare_pk).exists()
    # The plan's own Confirm form posts back to the plan page.
    with run_on_commit():
        client.post(plan_url)
    assert org_rows(tenants.owner_org) == before
    restore = RestoreExecution.objects.get(dry_run=False)
    assert restore.status == RestoreExecution.Status.COMPLETED

    page = client.get(reverse("admin:backups_restoreexecution_change", args=[restore.pk]))
    html = page.content.decode()
    assert '<table class="restore-counts">' in html
    assert "<td>properties</td><td>1</td><td>0</td><td>0</td>" in html
    assert "<th>Total</th><th>1</th><th>0</th><th>0</th>" in html
    assert '{"inserted"' not in html and "&quot;inserted&quot;" not in html


def test_restore_pages_refresh_while_a_restore_runs(client, tenants, backups):
    owner, other = backups
    running = RestoreExecution.objects.create(organization=tenants.owner_org, backup=owner)
    worker = RunLock(running)  # a live worker: the list does not mark it stopped
    RestoreExecution.objects.create(organization=tenants.other_org, backup=other)
    changelist = reverse("admin:backups_restoreexecution_changelist")
    change = reverse("admin:backups_restoreexecution_change", args=[running.pk])
    refresh = '<meta http-equiv="refresh" content="5">'
    client.force_login(tenants.viewer)
    assert refresh in client.get(changelist).content.decode()
    assert refresh in client.get(change).content.decode()

    running.status = RestoreExecution.Status.COMPLETED
    running.save()
    worker.release()
    assert refresh not in client.get(changelist).content.decode()
    assert refresh not in client.get(change).content.decode()
    # The other organisation's running restore neither shows nor refreshes this page.
    client.force_login(tenants.outsider)
    assert client.get(change).status_code == 404
    client.force_login(tenants.viewer)
    assert refresh not in client.get(changelist).content.decode()
