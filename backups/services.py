"""Backups, restores and their verification: the writes of the backups app."""

import logging
import tempfile
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_q.models import Schedule

from imports.models import ImportJob
from organizations.access import Scope
from organizations.models import Organization

from .archive import (
    FORMAT_NAME,
    FORMAT_VERSION,
    ArchiveError,
    ArchiveReader,
    ArchiveWriter,
    TableDigest,
    file_sha256,
    migration_state,
    spec_for,
    table_specs,
)
from .chains import chain_open
from .engines import RestoreConflict, engine_for
from .incremental import (
    ChainError,
    baseline_capture,
    baseline_marker,
    chain_parent,
    dump_incremental,
)
from .merge import MergeEngine, restore_mode, selective_replace_check
from .models import BackupConfig, BackupExecution, BackupType, RestoreExecution
from .replica import ArchiveUnavailable, archive_fetch, replica_copy
from .retention import backups_still_needed

logger = logging.getLogger(__name__)

SCHEDULED_TASK = "backups.tasks.backup_scheduled_run"


class BackupRefused(ValidationError):
    """A backup or restore that must not run; nothing was changed."""


def _require_manager(
    actor,
    organization: Organization,
    *,
    permission: str = "backups.add_backupexecution",
    allow_cross_org: bool = False,
) -> None:
    """Managers and admins of the organisation may back up and restore it; a superuser only
    with `allow_cross_org`, so acting on a tenant is always a deliberate choice."""
    scope = Scope.of(actor)
    if scope.is_system or (scope.sees_all and allow_cross_org):
        return
    own = scope.organization
    if own is None or own.pk != organization.pk:
        raise BackupRefused(
            f"{actor} is not a member of {organization.slug}; a superuser must ask for a "
            "cross-organisation restore explicitly (--allow-cross-org)."
        )
    if not scope.can(permission, organization=organization):
        raise BackupRefused(f"{actor}'s role is below manager: backups need a manager or admin.")


def _selected_specs(backup_type: str, tables: list[str] | None):
    specs = table_specs()
    if backup_type == BackupType.SELECTIVE and tables:
        known = {spec.name for spec in specs}
        unknown = sorted(set(tables) - known)
        if unknown:
            raise BackupRefused(
                f"Unknown table(s) {', '.join(unknown)}; choose from {', '.join(sorted(known))}."
            )
        specs = [spec for spec in specs if spec.name in tables]
    return specs


def backup_create(
    *,
    organization: Organization,
    actor=None,
    backup_type: str = BackupType.FULL,
    tables: list[str] | None = None,
    config: BackupConfig | None = None,
) -> BackupExecution:
    """Writes the organisation's rows to an archive in the backups storage.

    The rows are read in one snapshot, so a concurrent import is wholly in the archive or not
    at all. The archive is built in a temporary file and only then stored, so a failure leaves
    a failed execution with its error and no partial file.
    """
    # Reading is harmless, so superusers may back up any organisation.
    _require_manager(actor, organization, allow_cross_org=True)
    if config is not None:
        backup_type = config.backup_type
        tables = tables or config.tables_included
    specs = _selected_specs(backup_type, tables)
    parent = None
    if backup_type == BackupType.INCREMENTAL:
        try:
            parent = chain_parent(organization)
        except ChainError as exc:
            raise BackupRefused(str(exc)) from exc
    execution = BackupExecution.objects.create(
        organization=organization,
        config=config,
        backup_type=backup_type,
        created_by=actor,
        base_backup=parent,
    )
    return _write_archive(execution, specs)


def _write_archive(execution: BackupExecution, specs) -> BackupExecution:
    organization = execution.organization
    started = time.monotonic()
    engine = engine_for(connection)
    stored_name = None
    try:
        with tempfile.TemporaryFile() as archive_file:
            writer = ArchiveWriter(archive_file)
            manifest_tables = {}
            # Inside an enclosing transaction (a caller's atomic, a test) the isolation level
            # is already fixed and that transaction is the snapshot.
            own_transaction = not connection.in_atomic_block
            marker = baseline_marker(connection)
            extra = {}
            with transaction.atomic():
                if connection.vendor == "postgresql" and own_transaction:
                    with connection.cursor() as cursor:
                        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                baseline = baseline_capture(
                    connection, organization_id=organization.pk, marker=marker
                )
                state = migration_state(connection)
                if execution.backup_type == BackupType.INCREMENTAL:
                    parent = execution.base_backup
                    manifest_tables, extra["deleted"] = dump_incremental(
                        connection, organization_id=organization.pk, parent=parent, writer=writer
                    )
                    baseline["parent"] = extra["parent"] = {
                        "id": parent.pk,
                        "sha256": parent.sha256,
                    }
                for spec in specs if execution.backup_type != BackupType.INCREMENTAL else []:
                    digest = TableDigest()
                    with writer.open_member(spec.member) as member:
                        engine.dump_table(spec, organization.pk, member, digest)
                    manifest_tables[spec.name] = {
                        "columns": spec.columns,
                        "count": digest.count,
                        "hash": digest.hexdigest,
                    }
            created_at = timezone.now()
            writer.write_manifest(
                {
                    "format": FORMAT_NAME,
                    "format_version": FORMAT_VERSION,
                    "backup_id": execution.pk,
                    "backup_type": execution.backup_type,
                    "organization": {"id": organization.pk, "slug": organization.slug},
                    "created_at": created_at.isoformat(),
                    "migrations": state,
                    "tables": manifest_tables,
                    **extra,
                }
            )
            writer.close()
            sha256, size = file_sha256(archive_file)
            name = f"{organization.slug}-{created_at:%Y%m%dT%H%M%S}-{execution.pk}.zip"
            stored_name = execution.archive.storage.save(
                execution.archive.field.generate_filename(execution, name), archive_file
            )
        execution.archive.name = stored_name
        execution.baseline = baseline
        execution.sha256 = sha256
        execution.size_bytes = size
        execution.record_count = sum(table["count"] for table in manifest_tables.values())
        execution.status = BackupExecution.Status.COMPLETED
    except Exception as exc:
        logger.exception("Backup %s of %s failed", execution.pk, organization.slug)
        if stored_name:
            execution.archive.storage.delete(stored_name)
        execution.archive.name = ""
        execution.status = BackupExecution.Status.FAILED
        execution.error_message = f"{type(exc).__name__}: {exc}"
    execution.completed_at = timezone.now()
    execution.duration_ms = int((time.monotonic() - started) * 1000)
    execution.save()
    return replica_copy(backup=execution)


def _open_checked(backup: BackupExecution) -> ArchiveReader:
    """The backup's archive, after checking its SHA-256, format, migration state and content.
    Raises BackupRefused with the reason otherwise."""
    if backup.status != BackupExecution.Status.COMPLETED or not backup.archive:
        raise BackupRefused(f"Backup {backup.pk} is {backup.status} and has no archive.")
    try:
        # The primary archive, or a verified replica when the primary is missing or damaged.
        fetched = archive_fetch(backup)
    except ArchiveUnavailable as exc:
        raise BackupRefused(str(exc)) from exc
    archive_file = fetched.file
    try:
        reader = ArchiveReader(archive_file)
        reader.source, reader.source_note = fetched.source, fetched.note
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
        reader.check_content()
    except ArchiveError as exc:
        archive_file.close()
        raise BackupRefused(str(exc)) from exc
    return reader


def open_restorable(backup: BackupExecution) -> ArchiveReader:
    """The archive a restore of `backup` reads: its own, or for an incremental its chain
    folded into one."""
    if backup.backup_type != BackupType.INCREMENTAL:
        return _open_checked(backup)

    def refuse(message):
        raise BackupRefused(message)

    return chain_open(backup, open_checked=_open_checked, refuse=refuse)


def _restored_specs(reader: ArchiveReader, tables: list[str] | None):
    """The backup's tables a restore touches: all, or those named."""
    specs = _specs_of(reader)
    if not tables:
        return specs
    held = {spec.name for spec in specs}
    missing = sorted(set(tables) - held)
    if missing:
        raise BackupRefused(
            f"The backup holds no table {', '.join(missing)}; it holds {', '.join(sorted(held))}."
        )
    return [spec for spec in specs if spec.name in tables]


def _specs_of(reader: ArchiveReader):
    names = set(reader.tables)
    return [spec for spec in table_specs() if spec.name in names]


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
    reference.
    History is kept, the backup's missing history added, and every change recorded as history
    with the reason `restore <id>`. A dry run only counts. Refusals raise BackupRefused after
    recording a refused RestoreExecution; nothing else changes.
    """
    restore = RestoreExecution.objects.create(
        backup=backup,
        organization=organization,
        strategy=strategy,
        dry_run=dry_run,
        actor=actor,
        conflict_policy=conflict or "",
        tables=list(tables or []),
    )
    reader = None
    try:
        try:
            merge_policy = restore_mode(strategy, conflict=conflict, tables=tables)
        except ValueError as exc:
            raise BackupRefused(str(exc)) from exc
        restore.conflict_policy = merge_policy or ""
        if backup.organization_id != organization.pk:
            raise BackupRefused(
                f"Backup {backup.pk} belongs to {backup.organization.slug}, not "
                f"{organization.slug}: a backup only restores its own organisation."
            )
        require_restorer(actor, organization, allow_cross_org=allow_cross_org)
        reader = open_restorable(backup)
        restore.archive_note = reader.source_note
        specs = _restored_specs(reader, tables)
        if merge_policy:
            engine = MergeEngine(connection, conflict=merge_policy, restore_id=restore.pk)
        else:
            engine = engine_for(connection)
        check = (
            (lambda: selective_replace_check(reader, specs, organization.pk))
            if (tables and not merge_policy)
            else None
        )
        restore_apply(
            restore, reader=lambda: reader, specs=specs, engine=engine, actor=actor, check=check
        )
    except BackupRefused as exc:
        restore_refused(restore, exc)
        raise
    except DatabaseError as exc:
        raise restore_failed(restore, exc) from exc
    finally:
        if reader is not None:
            reader.close()
    restore_finish(restore)
    return restore


def require_restorer(actor, organization: Organization, *, allow_cross_org: bool = False) -> None:
    _require_manager(
        actor,
        organization,
        permission="backups.restore_backupexecution",
        allow_cross_org=allow_cross_org,
    )


def restore_refused(restore: RestoreExecution, exc: BackupRefused) -> None:
    restore.status = RestoreExecution.Status.REFUSED
    restore.error_message = exc.messages[0]
    restore_finish(restore)


def restore_failed(restore: RestoreExecution, exc: DatabaseError) -> BackupRefused:
    """Records the failure; returns the refusal to raise."""
    restore.status = RestoreExecution.Status.FAILED
    restore.error_message = f"{type(exc).__name__}: {exc}"
    restore_finish(restore)
    return BackupRefused(f"Restore {restore.pk} failed and changed nothing: {exc}")


def restore_apply(restore: RestoreExecution, *, reader, specs, engine, actor, check=None) -> None:
    """Loads, plans and (unless a dry run) applies a restore in one transaction, under the
    organisation lock. `reader()` gives the archive, read once the lock is held; `check()`
    may refuse after loading."""
    organization = restore.organization
    with transaction.atomic():
        # One restore of an organisation at a time; an import's start takes the same lock.
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        _refuse_during_imports(organization)
        try:
            archive = reader()
            specs = specs if specs is not None else _specs_of(archive)
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


def _refuse_during_imports(organization: Organization) -> None:
    """A batch an import commits during the restore would be removed by it while the job counts
    it as written; the restore waits for the organisation's imports instead."""
    running = ImportJob.objects.filter(
        organization=organization, status=ImportJob.Status.IMPORTING
    ).values_list("pk", flat=True)
    if running:
        ids = ", ".join(str(pk) for pk in running)
        raise BackupRefused(
            f"Import {ids} into {organization.slug} is running; restore once it has finished "
            "or been cancelled."
        )


def restore_finish(restore: RestoreExecution) -> None:
    restore.completed_at = timezone.now()
    restore.save()


def backup_verify(*, backup: BackupExecution, actor=None) -> BackupExecution:
    """Checks the archive (SHA-256, manifest, content), then restores it inside a transaction
    that is rolled back, comparing the restored tables with the manifest. Stores the outcome
    on the backup."""
    if actor is not None:
        _require_manager(actor, backup.organization, allow_cross_org=True)
    reader = None
    try:
        reader = open_restorable(backup)
        engine = engine_for(connection)
        problems = []
        with transaction.atomic():
            engine.load(reader, _specs_of(reader), backup.organization_id)
            engine.plan()
            engine.apply(reason="restore drill", actor_id=None)
            for spec in _specs_of(reader):
                expected = reader.tables[spec.name]
                if spec.is_history:
                    if not engine.history_matches(spec):
                        problems.append(f"{spec.name}: history rows differ after the drill")
                    continue
                digest = engine.table_digest(spec, backup.organization_id)
                if digest.count != expected["count"] or digest.hexdigest != expected["hash"]:
                    problems.append(
                        f"{spec.name}: {digest.count} rows restored, {expected['count']} "
                        "expected, or their content differs"
                    )
            transaction.set_rollback(True)
        if problems:
            raise BackupRefused("Restore drill failed: " + "; ".join(problems))
        backup.verification_status = BackupExecution.Verification.PASSED
        backup.verification_message = (
            f"SHA-256, manifest and restore drill passed ({backup.record_count} rows)."
        )
        if reader.source_note:
            backup.verification_message += f" {reader.source_note}"
    except (BackupRefused, RestoreConflict, ArchiveError, DatabaseError, ValueError) as exc:
        message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
        backup.verification_status = BackupExecution.Verification.FAILED
        backup.verification_message = message
    finally:
        if reader is not None:
            reader.close()
    backup.verified_at = timezone.now()
    backup.save(update_fields=["verification_status", "verification_message", "verified_at"])
    return backup


def backup_prune(*, config: BackupConfig, now=None) -> int:
    """Deletes the configuration's backups (archive and row) older than its retention.

    The newest completed backup is never pruned, however old: when backups keep failing, the
    last good one is all there is to restore from. Nor is anything a restore may still need
    (backups/retention.py): chains, recovery points, the newest verified and the newest
    `keep_full_backups` full backups.
    """
    cutoff = (now or timezone.now()) - timedelta(days=config.retention_days)
    newest_good = (
        BackupExecution.objects.filter(
            organization=config.organization, status=BackupExecution.Status.COMPLETED
        )
        .order_by("-started_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    expired = (
        BackupExecution.objects.filter(config=config, started_at__lt=cutoff)
        .exclude(status=BackupExecution.Status.RUNNING)
        .exclude(pk=newest_good)
    )
    needed = backups_still_needed(
        config.organization,
        expired=set(expired.values_list("pk", flat=True)),
        keep_full=config.keep_full_backups,
    )
    count = 0
    for execution in expired.exclude(pk__in=needed):
        if execution.archive:
            execution.archive.storage.delete(execution.archive.name)
        execution.delete()
        count += 1
    return count


def backup_scheduled_run(*, config: BackupConfig) -> BackupExecution | None:
    """The scheduled backup of a configuration; skipped, not doubled, while the previous one
    still runs. Prunes backups past the retention afterwards."""
    with transaction.atomic():
        config = (
            BackupConfig.objects.select_for_update()
            .select_related("organization")
            .get(pk=config.pk)
        )
        if not config.is_active:
            return None
        # A run older than the task timeout was killed with its worker; it no longer blocks.
        timeout = settings.Q_CLUSTER.get("timeout", 3600)
        still_running = config.executions.filter(
            status=BackupExecution.Status.RUNNING,
            started_at__gte=timezone.now() - timedelta(seconds=timeout),
        )
        if still_running.exists():
            logger.info("Backup of %s still running; this run is skipped", config.organization)
            return None
        specs = _selected_specs(config.backup_type, config.tables_included)
        backup_type, parent = config.backup_type, None
        if backup_type == BackupType.INCREMENTAL:
            try:
                parent = chain_parent(config.organization)
            except ChainError:
                # Nothing to chain onto yet: the chain starts with a full backup.
                backup_type = BackupType.FULL
        # Created under the lock: a second worker sees it running and skips.
        execution = BackupExecution.objects.create(
            organization=config.organization,
            config=config,
            backup_type=backup_type,
            base_backup=parent,
        )
    execution = _write_archive(execution, specs)
    if execution.status == BackupExecution.Status.COMPLETED:
        # Only a good new backup makes old ones redundant.
        backup_prune(config=config)
    return execution


def backup_schedule_sync(*, config: BackupConfig, deleted: bool = False) -> Schedule | None:
    """Keeps the django-q2 schedule of a configuration in step with it: created, updated, or
    removed when the configuration is inactive or deleted."""
    name = f"backup-config-{config.pk}"
    if deleted or not config.is_active:
        Schedule.objects.filter(name=name).delete()
        return None
    schedule, _ = Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": SCHEDULED_TASK,
            "args": repr((config.pk,)),
            "schedule_type": Schedule.CRON,
            "cron": config.schedule_cron,
            "repeats": -1,
        },
    )
    return schedule
