"""Verifying a backup: its archive re-read and restored in a transaction that is rolled back."""

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ..archive import ArchiveError
from ..engines import RestoreConflict, engine_for
from ..models import BackupExecution
from .permissions import BackupRefused, require_backup_permission
from .restore import open_restorable, specs_of


def _drill_problems(reader, organization_id: int) -> list[str]:
    """Restore the archive inside a rolled-back transaction; how the result differs from the
    manifest."""
    engine = engine_for(connection)
    problems = []
    with transaction.atomic():
        engine.load(reader, specs_of(reader), organization_id)
        engine.plan()
        engine.apply(reason="restore drill", actor_id=None)
        for spec in specs_of(reader):
            expected = reader.tables[spec.name]
            if spec.is_history:
                if not engine.history_matches(spec):
                    problems.append(f"{spec.name}: history rows differ after the drill")
                continue
            digest = engine.table_digest(spec, organization_id)
            if digest.count != expected["count"] or digest.hexdigest != expected["hash"]:
                problems.append(
                    f"{spec.name}: {digest.count} rows restored, {expected['count']} "
                    "expected, or their content differs"
                )
        transaction.set_rollback(True)
    return problems


def backup_verify(*, backup: BackupExecution, actor=None) -> BackupExecution:
    """Checks the archive (SHA-256, manifest, content), then restores it inside a transaction
    that is rolled back, comparing the restored tables with the manifest. Stores the outcome
    on the backup."""
    require_backup_permission(actor, backup.organization, allow_cross_org=True)
    reader = None
    try:
        reader = open_restorable(backup)
        problems = _drill_problems(reader, backup.organization_id)
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
