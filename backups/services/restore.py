"""Restoring an organisation from one of its backups (`replace_all`), in one transaction."""

import tempfile

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from organizations.locks import organization_busy_reason, organization_lock
from organizations.models import Organization

from ..archive import (
    FORMAT_VERSION,
    ArchiveError,
    ArchiveReader,
    file_sha256,
    migration_state,
    spec_for,
    table_specs,
)
from ..engines import RestoreConflict, engine_for
from ..models import BackupExecution, RestoreExecution
from .permissions import RESTORE_PERMISSION, BackupRefused, require_backup_permission
from .runs import RunLock


def _copy_checked(backup: BackupExecution):
    """A temporary copy of the backup's archive whose SHA-256 is the recorded one."""
    if backup.status != BackupExecution.Status.COMPLETED or not backup.archive:
        raise BackupRefused(f"Backup {backup.pk} is {backup.status} and has no archive.")
    storage = backup.archive.storage
    if not storage.exists(backup.archive.name):
        raise BackupRefused(f"Backup {backup.pk}'s archive {backup.archive.name} is missing.")
    # Not a with-block: the caller's reader owns the file and closes it.
    archive_file = tempfile.TemporaryFile()  # noqa: SIM115
    with storage.open(backup.archive.name, "rb") as stored:
        while chunk := stored.read(1 << 20):
            archive_file.write(chunk)
    sha256, _ = file_sha256(archive_file)
    if sha256 != backup.sha256:
        archive_file.close()
        raise BackupRefused(
            f"Backup {backup.pk}'s archive has been altered: its SHA-256 is {sha256}, "
            f"{backup.sha256} was recorded."
        )
    return archive_file


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
    archive_file = _copy_checked(backup)
    try:
        reader = ArchiveReader(archive_file)
        _check_manifest(reader, backup)
        reader.check_content()
    except ArchiveError as exc:
        archive_file.close()
        raise BackupRefused(str(exc)) from exc
    return reader


def specs_of(reader: ArchiveReader):
    names = set(reader.tables)
    return [spec for spec in table_specs() if spec.name in names]


def _refuse_restore(backup, organization, strategy, actor, allow_cross_org) -> None:
    if strategy != RestoreExecution.Strategy.REPLACE_ALL:
        raise BackupRefused(f"Unknown restore strategy {strategy!r}; use replace_all.")
    if backup.organization_id != organization.pk:
        raise BackupRefused(
            f"Backup {backup.pk} belongs to {backup.organization.slug}, not "
            f"{organization.slug}: a backup only restores its own organisation."
        )
    require_backup_permission(
        actor, organization, permission=RESTORE_PERMISSION, allow_cross_org=allow_cross_org
    )


def _replace_rows(reader, organization, restore: RestoreExecution, actor) -> None:
    engine = engine_for(connection)
    with transaction.atomic():
        # One restore of an organisation at a time, never during an import: the lock makes
        # the busy checks' answer hold until this transaction ends.
        organization_lock(organization)
        busy = organization_busy_reason(organization)
        if busy:
            raise BackupRefused(f"{busy}; restore once it has finished or been cancelled.")
        try:
            engine.load(reader, specs_of(reader), organization.pk)
        except (RestoreConflict, ArchiveError, ValueError) as exc:
            raise BackupRefused(str(exc)) from exc
        restore.counts = engine.plan()
        if not restore.dry_run:
            engine.apply(reason=f"restore {restore.pk}", actor_id=getattr(actor, "pk", None))
        engine.cleanup()
        if restore.dry_run:
            transaction.set_rollback(True)


def backup_restore(
    *,
    backup: BackupExecution,
    organization: Organization,
    actor=None,
    strategy: str = RestoreExecution.Strategy.REPLACE_ALL,
    dry_run: bool = False,
    allow_cross_org: bool = False,
) -> RestoreExecution:
    """Makes the organisation's rows exactly the backup's, in one transaction.

    Rows added since are deleted, changed rows reverted, deleted rows put back with their ids.
    History is kept, the backup's missing history added, and every change recorded as history
    with the reason `restore <id>`. A dry run only counts. Refusals raise BackupRefused after
    recording a refused RestoreExecution; nothing else changes.
    """
    # Locked before the row is committed, so no one sees it running without its worker.
    with transaction.atomic():
        restore = RestoreExecution.objects.create(
            backup=backup,
            organization=organization,
            strategy=strategy,
            dry_run=dry_run,
            actor=actor,
        )
        lock = RunLock(restore)
    try:
        return _restore(restore, backup, organization, actor, allow_cross_org)
    finally:
        lock.release()


def _restore(restore, backup, organization, actor, allow_cross_org) -> RestoreExecution:
    strategy = restore.strategy
    reader = None
    try:
        _refuse_restore(backup, organization, strategy, actor, allow_cross_org)
        reader = open_checked(backup)
        _replace_rows(reader, organization, restore, actor)
        restore.status = RestoreExecution.Status.COMPLETED
    except BackupRefused as exc:
        restore.status = RestoreExecution.Status.REFUSED
        restore.error_message = exc.messages[0]
        _finish(restore)
        raise
    except DatabaseError as exc:
        restore.status = RestoreExecution.Status.FAILED
        restore.error_message = f"{type(exc).__name__}: {exc}"
        _finish(restore)
        raise BackupRefused(f"Restore {restore.pk} failed and changed nothing: {exc}") from exc
    finally:
        if reader is not None:
            reader.close()
    _finish(restore)
    return restore


def _finish(restore: RestoreExecution) -> None:
    restore.completed_at = timezone.now()
    restore.save()
