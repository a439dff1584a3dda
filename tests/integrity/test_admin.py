import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrity.checks import CHECKS
from integrity.models import DataIntegrityReport, IntegrityAlert
from integrity.services.reports import integrity_report_create
from tests.factories import UserFactory

from .conftest import EXPECTED

CHANGELIST = reverse("admin:integrity_dataintegrityreport_changelist")
RUN = reverse("admin:integrity_dataintegrityreport_run")


def _report_url(report):
    return reverse("admin:integrity_dataintegrityreport_change", args=[report.pk])


@pytest.fixture
def reports(planted, tenants):
    old = integrity_report_create(organization=tenants.owner_org)
    DataIntegrityReport.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=100)
    )
    earlier = integrity_report_create(organization=tenants.owner_org)
    DataIntegrityReport.objects.filter(pk=earlier.pk).update(
        created_at=timezone.now() - timedelta(days=3)
    )
    latest = integrity_report_create(organization=tenants.owner_org)
    other = integrity_report_create(organization=tenants.other_org)
    return {"old": old, "earlier": earlier, "latest": latest, "other": other}


def test_report_list_is_newest_first_in_colour_and_tenant_scoped(client, tenants, reports):
    client.force_login(tenants.manager)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    listed = [report.pk for report in response.context["cl"].result_list]
    assert listed == [reports["latest"].pk, reports["earlier"].pk, reports["old"].pk]
    html = response.content.decode()
    assert '<strong style="color:#c62828">9</strong>' in html
    assert '<strong style="color:#ef6c00">16</strong>' in html
    assert "Run checks now" in html

    client.force_login(tenants.outsider)
    response = client.get(CHANGELIST)
    assert [r.pk for r in response.context["cl"].result_list] == [reports["other"].pk]


def test_report_page_shows_checks_samples_links_metrics_and_charts(client, tenants, reports):
    client.force_login(tenants.manager)
    report = reports["latest"]
    response = client.get(_report_url(report))
    assert response.status_code == 200
    html = response.content.decode()
    for check in CHECKS:
        row = re.search(rf'<tr id="check-{check.slug}">(.*?)</tr>', html, re.S).group(1)
        assert f">{EXPECTED['owner-org'][check.slug]}</td>" in row
        assert f"?integrity_check={check.slug}&amp;organization__id__exact=" in row
    sample = report.check_results[0]["samples"][0]
    assert reverse("admin:properties_property_change", args=[sample["id"]]) in html
    assert 'id="integrity-metrics"' in html and "Completeness: land area" in html
    # One completeness chart and one per check, over the 2 reports of the last 90 days.
    assert html.count('class="integrity-chart"') == len(CHECKS) + 1
    assert "2 reports in the last 90 days" in html
    assert html.count("<circle") == 2 * len(CHECKS) + 2 * 5
    assert "cdn" not in html.lower() and '<script src="http' not in html


def test_viewer_may_read_a_report_but_not_run_checks(client, tenants, reports):
    client.force_login(tenants.viewer)
    assert client.get(_report_url(reports["latest"])).status_code == 200
    assert "Run checks now" not in client.get(CHANGELIST).content.decode()
    assert client.post(RUN).status_code == 403
    assert DataIntegrityReport.objects.count() == 4


def test_other_organisations_report_is_404(client, tenants, reports):
    client.force_login(tenants.outsider)
    assert client.get(_report_url(reports["latest"])).status_code == 404
    client.force_login(tenants.manager)
    assert client.get(_report_url(reports["other"])).status_code == 404


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.slug)
def test_check_link_lists_exactly_the_offending_rows(client, tenants, planted, reports, check):
    report = reports["latest"]
    link = next(r for r in _rows(client, tenants.manager, report) if r["slug"] == check.slug)
    response = client.get(link["changelist_url"])
    assert response.status_code == 200
    shown = {row.pk for row in response.context["cl"].result_list}
    assert shown == planted.offending["owner-org"][check.slug]

    # The outsider following the same link sees none of them (nor any of their own rows: the
    # link names the report's organisation).
    client.force_login(tenants.outsider)
    response = client.get(link["changelist_url"])
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    own_link = link["changelist_url"].split("&")[0]
    shown = {row.pk for row in client.get(own_link).context["cl"].result_list}
    assert shown == planted.offending["other-org"][check.slug]


def _rows(client, user, report):
    client.force_login(user)
    return client.get(_report_url(report)).context["checks"]


def test_superuser_link_is_limited_to_the_reports_organisation(client, planted, reports):
    root = UserFactory(username="root", is_superuser=True)
    client.force_login(root)
    index = client.get(reverse("admin:index")).content.decode()
    assert 'data-organization="owner-org"' in index and 'data-organization="other-org"' in index
    listed = client.get(CHANGELIST + f"?organization__id__exact={reports['other'].organization_id}")
    assert [r.pk for r in listed.context["cl"].result_list] == [reports["other"].pk]
    rows = client.get(_report_url(reports["other"])).context["checks"]
    link = next(r for r in rows if r["slug"] == "missing_address")["changelist_url"]
    shown = {row.pk for row in client.get(link).context["cl"].result_list}
    assert shown == planted.offending["other-org"]["missing_address"]


def test_run_checks_now_action_and_button_store_reports(client, tenants, reports, run_on_commit):
    client.force_login(tenants.manager)
    with run_on_commit():
        response = client.post(
            CHANGELIST,
            {"action": "run_checks_now", "_selected_action": [reports["earlier"].pk]},
            follow=True,
        )
    assert response.status_code == 200
    assert "Checks started for Owner Org" in response.content.decode()
    newest = DataIntegrityReport.objects.filter(organization=tenants.owner_org).first()
    assert newest.trigger == "admin" and newest.created_by == tenants.manager
    response = client.get(CHANGELIST)
    assert newest.pk in [r.pk for r in response.context["cl"].result_list]

    with run_on_commit():
        response = client.post(RUN)
    assert response.status_code == 302
    assert DataIntegrityReport.objects.filter(organization=tenants.owner_org).count() == 5
    # The button runs the acting user's organisation only.
    assert DataIntegrityReport.objects.filter(organization=tenants.other_org).count() == 1
    assert client.get(RUN).status_code == 405


def test_alerts_are_listed_for_their_organisation_only(client, tenants, reports):
    owner_alerts = set(
        IntegrityAlert.objects.filter(organization=tenants.owner_org).values_list("pk", flat=True)
    )
    assert len(owner_alerts) == 4
    url = reverse("admin:integrity_integrityalert_changelist")
    client.force_login(tenants.manager)
    response = client.get(url)
    assert {a.pk for a in response.context["cl"].result_list} == owner_alerts
    assert "open" in response.content.decode()
    client.force_login(tenants.outsider)
    shown = {a.pk for a in client.get(url).context["cl"].result_list}
    assert shown and not shown & owner_alerts
    owner_alert = IntegrityAlert.objects.filter(organization=tenants.owner_org).first()
    detail = reverse("admin:integrity_integrityalert_change", args=[owner_alert.pk])
    assert client.get(detail).status_code == 404
    # Alerts name the admins they were sent to: managers and admins only.
    client.force_login(tenants.viewer)
    assert client.get(url).status_code == 403


def test_dashboard_panel_shows_each_visible_organisations_latest_report(client, tenants, reports):
    client.force_login(tenants.manager)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="integrity-dashboard"' in html
    assert 'data-organization="owner-org"' in html
    assert 'data-organization="other-org"' not in html
    assert _report_url(reports["latest"]) in html
    assert "9 error(s)" in html
    # The backups and imports apps are not part of this branch: the panel says so plainly.
    assert "no backups yet" in html and "no imports yet" in html

    client.force_login(tenants.outsider)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'data-organization="other-org"' in html
    assert 'data-organization="owner-org"' not in html
    assert _report_url(reports["latest"]) not in html


def test_dashboard_panel_for_an_organisation_without_reports(client, tenants):
    client.force_login(tenants.viewer)
    html = client.get(reverse("admin:index")).content.decode()
    assert "no report yet" in html
