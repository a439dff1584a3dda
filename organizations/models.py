from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from .fields import tenant_key

#: Checks of an organisation's settings owned by apps above this one (integrity: the alert
#: webhook's address), registered in their AppConfig.ready(); each returns a sentence or None.
_settings_checks = []


def register_settings_check(check):
    """Add a settings check (idempotent, so a repeated `ready()` registers it once)."""
    if check not in _settings_checks:
        _settings_checks.append(check)
    return check


def validate_time_zone(name: str) -> None:
    if name and name not in available_timezones():
        raise ValidationError(f"{name!r} is not a time zone name such as Australia/Perth.")


class Organization(models.Model):
    class SubscriptionTier(models.TextChoices):
        FREE = "free", "Free"
        PROFESSIONAL = "professional", "Professional"
        ENTERPRISE = "enterprise", "Enterprise"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    settings = models.JSONField(
        default=dict,
        blank=True,
        help_text='Organisation settings, e.g. {"alert_webhook_url": "https://..."}.',
    )
    subscription_tier = models.CharField(
        max_length=20, choices=SubscriptionTier.choices, default=SubscriptionTier.FREE
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        # A database default too: code written against an older schema still inserts rows.
        db_default="",
        validators=[validate_time_zone],
        help_text="Times on pages, in reports and in file names are shown in this zone; blank "
        "means the deployment's TIME_ZONE.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = "organisation"

    def __str__(self):
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone or settings.TIME_ZONE)

    def local_time(self, moment: datetime) -> datetime:
        """`moment` on the organisation's clock."""
        return timezone.localtime(moment, self.zone)

    def clock_fields(self, key: str, moment: datetime | None) -> str:
        """`key=<ISO 8601 time on the organisation's clock> tz=<zone>` for a command's summary
        line, so a reader never has to guess the zone."""
        shown = self.local_time(moment).isoformat(timespec="seconds") if moment else "-"
        return f"{key}={shown} tz={self.zone.key}"

    def clean(self):
        if not isinstance(self.settings, dict):
            raise ValidationError({"settings": "Settings are a JSON object."})
        webhook = self.settings.get("alert_webhook_url")
        if webhook:
            parts = urlsplit(str(webhook))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValidationError(
                    {"settings": "alert_webhook_url must be an http:// or https:// URL."}
                )
        for check in _settings_checks:
            problem = check(self.settings)
            if problem:
                raise ValidationError({"settings": problem})


class Profile(models.Model):
    """A user's membership of one organisation, with the role that sets what they may do."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MANAGER = "manager", "Manager"
        USER = "user", "User"
        VIEWER = "viewer", "Viewer"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    organization = tenant_key("profiles", on_delete=models.PROTECT)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.USER)
    full_name = models.CharField(max_length=200, blank=True)
    preferences = models.JSONField(default=dict, blank=True)
    last_login = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "user__username"]
        verbose_name = "member"

    def __str__(self):
        return f"{self.full_name or self.user.get_username()} ({self.get_role_display()})"
