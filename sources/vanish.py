"""Vanished records: those a complete pass of the source did not see.

The mass-delete guard stops a run before it changes anything when more than
SYNC_MASS_DELETE_SHARE of the source's known records would vanish (a truncated export, a
wrong resource): first on the count the source announces, before the first page is written,
then on the exact count before any record is marked vanished. The source is paused with the
reason until an admin confirms.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from organizations.locks import organization_lock
from properties.models import Property, Status

from .models import DataSource, SourceRecord, SyncRun

POLICY_STATUS = {
    DataSource.OnVanish.ARCHIVE: Status.ARCHIVED,
    DataSource.OnVanish.MARK_DELETED: Status.DELETED,
}


class GuardTripped(Exception):
    pass


def _present(source: DataSource):
    return SourceRecord.objects.filter(source=source, vanished_run__isnull=True)


def _guard_message(would: int, known: int) -> str | None:
    share = settings.SYNC_MASS_DELETE_SHARE
    if known and would > share * known:
        return (
            f"Mass-delete guard: {would:,} of {known:,} known records "
            f"({would / known:.0%}) would vanish in one run, more than the "
            f"{share:.0%} allowed. Nothing was changed; confirm to let the next run proceed."
        )
    return None


def _allowed_once(source: DataSource) -> bool:
    return bool(source.state.get("allow_mass_vanish"))


def vanish_guard_check(run: SyncRun, *, present: int) -> bool:
    """Before the first write: whether the announced record count passes the guard. When it
    does not, the run ends guarded and the source is paused."""
    from .sync import _finish, _pause

    source = run.source
    known = _present(source).count()
    message = _guard_message(max(0, known - present), known)
    if message is None or _allowed_once(source) or source.on_vanish == DataSource.OnVanish.IGNORE:
        return True
    if not run.dry_run:
        _pause(source, message)
    _finish(run, SyncRun.Status.GUARDED, error=message)
    return False


def vanish_apply(*, run: SyncRun, actor) -> int:
    """After a complete pass: mark what it did not see vanished and apply the policy to their
    properties (with history `sync <run id>`), in one transaction. Raises GuardTripped, having
    changed nothing, when too many would vanish."""
    source = run.source
    with transaction.atomic():
        organization_lock(run.organization_id)
        present = _present(source)
        gone = present.exclude(last_pass=run.pass_id)
        would, known = gone.count(), present.count()
        message = _guard_message(would, known)
        guarded = source.on_vanish != DataSource.OnVanish.IGNORE
        if message and guarded and not _allowed_once(source):
            raise GuardTripped(message)
        if not would:
            return 0
        status = POLICY_STATUS.get(source.on_vanish)
        if status is not None:
            properties = list(
                Property.objects.filter(
                    pk__in=gone.exclude(property=None).values("property"),
                    status=Status.ACTIVE,
                )
            )
            now = timezone.now()
            for prop in properties:
                prop.status, prop.updated_at = status, now
            bulk_update_with_history(
                properties,
                Property,
                fields=["status", "updated_at"],
                default_user=actor,
                default_change_reason=run.change_reason,
                batch_size=2000,
            )
        gone.update(vanished_run=run)
        if _allowed_once(source):
            state = {k: v for k, v in source.state.items() if k != "allow_mass_vanish"}
            source.state = state
            DataSource.objects.filter(pk=source.pk).update(state=state)
    return would
