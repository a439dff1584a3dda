"""The organisation lock: imports and restores of one organisation never overlap.

A restore replaces the organisation's rows in one transaction; a batch an import committed
meanwhile would be removed by it while the job counts it as written. Both take this lock before
they check for each other, so one waits for the other's check-and-claim to commit.

Busy checks let a restore ask "is anything running in this organisation?" without depending on
the apps that run things: each app registers a check in its `AppConfig.ready()` (imports
registers "an import is running"), and `organization_busy_reason()` asks them all.
"""

from collections.abc import Callable

from django.db import connection

from .models import Organization

#: A check returns a sentence saying what is running in the organisation, or None.
BusyCheck = Callable[[Organization], str | None]

_busy_checks: list[BusyCheck] = []


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


def register_busy_check(check: BusyCheck) -> BusyCheck:
    """Add a busy check (idempotent, so a repeated `ready()` registers it once)."""
    if check not in _busy_checks:
        _busy_checks.append(check)
    return check


def organization_busy_reason(organization: Organization) -> str | None:
    """The first registered check's sentence about work running in the organisation, or None.
    Call it under `organization_lock()` so the answer holds until the transaction ends."""
    for check in _busy_checks:
        reason = check(organization)
        if reason:
            return reason
    return None
