"""Restore plans never run inside a request: the admin queues the dry run as a django-q2 task
and opens its plan page, which refreshes itself while the plan is pending, then shows it with
the Confirm button that queues the restore; only roles that may restore start or see a plan,
and another organisation's plan is a 404."""

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.urls import reverse

from backups.models import RestoreExecution
from backups.services.backup import backup_create
from backups.services.queued import restore_execute, restore_queue
from backups.services.runs import run_lock_held
from properties.models import Property

from .helpers import org_rows

pytestmark = pytest.mark.django_db

BACKUPS = "admin:backups_backupexecution_changelist"
REFRESH = '<meta http-equiv="refresh" content="2">'
Status = RestoreExecution.Status


@pytest.fixture
def backup(tenants, estate):
    return backup_create(organization=tenants.owner_org, actor=tenants.manager)


def _plan_url(plan) -> str:
    return reverse("admin:backups_restoreexecution_plan", args=[plan.pk])


def _start_plan(client, backup, **options):
    """Posts the backups' Restore action as the page's button does; the plan's task is left
    queued (the test's transaction never commits) and returned with the response."""
    data = {"action": "restore_backup", ACTION_CHECKBOX_NAME: [backup.pk], **options}
    return client.post(reverse(BACKUPS), data)


def _planned(client, backup, capture, **options) -> RestoreExecution:
    """Starts a plan and lets the worker run it: the finished plan."""
    with capture(execute=True):
        _start_plan(client, backup, **options)
    return RestoreExecution.objects.get(dry_run=True)


def _run_queued(callbacks) -> None:
    """What the cluster does once the request's transaction has committed: django-q2 (sync
    mode in tests) runs the queued task."""
    for callback in callbacks:
        callback()


def test_plan_is_a_task_whose_page_shows_pending_then_the_plan_and_confirm_restores(
    client, tenants, estate, backup, django_capture_on_commit_callbacks
):
    before = org_rows(tenants.owner_org)
    spare_pk = estate.spare.pk
    estate.spare.delete()
    client.force_login(tenants.manager)

    with django_capture_on_commit_callbacks() as queued:
        response = _start_plan(client, backup)

    plan = RestoreExecution.objects.get()
    assert (plan.status, plan.dry_run, plan.backup, plan.actor) == (
        Status.PENDING,
        True,
        backup,
        tenants.manager,
    )
    assert response.status_code == 302 and response["Location"] == _plan_url(plan)
    assert len(queued) == 1
    waiting = client.get(_plan_url(plan)).content.decode()
    assert REFRESH in waiting and "Waiting for a worker" in waiting
    assert 'id="restore-plan"' not in waiting and "Confirm restore" not in waiting

    _run_queued(queued)

    plan.refresh_from_db()
    assert plan.status == Status.COMPLETED and not run_lock_held(plan)
    assert not Property.objects.filter(pk=spare_pk).exists()  # a plan changes nothing
    page = client.get(_plan_url(plan)).content.decode()
    assert REFRESH not in page
    assert "<td>properties</td><td>1</td><td>0</td><td>0</td>" in page
    assert "<th>Total</th><th>1</th><th>0</th><th>0</th>" in page
    assert "Confirm restore" in page

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(_plan_url(plan), follow=True)

    restore = RestoreExecution.objects.get(dry_run=False)
    assert confirmed.redirect_chain[-1][0] == reverse(
        "admin:backups_restoreexecution_change", args=[restore.pk]
    )
    assert f"Restore of Owner Org from backup {backup.pk} started" in confirmed.content.decode()
    assert (restore.status, restore.strategy, restore.actor) == (
        Status.COMPLETED,
        "replace_all",
        tenants.manager,
    )
    assert org_rows(tenants.owner_org) == before


def test_restore_page_refreshes_while_the_confirmed_restore_is_pending(
    client, tenants, estate, backup, django_capture_on_commit_callbacks
):
    client.force_login(tenants.manager)
    plan = _planned(client, backup, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks() as queued:
        client.post(_plan_url(plan))

    restore = RestoreExecution.objects.get(dry_run=False)
    page = reverse("admin:backups_restoreexecution_change", args=[restore.pk])
    assert restore.status == Status.PENDING
    assert '<meta http-equiv="refresh" content="5">' in client.get(page).content.decode()
    _run_queued(queued)
    assert '<meta http-equiv="refresh"' not in client.get(page).content.decode()
    restore.refresh_from_db()
    assert restore.status == Status.COMPLETED


def test_merge_plan_shows_skips_and_conflicting_rows_and_confirms_the_same_options(
    client, tenants, estate, backup, django_capture_on_commit_callbacks
):
    edited = estate.properties[0]
    edited.basic_info = {**edited.basic_info, "address": "7 Edited Rd"}
    edited.save()
    client.force_login(tenants.manager)

    plan = _planned(
        client, backup, django_capture_on_commit_callbacks, strategy="merge", conflict="rename"
    )

    page = client.get(_plan_url(plan)).content.decode()
    assert "<th>Skipped</th><th>Renamed</th>" in page
    assert "Conflicting rows (a sample)" in page and "7 Edited Rd" in page
    assert '<option value="rename" selected>' in page  # the re-plan form keeps the choice
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_plan_url(plan))

    restore = RestoreExecution.objects.get(dry_run=False)
    assert (restore.strategy, restore.conflict_policy) == ("merge", "rename")
    assert restore.counts["properties_property"]["renamed"] == 1
    edited.refresh_from_db()
    assert edited.basic_info["address"] == "7 Edited Rd"


def test_a_refused_plan_shows_its_sentence_and_offers_no_confirm(
    client, tenants, estate, backup, django_capture_on_commit_callbacks
):
    client.force_login(tenants.manager)
    plan = _planned(client, backup, django_capture_on_commit_callbacks, strategy="selective")

    assert plan.status == Status.REFUSED
    page = client.get(_plan_url(plan)).content.decode()
    assert 'id="plan-refused"' in page and "A selective restore needs --tables." in page
    assert "Confirm restore" not in page and "Plan with these options" in page
    client.post(_plan_url(plan))
    assert not RestoreExecution.objects.filter(dry_run=False).exists()


def test_outsider_gets_404_for_another_organisations_plan_and_cannot_confirm_it(
    client, tenants, estate, backup, django_capture_on_commit_callbacks
):
    estate.spare.delete()
    client.force_login(tenants.manager)
    plan = _planned(client, backup, django_capture_on_commit_callbacks)

    client.force_login(tenants.outsider)
    assert client.get(_plan_url(plan)).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(_plan_url(plan)).status_code == 404
        # Nor can the outsider plan from the owner's backup: it is not in their list.
        _start_plan(client, backup)

    assert RestoreExecution.objects.count() == 1
    assert Property.objects.filter(organization=tenants.owner_org).count() == 3
    listed = client.get(reverse("admin:backups_restoreexecution_changelist")).content.decode()
    assert _plan_url(plan) not in listed


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_roles_that_may_not_restore_cannot_start_or_see_a_plan(
    client, tenants, estate, backup, role, django_capture_on_commit_callbacks
):
    plan = restore_queue(
        organization=tenants.owner_org, actor=tenants.manager, backup=backup, dry_run=True
    )
    restore_execute(restore=plan)
    client.force_login(getattr(tenants, role))

    with django_capture_on_commit_callbacks(execute=True):
        _start_plan(client, backup)
        refused = client.post(_plan_url(plan))

    assert RestoreExecution.objects.count() == 1
    page = client.get(_plan_url(plan))
    assert page.status_code == refused.status_code == 403
    assert "manager role or above" in page.content.decode()
    listed = client.get(reverse("admin:backups_restoreexecution_changelist"))
    assert listed.status_code == 200 and _plan_url(plan) not in listed.content.decode()


def test_superuser_sees_another_organisations_plan_but_restores_only_with_the_box(
    client, tenants, estate, backup, django_capture_on_commit_callbacks
):
    estate.spare.delete()
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    plan = _planned(client, backup, django_capture_on_commit_callbacks)
    assert plan.status == Status.COMPLETED
    assert "I am restoring Owner Org" in client.get(_plan_url(plan)).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        refused = client.post(_plan_url(plan), follow=True)
    assert "must be confirmed explicitly" in refused.content.decode()
    assert Property.objects.filter(organization=tenants.owner_org).count() == 3

    with django_capture_on_commit_callbacks(execute=True):
        client.post(_plan_url(plan), {"allow_cross_org": "yes"})
    assert Property.objects.filter(organization=tenants.owner_org).count() == 4


def test_a_plan_task_delivered_twice_runs_once(tenants, estate, backup, run_on_commit):
    from django_q.tasks import async_task

    plan = restore_queue(
        organization=tenants.owner_org, actor=tenants.manager, backup=backup, dry_run=True
    )
    async_task("backups.tasks.restore_execute_task", plan.pk)
    plan.refresh_from_db()
    finished = (plan.status, plan.completed_at)
    assert plan.status == Status.COMPLETED

    async_task("backups.tasks.restore_execute_task", plan.pk)

    plan.refresh_from_db()
    assert (plan.status, plan.completed_at) == finished


def test_plan_page_of_a_real_restore_is_a_404(client, tenants, estate, backup):
    restore = restore_queue(
        organization=tenants.owner_org, actor=tenants.manager, backup=backup, dry_run=False
    )
    client.force_login(tenants.manager)
    assert client.get(_plan_url(restore)).status_code == 404
    listed = client.get(reverse("admin:backups_restoreexecution_changelist")).content.decode()
    assert re.search(r'<meta http-equiv="refresh" content="5">', listed)


def test_confirming_a_plan_whose_backup_was_deleted_is_refused_with_a_sentence(
    client, tenants, estate, backup, django_capture_on_commit_callbacks
):
    from backups.models import BackupExecution

    client.force_login(tenants.manager)
    plan = _planned(client, backup, django_capture_on_commit_callbacks)
    BackupExecution.objects.filter(pk=backup.pk).delete()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_plan_url(plan), follow=True)

    assert "Restore refused: The backup to restore from no longer exists." in (
        response.content.decode()
    )
    assert not RestoreExecution.objects.filter(dry_run=False).exists()


def test_a_plan_is_confirmed_once_and_a_second_confirmation_says_which_restore_it_became(
    client, tenants, estate, backup, django_capture_on_commit_callbacks
):
    """A double click on Confirm queues one restore; the second post is refused with a
    sentence the plan page shows, and the page then links the restore instead of the button."""
    client.force_login(tenants.manager)
    plan = _planned(client, backup, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks() as queued:
        client.post(_plan_url(plan))
        again = client.post(_plan_url(plan), follow=True)

    restore = RestoreExecution.objects.get(dry_run=False)
    assert len(queued) == 1
    sentence = f"This plan was already confirmed as restore {restore.pk}."
    assert again.redirect_chain[-1][0] == _plan_url(plan)
    assert sentence in again.content.decode()
    plan.refresh_from_db()
    assert plan.report["confirmed_as"] == restore.pk
    page = client.get(_plan_url(plan)).content.decode()
    assert 'id="plan-confirmed"' in page and 'id="plan-confirm"' not in page
    assert reverse("admin:backups_restoreexecution_change", args=[restore.pk]) in page
    client.force_login(tenants.outsider)
    assert client.post(_plan_url(plan)).status_code == 404
    assert RestoreExecution.objects.filter(dry_run=False).count() == 1
