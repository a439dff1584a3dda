"""Sources in the admin, for organisation admins only; outsiders see nothing."""

import pytest
from django.urls import reverse

from properties.models import Property
from sources.models import DataSource, SyncRun

from .helpers import ckan_source, sync
from .portal import RESOURCE_ID, make_record


@pytest.fixture
def synced(tenants, project, portal):
    portal.load([make_record(1), make_record(2), make_record(3, postcode="=HYPERLINK(1)")])
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)
    run = sync(source, tenants.admin)
    return source, run


@pytest.mark.django_db
class TestSourceAdmin:
    def test_admin_lists_own_sources_and_outsider_sees_none(self, client, tenants, synced):
        source, _ = synced
        client.force_login(tenants.admin)
        page = client.get(reverse("admin:sources_datasource_changelist"))
        assert page.status_code == 200 and source.name in page.content.decode()

        client.force_login(tenants.outsider)
        page = client.get(reverse("admin:sources_datasource_changelist"))
        assert source.name not in page.content.decode()
        change = client.get(reverse("admin:sources_datasource_change", args=[source.pk]))
        assert change.status_code == 404

    def test_managers_do_not_see_sources(self, client, tenants, synced):
        client.force_login(tenants.manager)
        assert client.get(reverse("admin:sources_datasource_changelist")).status_code == 403

    def test_the_form_adds_a_source_and_its_schedule(self, client, tenants, project, portal):
        from django_q.models import Schedule

        client.force_login(tenants.admin)
        response = client.post(
            reverse("admin:sources_datasource_add"),
            {
                "project": project.pk,
                "name": "Planning zones",
                "kind": "ckan_datastore",
                "active": "on",
                "url": portal.url,
                "resource_id": RESOURCE_ID,
                "api_token_env": "",
                "column_overrides": '{"property_pfi": "propertyid"}',
                "schedule_cron": "0 3 * * *",
                "on_vanish": "archive",
            },
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        source = DataSource.objects.get(name="Planning zones")
        assert source.organization == tenants.owner_org
        assert source.created_by == tenants.admin
        schedule = Schedule.objects.get(name=f"source-sync-{source.pk}")
        assert (schedule.cron, schedule.func) == (
            "0 3 * * *",
            "sources.tasks.source_scheduled_sync_task",
        )

    def test_the_form_refuses_a_bad_cron_and_a_private_url(
        self, client, tenants, project, settings
    ):
        settings.SYNC_ALLOW_PRIVATE_HOSTS = False
        client.force_login(tenants.admin)
        response = client.post(
            reverse("admin:sources_datasource_add"),
            {
                "project": project.pk,
                "name": "Bad",
                "kind": "file_url",
                "active": "on",
                "url": "http://127.0.0.1:9/x.csv",
                "column_overrides": "{}",
                "schedule_cron": "every night",
                "on_vanish": "ignore",
            },
        )
        assert response.status_code == 200
        body = response.content.decode()
        assert "is not a cron expression" in body
        assert "does not resolve to a public internet address" in body
        assert not DataSource.objects.exists()

    def test_sync_now_runs_the_source(
        self, client, tenants, project, portal, django_capture_on_commit_callbacks
    ):
        portal.load([make_record(n) for n in range(1, 4)])
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)
        client.force_login(tenants.admin)

        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("admin:sources_datasource_changelist"),
                {"action": "sync_now", "_selected_action": [source.pk]},
            )

        assert response.status_code == 302
        run = SyncRun.objects.get(source=source)
        assert (run.status, run.created, run.actor) == ("completed", 3, tenants.admin)

    def test_outsider_cannot_sync_another_organisations_source(
        self, client, tenants, project, portal
    ):
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)
        client.force_login(tenants.outsider)

        client.post(
            reverse("admin:sources_datasource_changelist"),
            {"action": "sync_now", "_selected_action": [source.pk]},
        )

        assert not SyncRun.objects.exists()


@pytest.mark.django_db
class TestRunPages:
    def test_run_page_shows_progress_counts_and_the_rejected_csv(self, client, tenants, synced):
        _, run = synced
        client.force_login(tenants.admin)
        page = client.get(reverse("admin:sources_syncrun_change", args=[run.pk]))
        body = page.content.decode()
        assert page.status_code == 200
        assert '<progress value="100" max="100">' in body
        assert "Download the 1 rejected records (CSV)" in body

        csv = client.get(reverse("admin:sources_syncrun_rejected", args=[run.pk]))
        text = csv.content.decode()
        assert csv["Content-Type"] == "text/csv"
        assert "'=HYPERLINK(1)" in text  # a formula is neutralised
        assert "postcode: must be exactly 4 digits" in text

    def test_outsider_gets_404_for_run_and_csv(self, client, tenants, synced):
        _, run = synced
        client.force_login(tenants.outsider)
        assert client.get(reverse("admin:sources_syncrun_change", args=[run.pk])).status_code == 404
        assert client.get(reverse("admin:sources_syncrun_rejected", args=[run.pk])).status_code in (
            403,
            404,
        )

    def test_the_property_page_shows_its_provenance(self, client, tenants, synced):
        source, run = synced
        prop = Property.objects.get(external_id="PFI0000001")
        client.force_login(tenants.viewer)
        body = client.get(reverse("admin:properties_property_change", args=[prop.pk])).content
        text = body.decode()
        assert "provenance (open-data sources)" in text.lower()
        assert "PFI0000001" in text
        assert f"sync {run.pk}" in text and source.name in text
