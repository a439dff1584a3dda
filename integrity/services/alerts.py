"""Alerts: raised once per open condition, cleared when it clears, delivered by e-mail and
webhook after the transaction that raised them commits."""

import logging

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from organizations.models import Organization, Profile

from ..models import DataIntegrityReport, IntegrityAlert
from ..webhooks import WebhookFailed, WebhookRefused, webhook_post

logger = logging.getLogger(__name__)


def alert_raise(
    *,
    organization: Organization,
    kind: str,
    condition: str,
    subject: str,
    message: str,
    payload: dict,
    report: DataIntegrityReport | None = None,
) -> IntegrityAlert | None:
    """Record and send an alert, unless the same condition already has an open alert."""
    from ..tasks import enqueue_alert_delivery

    if IntegrityAlert.objects.filter(
        organization=organization, condition=condition, cleared_at__isnull=True
    ).exists():
        return None
    recipients = list(
        Profile.objects.filter(
            organization=organization, role=Profile.Role.ADMIN, user__is_active=True
        )
        .exclude(user__email="")
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
    webhook_url = str((organization.settings or {}).get("alert_webhook_url") or "")
    try:
        # The partial unique constraint settles a race between two runs: one alert wins.
        with transaction.atomic():
            alert = IntegrityAlert.objects.create(
                organization=organization,
                kind=kind,
                condition=condition,
                subject=subject[:200],
                message=message,
                payload=payload,
                report=report,
                email_recipients=recipients,
                webhook_url=webhook_url,
            )
    except IntegrityError:
        return None
    enqueue_alert_delivery(alert=alert)
    return alert


def alert_clear(*, organization: Organization, condition: str) -> int:
    return IntegrityAlert.objects.filter(
        organization=organization, condition=condition, cleared_at__isnull=True
    ).update(cleared_at=timezone.now())


def alert_payload(alert: IntegrityAlert) -> dict:
    return {
        "organization": alert.organization.slug,
        "kind": alert.kind,
        "condition": alert.condition,
        "subject": alert.subject,
        "message": alert.message,
        "details": alert.payload,
        "alert_id": alert.pk,
        "created_at": alert.created_at.isoformat(),
    }


def alert_deliver(*, alert: IntegrityAlert) -> IntegrityAlert:
    """E-mail the organisation's admins and POST the JSON payload to its webhook. A webhook
    that fails is recorded on the alert; it does not stop the e-mail."""
    if alert.email_recipients:
        send_mail(alert.subject, alert.message, None, alert.email_recipients)
    if alert.webhook_url:
        try:
            alert.webhook_status = f"sent ({webhook_post(alert.webhook_url, alert_payload(alert))})"
        except WebhookRefused as refusal:
            alert.webhook_status = f"refused: {refusal}"[:300]
        except WebhookFailed as failure:
            logger.warning("Alert %s webhook failed: %s", alert.pk, failure)
            alert.webhook_status = f"failed: {failure}"[:300]
    else:
        alert.webhook_status = "not configured"
    alert.delivered_at = timezone.now()
    alert.save(update_fields=["webhook_status", "delivered_at"])
    return alert
