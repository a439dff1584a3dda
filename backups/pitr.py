"""Point-in-time restore: an organisation's projects, properties and analyses as they were at
an instant, rebuilt from the nearest backup taken before it plus the history written since.

The base is the newest full or incremental backup that completed at or before the instant (an
incremental stands for its folded chain). Its snapshot holds the history up to it, so the
history rows written after it are those the database has and the archive lacks; they are found
with the same baseline an incremental reads by (backups/incremental.py) and applied in time
order while their `history_date` is at or before the instant: each `+`/`~` row is the object's
whole state then, a `-` row its deletion. Without such a backup the history alone is used,
where it reaches back to the creation of every row. The state is restored by the replace_all
engines, so plan, refusals, one transaction and the restore's own history are those of every
restore: on PostgreSQL built in the engine's temporary tables by set-based SQL
(backups/pitr_postgres.py), elsewhere in Python and written as an ordinary archive.
"""

import tempfile
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from .archive import (
    FORMAT_NAME,
    FORMAT_VERSION,
    ArchiveReader,
    row_decoder,
    row_encoder,
    table_specs,
    write_table,
)
from .chains import FoldWriter
from .engines import engine_for
from .incremental import IncrementalReader
from .models import BackupExecution, BackupType, RestoreExecution
from .pitr_postgres import PointInTimeEngine
from .services.permissions import BackupRefused
from .services.restore import (
    open_restorable,
    require_restorer,
    restore_apply,
    restore_recorded,
)
from .services.runs import RunLock

_HISTORY_TYPE = "history_type"


class PointInTimeError(Exception):
    """The instant cannot be restored to (before the window, in the future)."""


def _live_specs():
    return [spec for spec in table_specs() if not spec.is_history]


def pitr_bases(organization):
    """Backups a point-in-time restore can start from, newest first."""
    return (
        BackupExecution.objects.filter(
            organization=organization,
            status=BackupExecution.Status.COMPLETED,
            backup_type__in=[BackupType.FULL, BackupType.INCREMENTAL],
            completed_at__isnull=False,
        )
        .exclude(baseline={})
        .order_by("-completed_at", "-pk")
    )


def history_reaches_back(organization) -> bool:
    """Whether every row the organisation has, or had, has its creation in history."""
    for spec in _live_specs():
        history = spec.model.history.model._base_manager.filter(organization_id=organization.pk)
        created = history.filter(history_type="+").values("id")
        live = spec.model._base_manager.filter(organization_id=organization.pk)
        if live.exclude(pk__in=created).exists():
            return False
        if history.exclude(id__in=created).exists():
            return False
    return True


def restorable_window(organization) -> tuple[datetime | None, datetime]:
    """(oldest instant a point-in-time restore can reach, now); None when none can."""
    now = timezone.now()
    if history_reaches_back(organization):
        first = (
            _first_history_date(organization)
            if not pitr_bases(organization).exists()
            else min(
                _first_history_date(organization) or now,
                pitr_bases(organization).last().completed_at,
            )
        )
        return first or now, now
    oldest = pitr_bases(organization).last()
    return (oldest.completed_at if oldest else None), now


def _first_history_date(organization):
    dates = [
        spec.model.history.model._base_manager.filter(organization_id=organization.pk)
        .order_by("history_date")
        .values_list("history_date", flat=True)
        .first()
        for spec in _live_specs()
    ]
    dates = [date for date in dates if date is not None]
    return min(dates) if dates else None


def pitr_base_for(organization, as_of: datetime) -> BackupExecution | None:
    if as_of > timezone.now():
        raise PointInTimeError(f"{as_of.isoformat()} is in the future.")
    base = pitr_bases(organization).filter(completed_at__lte=as_of).first()
    if base is None and not history_reaches_back(organization):
        start, _ = restorable_window(organization)
        reach = f"from {start.isoformat()}" if start else "to no instant yet (take a backup)"
        raise PointInTimeError(
            f"{organization.slug} cannot be restored to {as_of.isoformat()}: no backup was "
            f"completed by then and its history does not reach back to every row's creation. "
            f"It can be restored {reach}."
        )
    return base


def _state_from(base_reader) -> tuple[dict, dict]:
    """The live rows of the base archive per table (id -> values), and its history ids."""
    state, seen = {}, {}
    for spec in table_specs():
        decode = row_decoder(spec)
        pk_index = spec.columns.index(spec.pk_column)
        if spec.is_history:
            seen[spec.name] = {
                int(line.split(b"\t", pk_index + 1)[pk_index])
                for line in base_reader.lines(spec.name)
            }
        else:
            state[spec.name] = {
                values[pk_index]: values for values in map(decode, base_reader.lines(spec.name))
            }
    return state, seen


def _history_since(organization, base, seen):
    """Per history table, the decoded history rows the base archive lacks."""
    if base is None:
        for spec in table_specs():
            if spec.is_history:
                rows = spec.model._base_manager.filter(organization_id=organization.pk)
                attnames = [field.attname for field in spec.fields]
                yield spec, [list(row) for row in rows.values_list(*attnames).iterator()]
        return
    reader = IncrementalReader(connection, organization_id=organization.pk, parent=base)
    for spec in table_specs():
        if spec.is_history:
            decode = row_decoder(spec)
            pk_index = spec.columns.index(spec.pk_column)
            rows = [decode(line) for line in reader.history_lines(spec)]
            yield spec, [row for row in rows if row[pk_index] not in seen.get(spec.name, ())]


def state_at(organization, as_of: datetime, base, base_reader):
    """The organisation's live rows at `as_of`, per table."""
    state, seen = _state_from(base_reader) if base_reader is not None else ({}, {})
    for spec in _live_specs():
        state.setdefault(spec.name, {})
    for history_spec, rows in _history_since(organization, base, seen):
        live = history_spec.live_model._meta.db_table
        live_columns = next(spec for spec in _live_specs() if spec.name == live).columns
        positions = [history_spec.columns.index(column) for column in live_columns]
        date_index = history_spec.columns.index("history_date")
        type_index = history_spec.columns.index(_HISTORY_TYPE)
        id_index = history_spec.columns.index(history_spec.pk_column)
        object_index = history_spec.columns.index("id")
        applied = sorted(
            (row for row in rows if row[date_index] <= as_of),
            key=lambda row: (row[date_index], row[id_index]),
        )
        for row in applied:
            if row[type_index] == "-":
                state[live].pop(row[object_index], None)
            else:
                state[live][row[object_index]] = [row[index] for index in positions]
    return state


def state_archive(state: dict, manifest: dict) -> ArchiveReader:
    """The state as an archive of the live tables, for the replace_all engines."""
    # Not a with-block: the returned reader owns the file and closes it.
    archive_file = tempfile.TemporaryFile()  # noqa: SIM115
    writer = FoldWriter(archive_file)
    tables = {}
    for spec in _live_specs():
        encode = row_encoder(spec)
        lines = (encode(values).encode() for values in state[spec.name].values())
        tables[spec.name] = write_table(writer, spec, lines).manifest_entry(spec)
    writer.write_manifest({**manifest, "tables": tables})
    writer.close()
    archive_file.seek(0)
    return ArchiveReader(archive_file)


def organization_restore_as_of(
    *, organization, as_of: datetime, actor=None, dry_run: bool = False
) -> RestoreExecution:
    """Puts the organisation's projects, properties and analyses back to their state at
    `as_of`, in one transaction (see the module's docstring). Refusals raise BackupRefused
    after recording a refused RestoreExecution."""
    if timezone.is_naive(as_of):
        as_of = timezone.make_aware(as_of)
    # Locked before the row is committed, as every restore: a killed worker's row is found
    # running with a free lock and marked failed (backups/services/runs.py).
    with transaction.atomic():
        restore = RestoreExecution.objects.create(
            organization=organization,
            strategy=RestoreExecution.Strategy.POINT_IN_TIME,
            dry_run=dry_run,
            actor=actor,
            as_of=as_of,
        )
        lock = RunLock(restore)
    try:
        return restore_as_of_run(restore)
    finally:
        lock.release()


def restore_as_of_run(restore: RestoreExecution) -> RestoreExecution:
    """Runs a recorded point-in-time restore as its actor, under its run lock (held by the
    caller)."""
    organization, as_of, actor = restore.organization, restore.as_of, restore.actor
    base_reader = None

    def target():
        try:
            state = state_at(organization, as_of, restore.backup, base_reader)
        finally:
            if base_reader is not None:
                base_reader.close()
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "organization": {"id": organization.pk, "slug": organization.slug},
            "as_of": as_of.isoformat(),
        }
        return state_archive(state, manifest)

    with restore_recorded(restore) as opened:
        require_restorer(actor, organization)
        try:
            restore.backup = pitr_base_for(organization, as_of)
        except PointInTimeError as exc:
            raise BackupRefused(str(exc)) from exc
        if restore.backup is not None:
            base_reader = open_restorable(restore.backup)
            opened.append(base_reader)
            restore.archive_note = base_reader.source_note
        if connection.vendor == "postgresql":
            # The state is rebuilt in the database (backups/pitr_postgres.py).
            engine = PointInTimeEngine(connection, as_of=as_of, base=restore.backup)
            restore_apply(
                restore, reader=lambda: base_reader, specs=_live_specs(), engine=engine, actor=actor
            )
        else:
            restore_apply(
                restore,
                reader=target,
                specs=_live_specs(),
                engine=engine_for(connection),
                actor=actor,
            )
    return restore
