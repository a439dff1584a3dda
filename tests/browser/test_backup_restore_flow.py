"""Flow 4: a manager backs up, deletes a property, restores after reading the dry-run plan, and
finds the property back."""

from django.urls import reverse
from playwright.sync_api import expect

from backups.models import BackupExecution, RestoreExecution
from properties.models import Property

from .conftest import open_from_index, run_changelist_action


def test_manager_backs_up_deletes_a_property_restores_and_finds_it_back(
    estate, log_in_as, snapshot
):
    lost = estate.properties[1]
    other_before = Property.objects.get(pk=estate.other_property.pk).basic_info

    page = log_in_as(estate.manager)
    open_from_index(page, "backupexecution", "Backup executions")
    page.get_by_role("button", name="Back up now").click()
    expect(page.locator(".messagelist .success")).to_contain_text(
        "Backup of Harbour Property Analytics started"
    )
    backups = page.locator("#result_list tbody tr")
    expect(backups).to_have_count(1)
    expect(backups.first).to_contain_text("Completed")
    backup = BackupExecution.objects.get()
    assert backup.status == BackupExecution.Status.COMPLETED
    assert backup.organization == estate.harbour

    page.goto(reverse("admin:properties_property_change", args=[lost.pk]))
    page.get_by_role("link", name="Delete", exact=True).click()
    page.get_by_role("button", name="Yes, I’m sure").click()
    expect(page.locator(".messagelist .success")).to_contain_text("20 Swan Street")
    assert not Property.objects.filter(pk=lost.pk).exists()

    open_from_index(page, "backupexecution", "Backup executions")
    run_changelist_action(page, "restore_backup", backup.pk)

    plan = page.locator("#restore-plan")
    expect(plan.locator("tbody tr", has_text="properties").locator("td").nth(1)).to_have_text("1")
    expect(plan.locator("tfoot")).to_contain_text("Total")
    snapshot(page, "restore-plan")
    assert not Property.objects.filter(pk=lost.pk).exists()  # the plan changed nothing
    page.get_by_role("button", name="Yes, restore").click()
    expect(page.locator(".messagelist .success")).to_contain_text(
        f"Restore of Harbour Property Analytics from backup {backup.pk} started"
    )

    open_from_index(page, "property", "Properties")
    page.locator("#searchbar").fill("Swan Street")
    page.locator("#searchbar").press("Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("20 Swan Street")

    restored = Property.objects.get(external_id=lost.external_id, project=estate.project)
    assert restored.basic_info == lost.basic_info
    assert restored.financial_metrics == lost.financial_metrics
    restore = RestoreExecution.objects.get(dry_run=False)
    assert restore.status == RestoreExecution.Status.COMPLETED and restore.actor == estate.manager
    assert Property.objects.get(pk=estate.other_property.pk).basic_info == other_before
