"""Times on the organisation's clock: pages, report headings and bodies, backup file names,
export file names and command output."""

import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from backups.services.backup import backup_create
from integrity.models import DataIntegrityReport
from integrity.services.reports import integrity_report_create
from organizations.models import Organization
from tests.factories import ProjectFactory, PropertyFactory, UserFactory

PERTH = ZoneInfo("Australia/Perth")
#: 23:30 UTC is 07:30 the next day in Perth: date and hour both differ.
MOMENT = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)


@pytest.fixture
def perth(tenants):
    org = tenants.owner_org
    org.time_zone = "Australia/Perth"
    org.save()
    return org


def test_an_organisation_without_a_zone_uses_the_deployments(tenants):
    assert tenants.owner_org.time_zone == ""
    assert tenants.owner_org.zone == ZoneInfo(settings.TIME_ZONE)


def test_an_unknown_zone_is_refused_with_a_sentence(tenants):
    org = tenants.owner_org
    org.time_zone = "Mars/Olympus_Mons"
    with pytest.raises(ValidationError, match="is not a time zone name"):
        org.full_clean()


def test_organisation_admin_sets_the_zone_and_others_cannot(client, tenants):
    org = tenants.owner_org
    url = reverse("admin:organizations_organization_change", args=[org.pk])
    client.force_login(tenants.admin)
    form = {
        "name": org.name,
        "settings": "{}",
        "time_zone": "Australia/Perth",
        "profiles-TOTAL_FORMS": "0",
        "profiles-INITIAL_FORMS": "0",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    org.refresh_from_db()
    assert org.time_zone == "Australia/Perth"
    client.force_login(tenants.outsider)
    assert client.post(url, {**form, "time_zone": "UTC"}).status_code == 404
    client.force_login(tenants.manager)
    assert client.post(url, {**form, "time_zone": "UTC"}).status_code == 403
    org.refresh_from_db()
    assert org.time_zone == "Australia/Perth"


def _report_at(organization, moment):
    report = integrity_report_create(organization=organization)
    DataIntegrityReport.objects.filter(pk=report.pk).update(created_at=moment)
    return DataIntegrityReport.objects.get(pk=report.pk)


def test_report_heading_and_body_are_on_the_organisations_clock(client, tenants, perth):
    report = _report_at(perth, MOMENT)
    assert str(report) == f"Integrity report #{report.pk} (2026-03-10 07:30 AWST)"
    url = reverse("admin:integrity_dataintegrityreport_change", args=[report.pk])
    for user in (tenants.viewer, UserFactory(is_superuser=True)):
        client.force_login(user)
        html = client.get(url).content.decode()
        assert f"Integrity report #{report.pk} (2026-03-10 07:30 AWST)" in html
        # The heading carries the time; the body under it does not repeat it.
        assert f"<h1>Integrity report #{report.pk} (2026-03-10 07:30 AWST)</h1>" in html
        assert "2026-03-09 23:30" not in html
        assert "times in Australia/Perth" in html
    client.force_login(tenants.outsider)
    assert client.get(url).status_code == 404


def test_members_pages_are_in_their_organisations_zone(client, tenants, perth):
    _report_at(perth, MOMENT)
    other_report = _report_at(tenants.other_org, MOMENT)
    changelist = reverse("admin:integrity_dataintegrityreport_changelist")
    client.force_login(tenants.manager)
    html = client.get(changelist).content.decode()
    assert "2026-03-10 07:30 AWST" in html
    # The dashboard's panel too; a superuser sees each organisation's row on its own clock.
    dashboard = client.get(reverse("admin:index")).content.decode()
    assert "2026-03-10 07:30</a>" in dashboard and "times in Australia/Perth" in dashboard
    client.force_login(UserFactory(is_superuser=True))
    dashboard = client.get(reverse("admin:index")).content.decode()
    local = timezone.localtime(MOMENT, ZoneInfo(settings.TIME_ZONE))
    assert "2026-03-10 07:30</a>" in dashboard
    assert f"{local:%Y-%m-%d %H:%M}</a>" in dashboard
    assert f"times in {settings.TIME_ZONE}" in dashboard
    # The outsider sees neither Perth's time nor its report.
    client.force_login(tenants.outsider)
    html = client.get(changelist).content.decode()
    assert "AWST" not in html
    assert f"#{other_report.pk} · {local:%Y-%m-%d %H:%M}" in html


def test_the_zone_is_active_only_for_the_request(client, tenants, perth):
    client.force_login(tenants.viewer)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE


def test_backup_file_is_named_on_the_organisations_clock(tenants, perth):
    PropertyFactory(project=ProjectFactory(organization=perth))
    before = timezone.now()
    backup = backup_create(organization=perth)
    name = backup.archive.name.rsplit("/", 1)[-1]
    match = re.fullmatch(rf"owner-org-(\d{{8}}T\d{{6}})-{backup.pk}\.zip", name)
    assert match, name
    named = datetime.strptime(match[1], "%Y%m%dT%H%M%S").replace(tzinfo=PERTH)
    assert before - timedelta(seconds=1) <= named <= timezone.now() + timedelta(seconds=1)


def test_commands_state_the_zone_of_the_times_they_print(tenants, perth):
    PropertyFactory(project=ProjectFactory(organization=perth))
    out = io.StringIO()
    call_command("integrity_check", "owner-org", stdout=out)
    line = out.getvalue().strip().splitlines()[-1]
    fields = dict(re.findall(r"(\w+)=(\S+)", line))
    assert fields["tz"] == "Australia/Perth"
    created = datetime.fromisoformat(fields["created_at"])
    assert created.utcoffset() == timedelta(hours=8)
    report = DataIntegrityReport.objects.get(pk=int(fields["report"]))
    assert abs(created - report.created_at) < timedelta(seconds=1)
    assert Organization.objects.get(pk=perth.pk).clock_fields("at", None) == (
        "at=- tz=Australia/Perth"
    )
