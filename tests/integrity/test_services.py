import socket
from datetime import timedelta

from django.core import mail
from django.utils import timezone
from django_q.models import Schedule

from integrity.checks import CHECKS
from integrity.models import DataIntegrityReport, IntegrityAlert
from integrity.services.backup_alerts import backup_alerts_evaluate, cron_interval
from integrity.services.reports import integrity_report_create
from integrity.services.schedules import (
    BACKUP_WATCH_SCHEDULE,
    SCHEDULE_PREFIX,
    integrity_schedules_sync,
)
from organizations.models import Organization
from organizations.services import organization_create, organization_delete
from properties.models import Property
from tests.factories import PropertyFactory

from .conftest import EXPECTED
from .webhook import WebhookReceiver

ERROR_CHECKS = sorted(check.slug for check in CHECKS if check.severity == "ERROR")


def test_report_stores_counts_samples_breakdown_and_metrics(planted, tenants):
    report = integrity_report_create(organization=tenants.owner_org, actor=tenants.manager)
    expected = EXPECTED["owner-org"]
    assert {r["slug"]: r["count"] for r in report.check_results} == expected
    errors = sum(expected[c.slug] for c in CHECKS if c.severity == "ERROR")
    warnings = sum(expected[c.slug] for c in CHECKS if c.severity == "WARNING")
    assert report.severity_breakdown == {"ERROR": errors, "WARNING": warnings}
    assert report.total_issues == errors + warnings == 25
    assert report.created_by == tenants.manager
    for result in report.check_results:
        sample_ids = {sample["id"] for sample in result["samples"]}
        assert len(sample_ids) == min(
            result["count"] if result["slug"] != "duplicate_external_id" else 4, 5
        )
        assert sample_ids <= planted.offending["owner-org"][result["slug"]]
    owner_properties = Property.objects.filter(organization=tenants.owner_org).exclude(
        status="deleted"
    )
    assert report.metrics["property_count"] == owner_properties.count()
    assert set(report.metrics["completeness"]) == {
        "address",
        "coordinates",
        "zoning",
        "land_area",
        "estimated_value",
    }
    assert report.duration_ms >= 0
    assert DataIntegrityReport.objects.filter(organization=tenants.other_org).count() == 0


def _fix_missing_addresses(organization):
    for prop in Property.objects.filter(organization=organization).exclude(status="deleted"):
        if not str((prop.basic_info or {}).get("address") or "").strip():
            prop.basic_info = {**prop.basic_info, "address": f"{prop.pk} Fixed Rd"}
            prop.save()


def test_error_alerts_fire_once_per_condition_until_it_clears(
    planted, tenants, django_capture_on_commit_callbacks
):
    tenants.owner_org.settings = {}
    tenants.owner_org.save()
    with django_capture_on_commit_callbacks(execute=True):
        integrity_report_create(organization=tenants.owner_org)
    alerts = IntegrityAlert.objects.filter(organization=tenants.owner_org)
    assert sorted(a.condition for a in alerts) == [f"check:{slug}" for slug in ERROR_CHECKS]
    assert len(mail.outbox) == len(ERROR_CHECKS)
    assert {tuple(m.to) for m in mail.outbox} == {(tenants.admin.email,)}
    assert all(a.delivered_at and a.webhook_status == "not configured" for a in alerts)

    # Same counts, then a higher count: the condition is still open, nothing new is sent.
    with django_capture_on_commit_callbacks(execute=True):
        integrity_report_create(organization=tenants.owner_org)
        PropertyFactory(project=tenants.owner_org.projects.first(), basic_info={})
        integrity_report_create(organization=tenants.owner_org)
    assert alerts.count() == len(ERROR_CHECKS)
    assert len(mail.outbox) == len(ERROR_CHECKS)

    # Fixed: the condition clears. Broken again: it alerts again, once.
    _fix_missing_addresses(tenants.owner_org)
    with django_capture_on_commit_callbacks(execute=True):
        integrity_report_create(organization=tenants.owner_org)
    first = alerts.get(condition="check:missing_address")
    assert first.cleared_at is not None
    assert alerts.filter(cleared_at__isnull=True).count() == len(ERROR_CHECKS) - 1
    PropertyFactory(project=tenants.owner_org.projects.first(), basic_info={"address": " "})
    with django_capture_on_commit_callbacks(execute=True):
        integrity_report_create(organization=tenants.owner_org)
        integrity_report_create(organization=tenants.owner_org)
    reopened = alerts.filter(condition="check:missing_address").order_by("id")
    assert reopened.count() == 2
    assert reopened.last().cleared_at is None
    assert reopened.last().payload["count"] == 1
    assert reopened.last().payload["previous_count"] == 0
    assert len(mail.outbox) == len(ERROR_CHECKS) + 1
    # The other organisation's admin got nothing, and has no alerts.
    assert all(tenants.outsider.email not in m.to for m in mail.outbox)
    assert not IntegrityAlert.objects.filter(organization=tenants.other_org).exists()


def test_warning_checks_do_not_alert(tenants, django_capture_on_commit_callbacks):
    PropertyFactory(
        project__organization=tenants.owner_org, financial_metrics={"estimated_value": 5}
    )
    with django_capture_on_commit_callbacks(execute=True):
        report = integrity_report_create(organization=tenants.owner_org)
    assert report.warning_count == 1 and report.error_count == 0
    assert not IntegrityAlert.objects.exists()
    assert mail.outbox == []


def test_alert_posts_json_to_the_organisations_webhook(
    planted, tenants, django_capture_on_commit_callbacks
):
    with WebhookReceiver() as receiver:
        tenants.other_org.settings = {"alert_webhook_url": receiver.url}
        tenants.other_org.save()
        with django_capture_on_commit_callbacks(execute=True):
            report = integrity_report_create(organization=tenants.other_org)
    posted = sorted(receiver.received, key=lambda r: r["json"]["condition"])
    assert [r["json"]["condition"] for r in posted] == [f"check:{s}" for s in ERROR_CHECKS]
    first = posted[0]
    assert first["path"] == "/hooks/integrity"
    assert first["content_type"] == "application/json"
    assert first["json"]["organization"] == "other-org"
    assert first["json"]["kind"] == "check_rose"
    assert first["json"]["details"] == {
        "check": "duplicate_external_id",
        "severity": "ERROR",
        "count": 1,
        "previous_count": 0,
        "report_id": report.pk,
    }
    alerts = IntegrityAlert.objects.filter(organization=tenants.other_org)
    assert {a.webhook_status for a in alerts} == {"sent (204)"}
    assert {tuple(m.to) for m in mail.outbox} == {(tenants.outsider.email,)}


def test_unreachable_webhook_is_recorded_and_email_still_sent(
    tenants, django_capture_on_commit_callbacks
):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    tenants.owner_org.settings = {"alert_webhook_url": f"http://127.0.0.1:{port}/down"}
    tenants.owner_org.save()
    PropertyFactory(project__organization=tenants.owner_org, basic_info={})
    with django_capture_on_commit_callbacks(execute=True):
        integrity_report_create(organization=tenants.owner_org)
    alert = IntegrityAlert.objects.get()
    assert alert.webhook_status == "failed: the webhook could not be reached"
    assert alert.delivered_at is not None
    assert len(mail.outbox) == 1


def test_non_http_webhook_is_refused(tenants, django_capture_on_commit_callbacks):
    tenants.owner_org.settings = {"alert_webhook_url": "file:///etc/passwd"}
    tenants.owner_org.save()
    PropertyFactory(project__organization=tenants.owner_org, basic_info={})
    with django_capture_on_commit_callbacks(execute=True):
        integrity_report_create(organization=tenants.owner_org)
    assert IntegrityAlert.objects.get().webhook_status == "refused: not an http(s) URL"
    assert len(mail.outbox) == 1


def test_webhook_to_a_private_address_is_refused_by_default(
    tenants, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    with WebhookReceiver() as receiver:
        tenants.owner_org.settings = {"alert_webhook_url": receiver.url}
        tenants.owner_org.save()
        PropertyFactory(project__organization=tenants.owner_org, basic_info={})
        with django_capture_on_commit_callbacks(execute=True):
            integrity_report_create(organization=tenants.owner_org)
    status = IntegrityAlert.objects.get().webhook_status
    assert status == "refused: 127.0.0.1 does not resolve to a public internet address"
    assert receiver.received == []  # nothing reached the internal host
    assert len(mail.outbox) == 1  # the e-mail still went out


def test_a_webhook_redirect_is_not_followed(tenants, django_capture_on_commit_callbacks):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1:1/secret")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        tenants.owner_org.settings = {"alert_webhook_url": url}
        tenants.owner_org.save()
        PropertyFactory(project__organization=tenants.owner_org, basic_info={})
        with django_capture_on_commit_callbacks(execute=True):
            integrity_report_create(organization=tenants.owner_org)
    finally:
        server.shutdown()
        server.server_close()
    status = IntegrityAlert.objects.get().webhook_status
    assert status == "failed: the webhook answered 302, a redirect, which is not followed"


def test_schedules_are_derived_for_every_organisation(tenants):
    Schedule.objects.all().delete()
    result = integrity_schedules_sync()
    assert result == {"organizations": 2, "removed": 0}
    schedules = Schedule.objects.filter(name__startswith=SCHEDULE_PREFIX)
    assert {s.kwargs for s in schedules} == {
        f"organization_id={tenants.owner_org.pk}",
        f"organization_id={tenants.other_org.pk}",
    }
    assert {s.func for s in schedules} == {"integrity.tasks.integrity_check_task"}
    assert {s.schedule_type for s in schedules} == {Schedule.DAILY}
    next_runs = dict(schedules.values_list("name", "next_run"))
    assert Schedule.objects.filter(name=BACKUP_WATCH_SCHEDULE).count() == 1

    # Syncing again changes nothing; a new organisation is scheduled as it is created.
    integrity_schedules_sync()
    assert dict(schedules.values_list("name", "next_run")) == next_runs
    new = organization_create(organization=Organization(name="New", slug="new-org"))
    assert Schedule.objects.filter(name=f"{SCHEDULE_PREFIX}{new.pk}").exists()
    assert Schedule.objects.filter(name__startswith=SCHEDULE_PREFIX).count() == 3

    Schedule.objects.create(name=f"{SCHEDULE_PREFIX}999999", func="x.y", schedule_type="D")
    assert integrity_schedules_sync()["removed"] == 1
    new_pk = new.pk
    organization_delete(organization=new)
    assert not Schedule.objects.filter(name=f"{SCHEDULE_PREFIX}{new_pk}").exists()


def test_due_schedule_runs_the_check_through_django_q(planted, tenants):
    from django_q.scheduler import scheduler

    Schedule.objects.exclude(name=f"{SCHEDULE_PREFIX}{tenants.owner_org.pk}").delete()
    Schedule.objects.filter(name__startswith=SCHEDULE_PREFIX).update(
        next_run=timezone.now() - timedelta(minutes=1)
    )
    scheduler()
    report = DataIntegrityReport.objects.get()
    assert report.organization == tenants.owner_org
    assert report.trigger == DataIntegrityReport.Trigger.SCHEDULE
    assert {r["slug"]: r["count"] for r in report.check_results} == EXPECTED["owner-org"]
    schedule = Schedule.objects.get(name=f"{SCHEDULE_PREFIX}{tenants.owner_org.pk}")
    assert schedule.next_run > timezone.now()


def test_backup_alerts_without_a_backup_config_send_nothing(tenants):
    # Holds with the backups app absent (this branch) and present with no configuration.
    backup_alerts_evaluate(organization=tenants.owner_org)
    assert not IntegrityAlert.objects.exists()
    assert mail.outbox == []


def test_cron_interval_is_the_gap_between_two_runs():
    now = timezone.now()
    assert cron_interval("0 2 * * *", now=now) == timedelta(days=1)
    assert cron_interval("0 */6 * * *", now=now) == timedelta(hours=6)
    assert cron_interval("30 1 * * 0", now=now) == timedelta(days=7)


def test_seed_demo_organisations_get_their_daily_integrity_schedule(db):
    from properties.demo import demo_data_seed

    demo_data_seed(properties=3)

    for organization in Organization.objects.filter(slug__in=["harbour", "southern-cross"]):
        assert Schedule.objects.filter(name=f"{SCHEDULE_PREFIX}{organization.pk}").exists()
