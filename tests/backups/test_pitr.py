"""Point-in-time restore: an organisation's state at an instant between two edits."""

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from backups.models import BackupExecution, RestoreExecution
from backups.pitr import organization_restore_as_of, restorable_window
from backups.services.backup import backup_create
from backups.services.permissions import BackupRefused
from backups.services.runs import run_lock_held
from properties.models import Property
from tests.factories import ImportJobFactory, PropertyAnalysisFactory, PropertyFactory

from .helpers import org_rows
from .test_incremental import fingerprint

pytestmark = pytest.mark.django_db


def _edits_around_an_instant(tenants, estate):
    """Edits, a deletion and an addition, then the instant and its state, then more of each."""
    first, second, third = estate.properties
    first.basic_info = {**first.basic_info, "address": "1 Before St"}
    first.save()
    third.delete()
    PropertyFactory(project=estate.second_project)
    instant = timezone.now()
    state = fingerprint(tenants.owner_org)
    first.basic_info = {**first.basic_info, "address": "2 After St"}
    first.save()
    second.delete()
    PropertyAnalysisFactory(property=first)
    estate.project.name = "Renamed after"
    estate.project.save()
    return instant, state


def _restore(tenants, instant, **kwargs):
    return organization_restore_as_of(
        organization=tenants.owner_org, as_of=instant, actor=tenants.manager, **kwargs
    )


def test_restores_the_state_between_two_edits_from_a_backup_and_history(tenants, estate):
    base = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    instant, state = _edits_around_an_instant(tenants, estate)
    other_before = org_rows(tenants.other_org)

    restore = _restore(tenants, instant)

    assert restore.status == "completed" and restore.backup == base
    assert fingerprint(tenants.owner_org) == state
    assert org_rows(tenants.other_org) == other_before
    assert Property.history.filter(history_change_reason=f"restore {restore.pk}").exists()


def test_an_incremental_base_restores_through_its_chain(tenants, estate):
    backup_create(organization=tenants.owner_org)
    estate.spare.delete()
    increment = backup_create(organization=tenants.owner_org, backup_type="incremental")
    instant, state = _edits_around_an_instant(tenants, estate)

    restore = _restore(tenants, instant)

    assert restore.backup == increment
    assert fingerprint(tenants.owner_org) == state


def test_without_a_backup_the_history_alone_rebuilds_the_state(tenants, estate):
    instant, state = _edits_around_an_instant(tenants, estate)

    restore = _restore(tenants, instant)

    assert restore.backup is None
    assert fingerprint(tenants.owner_org) == state


def test_a_dry_run_counts_and_changes_nothing(tenants, estate):
    instant, _ = _edits_around_an_instant(tenants, estate)
    before = org_rows(tenants.owner_org)

    restore = _restore(tenants, instant, dry_run=True)

    assert org_rows(tenants.owner_org) == before
    counts = restore.counts["properties_property"]
    assert (counts["inserted"], counts["updated"], counts["deleted"]) == (1, 1, 0)
    assert restore.counts["properties_propertyanalysis"]["deleted"] == 1


def test_instants_out_of_reach_are_refused(tenants, estate):
    Property.objects.bulk_create(
        [Property(project=estate.project, organization=tenants.owner_org, external_id="NO-HIST")]
    )
    with pytest.raises(BackupRefused, match="does not reach back"):
        _restore(tenants, timezone.now() - timedelta(minutes=1))
    with pytest.raises(BackupRefused, match="in the future"):
        _restore(tenants, timezone.now() + timedelta(days=1))
    assert RestoreExecution.objects.filter(status="refused").count() == 2
    assert restorable_window(tenants.owner_org)[0] is None
    backup = backup_create(organization=tenants.owner_org)
    assert restorable_window(tenants.owner_org)[0] == backup.completed_at


def test_an_outsider_cannot_restore_another_organisation_to_an_instant(tenants, estate):
    instant, _ = _edits_around_an_instant(tenants, estate)
    before = org_rows(tenants.owner_org)
    with pytest.raises(BackupRefused, match="not a member"):
        organization_restore_as_of(
            organization=tenants.owner_org, as_of=instant, actor=tenants.outsider
        )
    assert org_rows(tenants.owner_org) == before


def test_restore_org_command_prints_its_summary_and_refuses_bad_instants(tenants, estate):
    backup = backup_create(organization=tenants.owner_org)
    instant, state = _edits_around_an_instant(tenants, estate)
    out = io.StringIO()

    call_command("restore_org", "owner-org", "--as-of", instant.isoformat(), stdout=out)

    pairs = dict(re.findall(r"(\w+)=(\S+)", out.getvalue()))
    assert (pairs["base_backup"], pairs["status"]) == (str(backup.pk), "completed")
    assert fingerprint(tenants.owner_org) == state
    with pytest.raises(CommandError, match="not an ISO 8601"):
        call_command("restore_org", "owner-org", "--as-of", "yesterday")
    with pytest.raises(CommandError, match="status=refused"):
        call_command("restore_org", "owner-org", "--as-of", "2999-01-01T00:00:00+00:00")
    assert BackupExecution.objects.count() == 1


def test_admin_shows_the_window_plans_an_instant_as_a_task_then_restores_to_it(
    client, tenants, estate, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    backup = backup_create(organization=tenants.owner_org)
    instant, state = _edits_around_an_instant(tenants, estate)
    page_url = reverse("admin:backups_recoverypoint_point_in_time")
    as_of = timezone.localtime(instant).strftime("%Y-%m-%dT%H:%M:%S.%f")
    client.force_login(tenants.manager)

    listing = client.get(reverse("admin:backups_recoverypoint_changelist"))
    assert listing.context["window"]["start"] <= backup.completed_at
    assert page_url in listing.content.decode()
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(page_url, {"as_of": as_of})
    plan = RestoreExecution.objects.get()
    plan_url = reverse("admin:backups_restoreexecution_plan", args=[plan.pk])
    assert response["Location"] == plan_url
    assert (plan.status, plan.strategy, plan.as_of) == ("pending", "point_in_time", instant)
    assert "Waiting for a worker" in client.get(plan_url).content.decode()

    for callback in queued:
        callback()

    shown = client.get(plan_url)
    assert shown.context["restore"].backup == backup
    assert shown.context["totals"]["inserted"] == 1
    assert f"from backup {backup.pk} and the history written since" in shown.content.decode()
    assert fingerprint(tenants.owner_org) != state
    with django_capture_on_commit_callbacks(execute=True):
        client.post(plan_url)

    assert RestoreExecution.objects.filter(
        strategy="point_in_time", dry_run=False
    ).get().status == ("completed")
    assert fingerprint(tenants.owner_org) == state


def test_admin_plan_of_an_instant_out_of_reach_shows_the_refusal(
    client, tenants, estate, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    client.force_login(tenants.manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:backups_recoverypoint_point_in_time"),
            {"as_of": "2999-01-01T00:00:00"},
        )
    plan = RestoreExecution.objects.get()
    assert plan.status == "refused"
    page = client.get(reverse("admin:backups_restoreexecution_plan", args=[plan.pk]))
    assert "is in the future" in page.content.decode()
    assert "Confirm restore" not in page.content.decode()


def test_admin_point_in_time_page_is_for_restoring_members_only(client, tenants, estate):
    from django.urls import reverse

    page_url = reverse("admin:backups_recoverypoint_point_in_time")
    client.force_login(tenants.viewer)
    assert client.get(page_url).status_code == 404
    client.force_login(tenants.outsider)
    client.post(page_url, {"as_of": timezone.now().isoformat(), "post": "yes"})
    assert not RestoreExecution.objects.filter(organization=tenants.owner_org).exists()


def test_a_point_in_time_restore_holds_its_run_lock_and_waits_for_a_running_import(
    tenants, estate, monkeypatch
):
    from imports.models import ImportJob
    from organizations import locks

    backup_create(organization=tenants.owner_org)
    instant, state = _edits_around_an_instant(tenants, estate)
    held = []

    def lock_seen_by_the_busy_check(organization):
        # Busy checks run under the organisation lock, inside the restore's transaction.
        running = RestoreExecution.objects.get(organization=organization, status="running")
        held.append(run_lock_held(running))

    monkeypatch.setattr(locks, "_busy_checks", [*locks._busy_checks, lock_seen_by_the_busy_check])

    restore = _restore(tenants, instant)

    assert held == [True]
    assert restore.status == "completed" and not run_lock_held(restore)
    assert fingerprint(tenants.owner_org) == state
    job = ImportJobFactory(project=estate.project, status=ImportJob.Status.IMPORTING)
    with pytest.raises(BackupRefused, match=f"Import {job.pk} into owner-org is running"):
        _restore(tenants, timezone.now())
    refused = RestoreExecution.objects.latest("pk")
    assert refused.status == "refused" and not run_lock_held(refused)
    assert fingerprint(tenants.owner_org) == state
