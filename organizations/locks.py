"""The organisation lock: imports and restores of one organisation never overlap.

A restore replaces the organisation's rows in one transaction; a batch an import committed
meanwhile would be removed by it while the job counts it as written. Both take this lock before
they check for each other, so one waits for the other's check-and-claim to commit.
"""

from django.db import connection

from .models import Organization


def organization_lock(organization: Organization | int) -> None:
    """Lock the organisation until the current transaction ends.

    On PostgreSQL a row lock on the organisation; SQLite runs one writer at a time, which
    serialises the same sections without it. Must be called inside `transaction.atomic`.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("organization_lock() must be called inside transaction.atomic().")
    organization_id = organization if isinstance(organization, int) else organization.pk
    if connection.features.has_select_for_update:
        Organization.objects.select_for_update().filter(pk=organization_id).first()
