"""Restore drills: proof that a backup restores, run daily per organisation.

The backup (an incremental through its chain) is restored into empty scratch copies of the
organisation's tables that shadow the real ones for this connection only: a scratch schema
first on PostgreSQL's search_path, SQLite's temporary schema (a temporary file), which SQLite
searches before the main database. On the restored copy the drill compares every table's count
and hash with the manifest, and runs the checks registered with `on_drill_checks` (the
integrity app's), then drops the copy with the transaction. Listeners registered with
`on_drill_finished` hear every outcome (the integrity app alerts on a failed drill).
"""

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from .archive import ArchiveError
from .engines import RestoreConflict, engine_for
from .incremental import newest_chain_end
from .models import BackupDrill, BackupExecution
from .services.permissions import BackupRefused, require_backup_permission
from .services.restore import open_restorable, specs_of

logger = logging.getLogger(__name__)

#: A function of an organisation returning [{"slug", "severity", "count"}] for the tables the
#: connection sees; registered by apps above backups.
DrillChecks = Callable[[object], list[dict]]
_checks: list[DrillChecks] = []
_finished: list[Callable[[BackupDrill], None]] = []


def on_drill_checks(checks: DrillChecks) -> DrillChecks:
    if checks not in _checks:
        _checks.append(checks)
    return checks


def on_drill_finished(listener):
    if listener not in _finished:
        _finished.append(listener)
    return listener


def _shadow_tables(specs) -> None:
    """Empty copies of `specs`' tables that this connection reads and writes instead."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            schema = f"drill_{uuid.uuid4().hex[:12]}"
            cursor.execute(f"CREATE SCHEMA {schema}")
            for spec in specs:
                # Keys, defaults, identities and indexes, without the foreign keys to the
                # real tables.
                cursor.execute(
                    f"CREATE TABLE {schema}.{qn(spec.name)} (LIKE public.{qn(spec.name)} "
                    "INCLUDING ALL)"
                )
            cursor.execute(f"SET LOCAL search_path TO {schema}, public")
            return
        for spec in specs:
            cursor.execute(
                f"CREATE TEMP TABLE {qn(spec.name)} AS SELECT * FROM main.{qn(spec.name)} WHERE 0"
            )


def _drop_shadow_tables(specs) -> None:
    if connection.vendor == "postgresql":
        return  # the schema goes with the rolled-back transaction
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for spec in specs:
            cursor.execute(f"DROP TABLE IF EXISTS temp.{qn(spec.name)}")


def _restore_and_check(reader, organization) -> tuple[bool, list[dict], list[str]]:
    specs = specs_of(reader)
    live = [spec for spec in specs if not spec.is_history]
    problems, results = [], []
    try:
        with transaction.atomic():
            _shadow_tables(specs)
            engine = engine_for(connection)
            engine.load(reader, specs, organization.pk)
            engine.plan()
            engine.apply(reason="restore drill", actor_id=None)
            for spec in live:
                expected = reader.tables[spec.name]
                digest = engine.table_digest(spec, organization.pk)
                if (digest.count, digest.hexdigest) != (expected["count"], expected["hash"]):
                    problems.append(
                        f"{spec.name}: {digest.count} rows restored, {expected['count']} in the "
                        "manifest, or their content differs"
                    )
            for checks in _checks:
                results += checks(organization)
            engine.cleanup()
            transaction.set_rollback(True)
    finally:
        _drop_shadow_tables(specs)
    return not problems, results, problems


def backup_drill(*, backup: BackupExecution, actor=None) -> BackupDrill:
    """Restores `backup` into scratch tables, compares them with its manifest and runs the
    registered checks there; records and reports the outcome. Nothing real is touched."""
    require_backup_permission(actor, backup.organization, allow_cross_org=True)
    drill = BackupDrill.objects.create(organization=backup.organization, backup=backup)
    reader = None
    try:
        reader = open_restorable(backup)
        matches, results, problems = _restore_and_check(reader, backup.organization)
        drill.fingerprint_matches = matches
        drill.check_results = results
        errors = sum(result["count"] for result in results if result["severity"] == "ERROR")
        drill.status = BackupDrill.Status.PASSED if matches else BackupDrill.Status.FAILED
        drill.message = "; ".join(problems) or (
            f"Restored {backup.record_count} rows into scratch tables; the fingerprint matches "
            f"the manifest; the integrity checks found {errors} error(s) in the copy."
        )
        if reader.source_note:
            drill.message += f" {reader.source_note}"
    except (BackupRefused, RestoreConflict, ArchiveError, DatabaseError, ValueError) as exc:
        drill.status = BackupDrill.Status.FAILED
        drill.message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
    finally:
        if reader is not None:
            reader.close()
    drill.completed_at = timezone.now()
    drill.save()
    for listener in _finished:
        listener(drill)
    return drill


def drill_candidate(organization) -> BackupExecution | None:
    """The backup a daily drill restores: the organisation's newest completed full or
    incremental backup."""
    return newest_chain_end(organization)


def backup_drills_daily(*, organizations) -> list[BackupDrill]:
    """The daily drill of each organisation's newest backup; an organisation whose previous
    drill still runs is skipped, not drilled twice."""
    timeout = settings.Q_CLUSTER.get("timeout", 3600)
    drills = []
    for organization in organizations:
        backup = drill_candidate(organization)
        if backup is None:
            continue
        running = BackupDrill.objects.filter(
            organization=organization,
            status=BackupDrill.Status.RUNNING,
            started_at__gte=timezone.now() - timedelta(seconds=timeout),
        )
        if running.exists():
            logger.info("Drill of %s still running; today's is skipped", organization)
            continue
        drills.append(backup_drill(backup=backup))
    return drills
