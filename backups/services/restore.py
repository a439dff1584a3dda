"""Restoring an organisation from one of its backups (`replace_all`, `merge`, `selective`), in
one transaction; the bookkeeping every restore shares (point-in-time restores too)."""

from contextlib import contextmanager

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from organizations.locks import organization_busy_reason, organization_lock
from organizations.models import Organization

from ..archive import (
    FORMAT_VERSION,
    ArchiveError,
    ArchiveReader,
    migration_state,
    spec_for,
    table_specs,
)
from ..chains import chain_open
from ..engines import RestoreConflict, engine_for
from ..merge import MergeEngine, restore_mode, selective_replace_check
from ..merge_postgres import PostgresMergeEngine
from ..models import BackupExecution, BackupType, RestoreExecution
from ..replica import ArchiveUnavailable, archive_fetch
from .permissions import RESTORE_PERMISSION, BackupRefused, require_backup_permission
from .runs import RunLock


def _fetch_checked(backup: BackupExecution):
    """A temporary copy of the backup's archive whose SHA-256 is the recorded one: the primary,
    or a verified replica when the primary is missing or damaged (backups/replica.py)."""
    if backup.status != BackupExecution.Status.COMPLETED or not backup.archive:
        raise BackupRefused(f"Backup {backup.pk} is {backup.status} and has no archive.")
    try:
        return archive_fetch(backup)
    except ArchiveUnavailable as exc:
        raise BackupRefused(str(exc)) from exc


def _check_manifest(reader: ArchiveReader, backup: BackupExecution) -> None:
    manifest = reader.manifest
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(
            f"Archive format version {manifest.get('format_version')!r} cannot be restored "
            f"(this version reads {FORMAT_VERSION})."
        )
    if manifest.get("organization", {}).get("id") != backup.organization_id:
        raise ArchiveError("The archive's organisation is not the backup's.")
    current = migration_state(connection)
    if manifest.get("migrations") != current:
        raise ArchiveError(
            f"The archive was taken at migration state {manifest.get('migrations')}; the "
            f"database is at {current}. Migrate to the same state to restore it."
        )
    for name, table in reader.tables.items():
        if table.get("columns") != spec_for(name).columns:
            raise ArchiveError(f"Table {name}'s columns differ from the current schema.")


def open_checked(backup: BackupExecution) -> ArchiveReader:
    """The backup's archive, after checking its SHA-256, format, migration state and content.
    Raises BackupRefused with the reason otherwise."""
    fetched = _fetch_checked(backup)
    archive_file = fetched.file
    try:
        reader = ArchiveReader(archive_file)
        reader.source, reader.source_note = fetched.source, fetched.note
        _check_manifest(reader, backup)
        reader.check_content()
    except ArchiveError as exc:
        archive_file.close()
        raise BackupRefused(str(exc)) from exc
    return reader


def open_restorable(backup: BackupExecution) -> ArchiveReader:
    """The archive a restore of `backup` reads: its own, or for an incremental its chain
    folded into one."""
    if backup.backup_type != BackupType.INCREMENTAL:
        return open_checked(backup)

    def refuse(message):
        raise BackupRefused(message)

    return chain_open(backup, open_checked=open_checked, refuse=refuse)


def specs_of(reader: ArchiveReader):
    names = set(reader.tables)
    return [spec for spec in table_specs() if spec.name in names]


def _restored_specs(reader: ArchiveReader, tables: list[str] | None):
    """The backup's tables a restore touches: all, or those named."""
    specs = specs_of(reader)
    if not tables:
        return specs
    held = {spec.name for spec in specs}
    missing = sorted(set(tables) - held)
    if missing:
        raise BackupRefused(
            f"The backup holds no table {', '.join(missing)}; it holds {', '.join(sorted(held))}."
        )
    return [spec for spec in specs if spec.name in tables]


def require_restorer(actor, organization: Organization, *, allow_cross_org: bool = False) -> None:
    require_backup_permission(
        actor, organization, permission=RESTORE_PERMISSION, allow_cross_org=allow_cross_org
    )


def _refuse_restore(backup, organization, restore, actor, allow_cross_org) -> str | None:
    """Refuses a restore that must not run; the conflict policy a merge uses (None for a
    replace)."""
    try:
        policy = restore_mode(
            restore.strategy, conflict=restore.conflict_policy or None, tables=restore.tables
        )
    except ValueError as exc:
        raise BackupRefused(str(exc)) from exc
    if backup is None:
        # Deleted while the restore waited for a worker (the row's backup is SET_NULL).
        raise BackupRefused("The backup of this restore no longer exists.")
    if backup.organization_id != organization.pk:
        raise BackupRefused(
            f"Backup {backup.pk} belongs to {backup.organization.slug}, not "
            f"{organization.slug}: a backup only restores its own organisation."
        )
    require_restorer(actor, organization, allow_cross_org=allow_cross_org)
    return policy


def restore_apply(
    restore: RestoreExecution,
    *,
    reader,
    specs,
    engine,
    actor,
    check=None,
    allow_cross_org: bool = False,
) -> None:
    """Loads, plans and (unless a dry run) applies a restore in one transaction, under the
    organisation lock, if `actor` may restore the organisation. `reader()` gives the archive,
    read once the lock is held; `check()` may refuse after loading."""
    organization = restore.organization
    require_restorer(actor, organization, allow_cross_org=allow_cross_org)
    with transaction.atomic():
        # One restore of an organisation at a time, never during an import: the lock makes
        # the busy checks' answer hold until this transaction ends.
        organization_lock(organization)
        busy = organization_busy_reason(organization)
        if busy:
            raise BackupRefused(f"{busy}; restore once it has finished or been cancelled.")
        try:
            archive = reader()
            specs = specs if specs is not None else specs_of(archive)
            engine.load(archive, specs, organization.pk)
            if check is not None:
                check()
            restore.counts = engine.plan()
        except (RestoreConflict, ArchiveError, ValueError) as exc:
            raise BackupRefused(str(exc)) from exc
        restore.report = getattr(engine, "report", {})
        if not restore.dry_run:
            engine.apply(reason=f"restore {restore.pk}", actor_id=getattr(actor, "pk", None))
        engine.cleanup()
        if restore.dry_run:
            transaction.set_rollback(True)
    restore.status = RestoreExecution.Status.COMPLETED


def backup_restore(
    *,
    backup: BackupExecution,
    organization: Organization,
    actor=None,
    strategy: str = RestoreExecution.Strategy.REPLACE_ALL,
    dry_run: bool = False,
    allow_cross_org: bool = False,
    tables: list[str] | None = None,
    conflict: str | None = None,
) -> RestoreExecution:
    """Makes the organisation's rows the backup's, in one transaction.

    replace_all: rows added since are deleted, changed rows reverted, deleted rows put back
    with their ids. merge: the backup's missing rows come back, conflicts follow `conflict`
    (backups/merge.py). selective: either, limited to `tables`, refused when it would break a
    reference. History is kept, the backup's missing history added, and every change recorded
    as history with the reason `restore <id>`. A dry run only counts. Refusals raise
    BackupRefused after recording a refused RestoreExecution; nothing else changes.
    """
    # Locked before the row is committed, so no one sees it running without its worker.
    with transaction.atomic():
        restore = RestoreExecution.objects.create(
            organization=organization,
            actor=actor,
            **restore_fields(
                backup=backup, strategy=strategy, dry_run=dry_run, tables=tables, conflict=conflict
            ),
        )
        lock = RunLock(restore)
    try:
        return restore_run(restore, allow_cross_org=allow_cross_org)
    finally:
        lock.release()


def restore_fields(
    *, backup, strategy: str, dry_run: bool, tables=None, conflict=None, as_of=None
) -> dict:
    """A restore's recorded options, as the RestoreExecution's fields."""
    return {
        "backup": backup,
        "strategy": strategy,
        "dry_run": dry_run,
        "tables": list(tables or []),
        "conflict_policy": conflict or "",
        "as_of": as_of,
    }


def restore_run(restore: RestoreExecution, *, allow_cross_org: bool = False) -> RestoreExecution:
    """Runs a recorded restore of a backup as its actor, under its run lock (held by the
    caller): its strategy, tables and conflict policy are the row's."""
    backup, organization, actor = restore.backup, restore.organization, restore.actor
    tables = list(restore.tables or []) or None
    with restore_recorded(restore) as opened:
        policy = _refuse_restore(backup, organization, restore, actor, allow_cross_org)
        restore.conflict_policy = policy or ""
        reader = open_restorable(backup)
        opened.append(reader)
        restore.archive_note = reader.source_note
        specs = _restored_specs(reader, tables)
        if policy:
            merge = PostgresMergeEngine if connection.vendor == "postgresql" else MergeEngine
            engine = merge(connection, conflict=policy, restore_id=restore.pk)
        else:
            engine = engine_for(connection)
        check = None
        if tables and not policy:
            check = lambda: selective_replace_check(reader, specs, organization.pk)  # noqa: E731
        restore_apply(
            restore,
            reader=lambda: reader,
            specs=specs,
            engine=engine,
            actor=actor,
            check=check,
            allow_cross_org=allow_cross_org,
        )
    return restore


@contextmanager
def restore_recorded(restore: RestoreExecution):
    """Around a restore's work: a refusal or a database failure is recorded on the row and
    raised as BackupRefused, the readers the work appends to the yielded list are closed, and a
    restore that went through is finished."""
    opened: list = []
    try:
        yield opened
    except BackupRefused as exc:
        restore_refused(restore, exc)
        raise
    except DatabaseError as exc:
        raise restore_failed(restore, exc) from exc
    finally:
        for reader in opened:
            reader.close()
    restore_finish(restore)


def restore_refused(restore: RestoreExecution, exc: BackupRefused) -> None:
    restore.status = RestoreExecution.Status.REFUSED
    restore.error_message = exc.messages[0]
    restore_finish(restore)


def restore_failed(restore: RestoreExecution, exc: Exception) -> BackupRefused:
    """Records the failure; returns the refusal to raise."""
    restore.status = RestoreExecution.Status.FAILED
    restore.error_message = f"{type(exc).__name__}: {exc}"
    restore_finish(restore)
    return BackupRefused(f"Restore {restore.pk} failed and changed nothing: {exc}")


def restore_finish(restore: RestoreExecution) -> None:
    restore.completed_at = timezone.now()
    restore.save()
