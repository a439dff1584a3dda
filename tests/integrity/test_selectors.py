from datetime import timedelta

import pytest
from django.utils import timezone

from integrity.charts import line_chart
from integrity.models import DataIntegrityReport
from integrity.selectors import dashboard_rows, report_get, report_list, report_trend
from integrity.services.reports import integrity_report_create


def test_report_get_of_another_organisation_fails_like_a_missing_one(tenants):
    report = integrity_report_create(organization=tenants.owner_org)
    assert report_get(user=tenants.viewer, report_id=report.pk) == report
    with pytest.raises(DataIntegrityReport.DoesNotExist):
        report_get(user=tenants.outsider, report_id=report.pk)
    with pytest.raises(DataIntegrityReport.DoesNotExist):
        report_get(user=tenants.viewer, report_id=report.pk + 1000)
    assert list(report_list(organization=tenants.other_org)) == []


def test_trend_covers_the_last_90_days_oldest_first(planted, tenants):
    reports = [integrity_report_create(organization=tenants.owner_org) for _ in range(3)]
    DataIntegrityReport.objects.filter(pk=reports[0].pk).update(
        created_at=timezone.now() - timedelta(days=91)
    )
    DataIntegrityReport.objects.filter(pk=reports[1].pk).update(
        created_at=timezone.now() - timedelta(days=89)
    )
    integrity_report_create(organization=tenants.other_org)
    trend = report_trend(organization=tenants.owner_org)
    assert len(trend) == 2
    assert trend[0]["created_at"] < trend[1]["created_at"]
    assert trend[1]["counts"]["missing_address"] == 4
    assert set(trend[0]["completeness"]) >= {"address", "zoning"}


def test_dashboard_rows_are_the_users_organisation_only(tenants):
    integrity_report_create(organization=tenants.other_org)
    rows = dashboard_rows(user=tenants.member)
    assert [row["organization"] for row in rows] == [tenants.owner_org]
    assert rows[0]["report"] is None
    assert [row["organization"] for row in dashboard_rows(user=tenants.outsider)] == [
        tenants.other_org
    ]


def test_chart_escapes_labels_from_the_database():
    now = timezone.now()
    svg = line_chart(
        [("<script>x</script>", [(now - timedelta(days=1), 3), (now, 5)])],
        start=now - timedelta(days=90),
        end=now,
        title="A & B",
    )
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg and "A &amp; B" in svg
    assert svg.count("<circle") == 2 and "<polyline" in svg
