"""Incremental backups: what an organisation changed since the previous backup of its chain.

Every write of an audited row writes a simple-history row in the same transaction (the admin,
imports and restores all do), so the history tables are the change log. An incremental holds
the history rows written since its parent, the live rows those history rows name (their state
now), and the named ids that no longer exist: the deletions. All of it is read in the one
snapshot the backup takes, so a change is wholly in an incremental or wholly in the next.

"Since its parent" needs a baseline that neither a timestamp (same-second writes, history dates
set by the writer) nor a serial id (handed out before commit, so not in commit order) gives.

- PostgreSQL: the parent records the oldest transaction that may still have been running in
  this database when it read (its snapshot's `xmin`, or tighter, from pg_stat_activity read
  just before the snapshot). A history row whose inserting transaction is at least that new
  may be missing from the parent; older ones had committed (or aborted) before it read. Such
  rows are read by `xmin`, converted to a 64-bit id against the current snapshot, and only
  above an id floor: a watermark `V` (the newest history id visible) of an earlier snapshot
  `Q` whose `xmax` is at most that oldest transaction. A transaction that got a history id at
  or below `V` had its transaction id before `Q` was taken (history rows follow the change
  they record, which gave the transaction its id), so it was no longer running when the
  parent read. The floor keeps the read proportional to the change instead of the history
  table. Rows the parent saw but written after that oldest transaction began are read again;
  holding an unchanged row twice is harmless, missing one is not.
- SQLite runs one writer at a time and hands out history ids in commit order, so the parent's
  newest history id is the baseline.
"""

from django.db import connection as default_connection

from .archive import ArchiveError, TableDigest, TableSpec, row_encoder, table_specs, write_table
from .models import BackupExecution, BackupType

_XID_SPAN = 2**32
#: Further back than this a 32-bit xmin can no longer be told apart (wraparound).
_MAX_XID_DISTANCE = 2**31
_CANDIDATE_BASELINES = 20


class ChainError(Exception):
    """An incremental cannot be taken or restored: its chain is missing, broken or unusable."""


def _history_specs() -> list[TableSpec]:
    return [spec for spec in table_specs() if spec.is_history]


def _live_specs() -> list[TableSpec]:
    return [spec for spec in table_specs() if not spec.is_history]


def _history_max(cursor, spec: TableSpec) -> int:
    qn = default_connection.ops.quote_name
    cursor.execute(f"SELECT COALESCE(max({qn(spec.pk_column)}), 0) FROM {qn(spec.name)}")
    return int(cursor.fetchone()[0])


def full_xid_sql(xid32: str, reference: int) -> str:
    """SQL giving the 64-bit id of the recent 32-bit transaction id `xid32`: the one within
    2**31 of `reference` (a current snapshot's xmax). A transaction still running, ours
    included, may hold an id above xmax, so the distance is signed."""
    span, half = _XID_SPAN, _XID_SPAN // 2
    distance = f"(({xid32}::text::bigint - {int(reference) % span}) % {span} + {span} + {half})"
    return f"({int(reference)} + ({distance} % {span}) - {half})"


_HORIZON_SQL = """
SELECT min({full_xid})
FROM pg_stat_activity
WHERE datid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND backend_xid IS NOT NULL
"""
_SEES_ALL_SESSIONS_SQL = (
    "SELECT pg_has_role('pg_read_all_stats', 'USAGE') "
    "OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
)


def baseline_marker(connection) -> dict:
    """Read just before the backup's snapshot: an earlier snapshot `Q` for the floor, and the
    oldest transaction then writing to this database (the horizon)."""
    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
        xmax = int(cursor.fetchone()[0])
        history_max = {spec.name: _history_max(cursor, spec) for spec in _history_specs()}
        marker = {"xmax": xmax, "history_max": history_max}
        # The snapshot's own xmin counts every database of the server, so on a shared server
        # it lags far behind this database's writers. A transaction running at the snapshot
        # either had its id when pg_stat_activity was read after `xmax` (and is listed), or
        # got one later (at least `xmax`). Only a role that sees every session may rely on it.
        cursor.execute(_SEES_ALL_SESSIONS_SQL)
        if cursor.fetchone()[0]:
            cursor.execute(_HORIZON_SQL.format(full_xid=full_xid_sql("backend_xid", xmax)))
            oldest = cursor.fetchone()[0]
            marker["horizon"] = xmax if oldest is None else min(int(oldest), xmax)
    return marker


def baseline_capture(connection, *, organization_id: int, marker: dict) -> dict:
    """The baseline of the backup being taken; call inside its snapshot, before reading."""
    with connection.cursor() as cursor:
        history_max = {spec.name: _history_max(cursor, spec) for spec in _history_specs()}
        if connection.vendor != "postgresql":
            return {"vendor": connection.vendor, "history_max": history_max, "floor": history_max}
        cursor.execute(
            "SELECT pg_current_snapshot()::text, "
            "pg_snapshot_xmin(pg_current_snapshot())::text::bigint, "
            "pg_snapshot_xmax(pg_current_snapshot())::text::bigint, "
            "pg_current_xact_id_if_assigned()::text::bigint"
        )
        snapshot, xmin, xmax, own = cursor.fetchone()
    # Both bound the transactions still running at the snapshot from below; the larger is
    # the tighter.
    since = max(int(xmin), int(marker.get("horizon", 0)))
    if own is not None:
        # A backup inside a transaction that has written (a caller's, a test's): that
        # transaction's later writes share its id, so the next incremental must read them.
        since = min(since, int(own))
    earlier = [marker] if marker else []
    earlier += [
        backup.baseline
        for backup in BackupExecution.objects.filter(
            organization_id=organization_id, status=BackupExecution.Status.COMPLETED
        ).order_by("-started_at", "-pk")[:_CANDIDATE_BASELINES]
        if backup.baseline.get("vendor") == "postgresql"
    ]
    usable = [q for q in earlier if "xmax" in q and int(q["xmax"]) <= since]
    floor = {
        name: max((int(q["history_max"].get(name, 0)) for q in usable), default=0)
        for name in history_max
    }
    return {
        "vendor": "postgresql",
        "snapshot": snapshot,
        "xmin": since,
        "xmax": int(xmax),
        "history_max": history_max,
        "floor": floor,
    }


def newest_chain_end(organization) -> BackupExecution | None:
    """The organisation's newest completed full or incremental backup: what a new incremental
    chains onto and what a daily drill restores."""
    return (
        BackupExecution.objects.filter(
            organization=organization,
            status=BackupExecution.Status.COMPLETED,
            backup_type__in=[BackupType.FULL, BackupType.INCREMENTAL],
        )
        .order_by("-started_at", "-pk")
        .first()
    )


def chain_parent(organization) -> BackupExecution:
    """The backup a new incremental of the organisation chains onto: its newest completed full
    or incremental backup."""
    parent = newest_chain_end(organization)
    if parent is None:
        raise ChainError(
            f"{organization.slug} has no completed full backup for an incremental to chain onto; "
            "take a full backup first."
        )
    if not parent.baseline.get("floor"):
        raise ChainError(
            f"Backup {parent.pk}, the newest of {organization.slug}, was taken before incremental "
            "backups existed and records no baseline; take a full backup first."
        )
    return parent


class IncrementalReader:
    """Reads the changes since `parent` inside the current snapshot (one per backup)."""

    def __init__(self, connection, *, organization_id: int, parent: BackupExecution):
        self.connection = connection
        self.organization_id = organization_id
        self.parent = parent
        baseline = parent.baseline
        if baseline.get("vendor") != connection.vendor:
            raise ChainError(
                f"Backup {parent.pk} was taken on {baseline.get('vendor')}, this database is "
                f"{connection.vendor}; take a full backup first."
            )
        self._floor = {name: int(value) for name, value in baseline["floor"].items()}
        self._since = int(baseline.get("xmin", 0))
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
                self._current = int(cursor.fetchone()[0])
            if self._current - self._since > _MAX_XID_DISTANCE:
                raise ChainError(
                    f"Too many transactions since backup {parent.pk} to tell its changes "
                    "apart; take a full backup."
                )
        #: Per live table: the ids the new history rows name.
        self.touched: dict[str, set[int]] = {spec.name: set() for spec in _live_specs()}

    def history_lines(self, spec: TableSpec):
        """The history rows of `spec` written since the parent, as archive lines."""
        live_name = spec.live_model._meta.db_table
        object_index = spec.columns.index(spec.live_model._meta.pk.column)
        touched = self.touched[live_name]
        for line in self._history_rows(spec):
            touched.add(int(line.split(b"\t", object_index + 1)[object_index]))
            yield line

    def _history_rows(self, spec: TableSpec):
        floor = self._floor.get(spec.name, 0)
        if self.connection.vendor != "postgresql":
            encode = row_encoder(spec)
            attnames = [field.attname for field in spec.fields]
            queryset = (
                spec.model._base_manager.using(self.connection.alias)
                .filter(organization_id=self.organization_id, pk__gt=floor)
                .order_by("pk")
                .values_list(*attnames)
            )
            for row in queryset.iterator(chunk_size=2000):
                yield encode(row).encode()
            return
        yield from self._copy(spec, self.history_where(spec))

    def history_where(self, spec: TableSpec) -> str:
        """PostgreSQL: the condition on `spec`'s rows that picks those written since the
        parent (and some it already holds)."""
        qn = self.connection.ops.quote_name
        floor = self._floor.get(spec.name, 0)
        # xmin is a 32-bit transaction id; every row above the floor is recent enough to be
        # placed against the current snapshot.
        full_xid = full_xid_sql("xmin", self._current)
        return (
            f"organization_id = {int(self.organization_id)} AND {qn(spec.pk_column)} > "
            f"{int(floor)} AND {full_xid} >= {int(self._since)}"
        )

    def live_lines(self, spec: TableSpec):
        """The current rows of the ids the history named; call after every history table."""
        ids = sorted(self.touched[spec.name])
        if not ids:
            return
        if self.connection.vendor != "postgresql":
            encode = row_encoder(spec)
            attnames = [field.attname for field in spec.fields]
            manager = spec.model._base_manager.using(self.connection.alias)
            for start in range(0, len(ids), 500):
                rows = manager.filter(
                    organization_id=self.organization_id, pk__in=ids[start : start + 500]
                ).values_list(*attnames)
                for row in rows:
                    yield encode(row).encode()
            return
        id_array = "'{" + ",".join(str(int(pk)) for pk in ids) + "}'::bigint[]"
        qn = self.connection.ops.quote_name
        yield from self._copy(
            spec,
            f"organization_id = {int(self.organization_id)} AND "
            f"{qn(spec.pk_column)} = ANY({id_array})",
        )

    def _copy(self, spec: TableSpec, where: str):
        qn = self.connection.ops.quote_name
        columns = ", ".join(qn(column) for column in spec.columns)
        sql = f"COPY (SELECT {columns} FROM {qn(spec.name)} WHERE {where}) TO STDOUT"
        with self.connection.cursor() as cursor:
            cursor.execute("SET LOCAL TimeZone = 'UTC'")
            cursor.execute("SET LOCAL DateStyle = 'ISO'")
            with cursor.cursor.copy(sql) as copy:
                for chunk in copy:
                    yield bytes(chunk)


def deleted_member(table: str) -> str:
    return f"{table}.deleted.tsv"


def dump_incremental(connection, *, organization_id: int, parent, writer) -> tuple[dict, dict]:
    """Writes the changes since `parent` to `writer`; returns the manifest's tables (the
    changed rows) and its `deleted` section (per live table, the ids gone since)."""
    reader = IncrementalReader(connection, organization_id=organization_id, parent=parent)
    tables: dict[str, dict] = {}

    def write(spec, lines):
        digest = write_table(writer, spec, lines)
        tables[spec.name] = digest.manifest_entry(spec)
        return digest

    for spec in _history_specs():
        write(spec, reader.history_lines(spec))
    deleted = {}
    for spec in _live_specs():
        present: set[int] = set()
        pk_index = spec.columns.index(spec.pk_column)

        def tracked(lines, present=present, pk_index=pk_index):
            for line in lines:
                present.add(int(line.split(b"\t", pk_index + 1)[pk_index]))
                yield line

        write(spec, tracked(reader.live_lines(spec)))
        gone = sorted(reader.touched[spec.name] - present)
        digest = TableDigest()
        with writer.open_member(deleted_member(spec.name)) as member:
            for pk in gone:
                line = f"{pk}\n".encode()
                digest.add_line(line)
                member.write(line)
        deleted[spec.name] = {"count": digest.count, "hash": digest.hexdigest}
    # Parents before children, as a full archive lists them.
    order = [spec.name for spec in table_specs()]
    return {name: tables[name] for name in order}, deleted


def deleted_ids(reader, table: str) -> list[int]:
    """The ids an incremental archive records as deleted from `table`, checked against its
    manifest."""
    expected = reader.manifest.get("deleted", {}).get(table)
    if expected is None:
        raise ArchiveError(f"The incremental archive lists no deletions for {table}.")
    digest, ids = TableDigest(), []
    for line in reader.lines(deleted_member(table).removesuffix(".tsv")):
        digest.add_line(line)
        ids.append(int(line))
    if digest.count != expected.get("count") or digest.hexdigest != expected.get("hash"):
        raise ArchiveError(f"The deletions of {table} do not match the manifest.")
    return ids


def decode_pk(spec: TableSpec):
    """A function giving a line's primary key, without decoding the rest of it."""
    index = spec.columns.index(spec.pk_column)
    if index == 0:
        return lambda line: int(line[: line.index(b"\t")])
    return lambda line: int(line.split(b"\t", index + 1)[index])
