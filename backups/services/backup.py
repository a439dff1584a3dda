"""Taking a backup: the organisation's rows, read in one snapshot, into a checksummed archive
in the backups storage."""

import logging
import tempfile
import time
from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone

from organizations.models import Organization

from ..archive import (
    FORMAT_NAME,
    FORMAT_VERSION,
    ArchiveWriter,
    TableDigest,
    file_sha256,
    migration_state,
    table_specs,
)
from ..engines import engine_for
from ..incremental import (
    ChainError,
    baseline_capture,
    baseline_marker,
    chain_parent,
    dump_incremental,
)
from ..models import BackupConfig, BackupExecution, BackupType
from ..replica import replica_copy
from .permissions import BackupRefused, require_backup_permission
from .runs import RunLock

logger = logging.getLogger(__name__)

#: Called with every finished backup (completed or failed), after its row is saved. Other
#: apps register here in their AppConfig.ready() (integrity's backup alerts), so the backups
#: app raises no alerts itself and depends on no app above it.
BackupListener = Callable[[BackupExecution], None]
_finished_listeners: list[BackupListener] = []


def on_backup_finished(listener: BackupListener) -> BackupListener:
    if listener not in _finished_listeners:
        _finished_listeners.append(listener)
    return listener


def selected_specs(backup_type: str, tables: list[str] | None):
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
    require_backup_permission(actor, organization, allow_cross_org=True)
    if config is not None:
        backup_type = config.backup_type
        tables = tables or config.tables_included
    specs = selected_specs(backup_type, tables)
    parent = None
    if backup_type == BackupType.INCREMENTAL:
        try:
            parent = chain_parent(organization)
        except ChainError as exc:
            raise BackupRefused(str(exc)) from exc
    # Locked before the row is committed, so no one sees it running without its worker.
    with transaction.atomic():
        execution = BackupExecution.objects.create(
            organization=organization,
            config=config,
            backup_type=backup_type,
            created_by=actor,
            base_backup=parent,
        )
        lock = RunLock(execution)
    return write_archive(execution, specs, lock)


def _dump_tables(writer: ArchiveWriter, specs, execution: BackupExecution) -> dict:
    """Every table (an incremental: the changes since its parent) into the archive in one
    snapshot; the manifest's tables, the migration state the rows were read at, the baseline
    the next incremental starts from, and for an incremental its parent and deletions."""
    organization_id = execution.organization_id
    engine = engine_for(connection)
    manifest_tables, extra = {}, {}
    # Inside an enclosing transaction (a caller's atomic, a test) the isolation level is
    # already fixed and that transaction is the snapshot.
    own_transaction = not connection.in_atomic_block
    marker = baseline_marker(connection)
    with transaction.atomic():
        if connection.vendor == "postgresql" and own_transaction:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        baseline = baseline_capture(connection, organization_id=organization_id, marker=marker)
        state = migration_state(connection)
        if execution.backup_type == BackupType.INCREMENTAL:
            parent = execution.base_backup
            manifest_tables, extra["deleted"] = dump_incremental(
                connection, organization_id=organization_id, parent=parent, writer=writer
            )
            baseline["parent"] = extra["parent"] = {"id": parent.pk, "sha256": parent.sha256}
            specs = []
        for spec in specs:
            digest = TableDigest()
            with writer.open_member(spec.member) as member:
                engine.dump_table(spec, organization_id, member, digest)
            manifest_tables[spec.name] = digest.manifest_entry(spec)
    return {"tables": manifest_tables, "migrations": state, "baseline": baseline, "extra": extra}


def _build_and_store(execution: BackupExecution, specs) -> tuple[dict, str, int, str]:
    """Build the archive in a temporary file, then store it; what was dumped, the archive's
    SHA-256 and size, and its stored name."""
    organization = execution.organization
    with tempfile.TemporaryFile() as archive_file:
        writer = ArchiveWriter(archive_file)
        dumped = _dump_tables(writer, specs, execution)
        created_at = timezone.now()
        writer.write_manifest(
            {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "backup_id": execution.pk,
                "backup_type": execution.backup_type,
                "organization": {"id": organization.pk, "slug": organization.slug},
                "created_at": created_at.isoformat(),
                "migrations": dumped["migrations"],
                "tables": dumped["tables"],
                **dumped["extra"],
            }
        )
        writer.close()
        sha256, size = file_sha256(archive_file)
        # Named on the organisation's clock (storage names cannot carry a "+" offset; the
        # manifest and the row keep the exact instant).
        local = organization.local_time(created_at)
        name = f"{organization.slug}-{local:%Y%m%dT%H%M%S}-{execution.pk}.zip"
        stored_name = execution.archive.storage.save(
            execution.archive.field.generate_filename(execution, name), archive_file
        )
    return dumped, sha256, size, stored_name


def write_archive(execution: BackupExecution, specs, lock: RunLock) -> BackupExecution:
    """Fill `execution` with its archive (or its error), save it, release its run lock and
    tell the listeners."""
    try:
        _write_archive(execution, specs)
    finally:
        lock.release()
    for listener in _finished_listeners:
        listener(execution)
    return execution


def _write_archive(execution: BackupExecution, specs) -> None:
    started = time.monotonic()
    try:
        dumped, sha256, size, stored_name = _build_and_store(execution, specs)
        manifest_tables = dumped["tables"]
        execution.archive.name = stored_name
        execution.baseline = dumped["baseline"]
        execution.sha256 = sha256
        execution.size_bytes = size
        execution.record_count = sum(table["count"] for table in manifest_tables.values())
        execution.status = BackupExecution.Status.COMPLETED
    except Exception as exc:
        logger.exception("Backup %s of %s failed", execution.pk, execution.organization.slug)
        execution.archive.name = ""
        execution.status = BackupExecution.Status.FAILED
        execution.error_message = f"{type(exc).__name__}: {exc}"
    execution.completed_at = timezone.now()
    execution.duration_ms = int((time.monotonic() - started) * 1000)
    execution.save()
    replica_copy(backup=execution)
