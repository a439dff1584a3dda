"""Field blocks every app's models repeat, written once: the tenant key, the user who acted,
and a creation time a restore can put back. Each returns a plain Django field, so models using
them migrate exactly as if they spelled the field out."""

from django.conf import settings
from django.db import models
from django.utils import timezone


def tenant_key(related_name: str, *, on_delete=models.CASCADE, **options) -> models.ForeignKey:
    """The organisation a row belongs to, the key every tenant query filters on."""
    return models.ForeignKey(
        "organizations.Organization", on_delete=on_delete, related_name=related_name, **options
    )


def acting_user(**options) -> models.ForeignKey:
    """The user who created or ran something: optional, cleared (not cascaded) when the user
    is deleted, with no reverse accessor on the user."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        **options,
    )


def creation_time() -> models.DateTimeField:
    """When the row was created: a default, not auto_now_add, so a restore can put back the
    original creation time."""
    return models.DateTimeField(default=timezone.now, editable=False)
