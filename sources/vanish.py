"""Vanished records: those a complete pass of the source did not see.

The keys each page saw are stored with the page (`SyncSeenKeys`), so a pass resumed after an
interruption still knows what its earlier runs saw. The mass-delete guard stops a run before
it changes anything when more than SYNC_MASS_DELETE_SHARE of the source's known records would
vanish (a truncated export, a wrong resource): first on the count the source announces,
before the first page is written, then on the exact count before any record is marked
vanished. The source is paused with the reason until an admin confirms. With the `ignore`
policy nothing is deleted, so the guard does not apply.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from organizations.locks import organization_lock
from properties.models import Property, Status

from .models import DataSource, SourceRecord, SyncRun, SyncSeenKeys

POLICY_STATUS = {
    DataSource.OnVanish.ARCHIVE: Status.ARCHIVED,
    DataSource.OnVanish.MARK_DELETED: Status.DELETED,
}
CHUNK = 900


class GuardTripped(Exception):
    pass


def _guard_message(would: int, known: int) -> str | None:
    share = settings.SYNC_MASS_DELETE_SHARE
    if known and would > share * known:
        return (
            f"Mass-delete guard: {would:,} of {known:,} known records "
            f"({would / known:.0%}) would vanish in one run, more than the "
            f"{share:.0%} allowed. Nothing was changed; confirm to let the next run proceed."
        )
    return None


def _guarded(source: DataSource) -> bool:
    return source.on_vanish != DataSource.OnVanish.IGNORE and not source.state.get(
        "allow_mass_vanish"
    )


def vanish_guard_check(run: SyncRun, *, present: int) -> bool:
    """Before the first write: whether the announced record count passes the guard. When it
    does not, the run ends guarded and the source is paused."""
    from .sync import _finish, _pause

    source = run.source
    known = SourceRecord.objects.filter(source=source, vanished_run__isnull=True).count()
    message = _guard_message(max(0, known - present), known)
    if message is None or not _guarded(source):
        return True
    if not run.dry_run:
        _pause(source, message)
    _finish(run, SyncRun.Status.GUARDED, error=message)
    return False


def _seen_keys(pass_id: int) -> set[str]:
    seen: set[str] = set()
    for keys in SyncSeenKeys.objects.filter(pass_id=pass_id).values_list("keys", flat=True):
        seen.update(keys)
    return seen


def _set_status(property_ids: list[int], *, status: str, only: set, run: SyncRun, actor):
    properties = []
    for start in range(0, len(property_ids), CHUNK):
        chunk = property_ids[start : start + CHUNK]
        properties += list(Property.objects.filter(pk__in=chunk, status__in=only))
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


def vanish_apply(*, run: SyncRun, actor) -> int:
    """After a complete pass: mark what it did not see vanished and apply the policy to their
    properties (with history `sync <run id>`); records seen again are present again (and their
    properties active again, if the policy had archived or deleted them). One transaction.
    Raises GuardTripped, having changed nothing, when too many would vanish."""
    source = run.source
    with transaction.atomic():
        organization_lock(run.organization_id)
        seen = _seen_keys(run.pass_id)
        records = SourceRecord.objects.filter(source=source).values_list(
            "pk", "key", "property_id", "vanished_run_id"
        )
        present = gone = 0
        gone_ids, gone_properties, back_ids, back_properties = [], [], [], []
        for pk, key, property_id, vanished_run_id in records.iterator(10_000):
            if vanished_run_id is None:
                present += 1
                if key not in seen:
                    gone += 1
                    gone_ids.append(pk)
                    if property_id:
                        gone_properties.append(property_id)
            elif key in seen:
                back_ids.append(pk)
                if property_id:
                    back_properties.append(property_id)
        message = _guard_message(gone, present)
        if message and _guarded(source):
            raise GuardTripped(message)
        status = POLICY_STATUS.get(source.on_vanish)
        if status is not None:
            _set_status(gone_properties, status=status, only={Status.ACTIVE}, run=run, actor=actor)
            _set_status(
                back_properties,
                status=Status.ACTIVE,
                only=set(POLICY_STATUS.values()),
                run=run,
                actor=actor,
            )
        for ids, vanished in ((gone_ids, run), (back_ids, None)):
            for start in range(0, len(ids), CHUNK):
                SourceRecord.objects.filter(pk__in=ids[start : start + CHUNK]).update(
                    vanished_run=vanished
                )
        SyncSeenKeys.objects.filter(run__source=source).delete()
        if source.state.get("allow_mass_vanish"):
            source.state = {k: v for k, v in source.state.items() if k != "allow_mass_vanish"}
            DataSource.objects.filter(pk=source.pk).update(state=source.state)
    return gone
