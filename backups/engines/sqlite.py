"""The SQLite engine: backups and restores in bounded chunks, applied as set-based SQL.

What PostgresEngine does with COPY, done with executemany: a restore loads the archive's rows,
CHUNK at a time, into temporary tables (SQLite's temporary schema, a file, so memory stays
bounded whatever the organisation's size), plans and applies with INSERT ... SELECT, UPDATE and
DELETE over them, and records the restore's history rows by INSERT ... SELECT from the rows it
changed: no model instance and no statement per row. Rows are compared by their archive line,
as the ORM engine compares them: beside each loaded row sits the SHA-256 of its line, beside
each current row of the organisation the SHA-256 of the line a backup would write for it.
Subqueries are uncorrelated `IN (SELECT ...)` wherever they can be, which SQLite evaluates once:
a drill's scratch tables (see `backups.drills`) have no indexes to make a correlated one cheap.
"""

import hashlib
import uuid
from itertools import islice

from django.contrib.auth import get_user_model
from django.db import IntegrityError

from ..archive import NULL, ArchiveError, ArchiveReader, TableDigest, TableSpec
from .base import (
    HISTORY_COLUMNS,
    PARKED_PREFIX,
    USER_COLUMNS,
    RestoreConflict,
    empty_counts,
    outside_set_null_relations,
    unique_text_columns,
)
from .sqlite_rows import line_to_stored, select_list, stored_to_line
from .temporary import TemporaryTableEngine

#: Rows per executemany and per fetch: large enough that statements do not count, small
#: enough that a chunk's rows are a few megabytes.
CHUNK = 2000


def _batched(items, size: int):
    items = iter(items)
    while batch := list(islice(items, size)):
        yield batch


class _KnownUsers:
    """Which user ids exist, asked once per chunk for the ids not seen yet."""

    def __init__(self):
        self.known: set = set()
        self.missing: set = set()

    def absent(self, ids: set) -> set:
        unseen = ids - self.known - self.missing
        unseen.discard(None)
        if unseen:
            found = set(get_user_model().objects.filter(pk__in=unseen).values_list("pk", flat=True))
            self.known |= found
            self.missing |= unseen - found
        return ids & self.missing


class SqliteEngine(TemporaryTableEngine):
    name = "sqlite"

    def _quote(self, name: str) -> str:
        return self.connection.ops.quote_name(name)

    # Backup ----------------------------------------------------------------------------------

    def _encoded(self, spec: TableSpec, where: str, params: list, *, joined: str = ""):
        """Chunks of (stored row, archive line) of `spec`'s table `t` matching `where`; with
        `joined` (a table `b` joined on the key), each row starts with b's digest."""
        qn, table, pk = self._quote, self._quote(spec.name), self._quote(spec.pk_column)
        encode = stored_to_line(spec)
        columns = select_list(spec, "t", qn)
        source = f"{table} t"
        if joined:
            columns = f"b._digest, {columns}"
            source = f"{joined} b JOIN {table} t ON t.{pk} = b.{pk}"
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT {columns} FROM {source} WHERE {where} ORDER BY t.{pk}", params)
            while rows := cursor.fetchmany(CHUNK):
                offset = 1 if joined else 0
                yield [(row, encode(row[offset:])) for row in rows]

    def _org_chunks(self, spec: TableSpec, organization_id: int):
        return self._encoded(spec, "t.organization_id = %s", [organization_id])

    def dump_table(self, spec: TableSpec, organization_id: int, out, digest: TableDigest) -> None:
        for chunk in self._org_chunks(spec, organization_id):
            lines = [line for _, line in chunk]
            for line in lines:
                digest.add_line(line)
            out.write(b"".join(lines))

    def table_digest(self, spec: TableSpec, organization_id: int) -> TableDigest:
        digest = TableDigest()
        for chunk in self._org_chunks(spec, organization_id):
            for _, line in chunk:
                digest.add_line(line)
        return digest

    # Restore: load ---------------------------------------------------------------------------

    def load(self, reader: ArchiveReader, specs: list[TableSpec], organization_id: int) -> None:
        """Loads the archive's rows and the digests of the organisation's current rows into
        temporary tables; refuses rows of another organisation, ids another organisation
        uses, and references that leave the organisation."""
        self._specs = specs
        self._organization_id = organization_id
        suffix = uuid.uuid4().hex[:12]
        users = _KnownUsers()
        with self.connection.cursor() as cursor:
            for index, spec in enumerate(specs):
                temp = self._temp[spec.name] = f"_restore_{suffix}_{index}"
                pk = self._quote(spec.pk_column)
                columns = ", ".join(
                    f"{pk} INTEGER PRIMARY KEY" if column == spec.pk_column else self._quote(column)
                    for column in spec.columns
                )
                cursor.execute(f"CREATE TEMPORARY TABLE {temp} ({columns}, _digest BLOB)")
                for name in ("ins", "upd", "del", "cur"):
                    extra = ", _digest BLOB" if name == "cur" else ""
                    cursor.execute(
                        f"CREATE TEMPORARY TABLE {temp}_{name} ({pk} INTEGER PRIMARY KEY{extra})"
                    )
                self._load_archive(cursor, reader, spec, users)
                self._refuse_invalid_json(cursor, spec)
                self._refuse_taken_ids(cursor, spec)
                if not spec.is_history:
                    self._load_current(cursor, spec)
            self._check_references(cursor)

    def _load_archive(self, cursor, reader: ArchiveReader, spec: TableSpec, users) -> None:
        convert = line_to_stored(spec)
        org_index = spec.columns.index("organization_id")
        user_indexes = [spec.columns.index(c) for c in USER_COLUMNS if c in spec.columns]
        sha256 = hashlib.sha256
        insert = (
            f"INSERT INTO {self._temp[spec.name]} VALUES "
            f"({', '.join(['%s'] * (len(spec.columns) + 1))})"
        )
        for lines in _batched(reader.lines(spec.name), CHUNK):
            converted = [convert(line) for line in lines]
            absent = users.absent({values[i] for _, values in converted for i in user_indexes})
            rows = []
            for line, (texts, values) in zip(lines, converted, strict=True):
                if values[org_index] != self._organization_id:
                    raise ArchiveError(f"Table {spec.name} holds rows of another organisation.")
                # A user deleted since the backup: the restored row forgets them, as the
                # foreign key's SET_NULL would have, and is compared as such.
                forgotten = [i for i in user_indexes if values[i] in absent]
                if forgotten:
                    for index in forgotten:
                        values[index], texts[index] = None, NULL
                    line = ("\t".join(texts) + "\n").encode()
                values.append(sha256(line).digest())
                rows.append(values)
            try:
                cursor.executemany(insert, rows)
            except IntegrityError:
                raise ArchiveError(f"Table {spec.name} holds two rows with the same id.") from None

    def _refuse_invalid_json(self, cursor, spec: TableSpec) -> None:
        for field in spec.fields:
            if field.get_internal_type() != "JSONField":
                continue
            column = self._quote(field.column)
            cursor.execute(
                f"SELECT 1 FROM {self._temp[spec.name]} "
                f"WHERE {column} IS NOT NULL AND NOT json_valid({column}) LIMIT 1"
            )
            if cursor.fetchone():
                raise ArchiveError(f"Table {spec.name} has a {field.column} that is not JSON.")

    def _refuse_taken_ids(self, cursor, spec: TableSpec) -> None:
        table, temp, pk = self._parts(spec)
        cursor.execute(
            f"SELECT 1 FROM {table} WHERE {pk} IN (SELECT {pk} FROM {temp}) "
            "AND organization_id IS NOT %s LIMIT 1",
            [self._organization_id],
        )
        if cursor.fetchone():
            raise RestoreConflict(
                f"Rows of {spec.name} in the backup have ids now used by another organisation."
            )

    def _load_current(self, cursor, spec: TableSpec) -> None:
        sha256, pk_index = hashlib.sha256, spec.columns.index(spec.pk_column)
        insert = f"INSERT INTO {self._temp[spec.name]}_cur VALUES (%s, %s)"
        for chunk in self._org_chunks(spec, self._organization_id):
            cursor.executemany(
                insert, [(row[pk_index], sha256(line).digest()) for row, line in chunk]
            )

    def _absent_from(self, table: str, key: str, column: str, where: str) -> str:
        # Uncorrelated, so evaluated once: a drill's scratch tables have no index to probe.
        # Never a NULL key: `x NOT IN (..., NULL)` is NULL, which would pass every row (an
        # archived history row's id may be NULL).
        scope = f"{where} AND " if where else ""
        return f"b.{column} NOT IN (SELECT {key} FROM {table} WHERE {scope}{key} IS NOT NULL)"

    # Restore: plan and apply -----------------------------------------------------------------

    def _parts(self, spec: TableSpec) -> tuple[str, str, str]:
        return self._quote(spec.name), self._temp[spec.name], self._quote(spec.pk_column)

    def _plan_table(self, cursor, spec: TableSpec) -> dict[str, int]:
        """Counts the table's changes, keeping the ids to insert, update and delete in their own
        temporary tables for apply()."""
        table, temp, pk = self._parts(spec)
        result = empty_counts()
        for name in ("ins", "upd", "del"):
            cursor.execute(f"DELETE FROM {temp}_{name}")
        # A bare key column: SQLite then probes the table's rowid for each id instead
        # of listing every organisation's ids (a key is never NULL: the real tables'
        # is the rowid, a drill's scratch tables are still empty here).
        cursor.execute(
            f"INSERT INTO {temp}_ins SELECT {pk} FROM {temp} "
            f"WHERE {pk} NOT IN (SELECT {pk} FROM {table})"
        )
        result["inserted"] = cursor.rowcount
        if not spec.is_history:
            cursor.execute(
                f"INSERT INTO {temp}_del SELECT {pk} FROM {table} "
                f"WHERE organization_id = %s AND {pk} NOT IN (SELECT {pk} FROM {temp})",
                [self._organization_id],
            )
            result["deleted"] = cursor.rowcount
            cursor.execute(
                f"INSERT INTO {temp}_upd SELECT b.{pk} FROM {temp} b "
                f"JOIN {temp}_cur c ON c.{pk} = b.{pk} WHERE c._digest IS NOT b._digest"
            )
            result["updated"] = cursor.rowcount
        return result

    def _columns(self, spec: TableSpec, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(f"{prefix}{self._quote(column)}" for column in spec.columns)

    def _insert_from_archive(self, cursor, spec: TableSpec) -> None:
        table, temp, pk = self._parts(spec)
        cursor.execute(
            f"INSERT INTO {table} ({self._columns(spec)}) SELECT {self._columns(spec)} "
            f"FROM {temp} WHERE {pk} IN (SELECT {pk} FROM {temp}_ins)"
        )

    def _record(self, cursor, spec: TableSpec, ids: str, history_type: str, history) -> None:
        """History rows of `history_type` for the table's rows whose ids are in `ids`."""
        table, _, pk = self._parts(spec)
        date, reason, actor_id = history
        history_table = self._quote(spec.model.history.model._meta.db_table)
        cursor.execute(
            f"INSERT INTO {history_table} ({self._columns(spec)}, {', '.join(HISTORY_COLUMNS)}) "
            f"SELECT {self._columns(spec)}, %s, %s, %s, %s FROM {table} "
            f"WHERE {pk} IN (SELECT {pk} FROM {ids})",
            [date, reason, history_type, actor_id],
        )

    def _delete_gone(self, cursor, spec: TableSpec, history) -> None:
        table, temp, pk = self._parts(spec)
        gone = f"SELECT {pk} FROM {temp}_del"
        for relation in outside_set_null_relations(spec):
            rel_table = self._quote(relation.related_model._meta.db_table)
            rel_column = self._quote(relation.field.column)
            cursor.execute(
                f"UPDATE {rel_table} SET {rel_column} = NULL WHERE {rel_column} IN ({gone})"
            )
        self._record(cursor, spec, f"{temp}_del", "-", history)
        cursor.execute(f"DELETE FROM {table} WHERE {pk} IN ({gone})")

    def _revert_and_insert(self, cursor, spec: TableSpec, history) -> None:
        table, temp, pk = self._parts(spec)
        changed = f"{pk} IN (SELECT {pk} FROM {temp}_upd)"
        for column in unique_text_columns(spec):
            column = self._quote(column)
            cursor.execute(
                f"UPDATE {table} SET {column} = %s || {pk} WHERE {changed} AND {column} IS NOT "
                f"(SELECT b.{column} FROM {temp} b WHERE b.{pk} = {table}.{pk})",
                [PARKED_PREFIX],
            )
        others = [self._quote(column) for column in spec.columns if column != spec.pk_column]
        cursor.execute(
            f"UPDATE {table} SET ({', '.join(others)}) = (SELECT "
            f"{', '.join(f'b.{column}' for column in others)} FROM {temp} b "
            f"WHERE b.{pk} = {table}.{pk}) WHERE {changed}"
        )
        self._record(cursor, spec, f"{temp}_upd", "~", history)
        self._insert_from_archive(cursor, spec)
        self._record(cursor, spec, f"{temp}_ins", "+", history)

    # Verification and cleanup ------------------------------------------------------------------

    def history_matches(self, spec: TableSpec) -> bool:
        """Whether every history row of the archive is in the database as it was backed up."""
        sha256, temp = hashlib.sha256, self._temp[spec.name]
        matching = 0
        chunks = self._encoded(spec, "t.organization_id = %s", [self._organization_id], joined=temp)
        for chunk in chunks:
            matching += sum(1 for row, line in chunk if sha256(line).digest() == row[0])
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {temp}")
            (expected,) = cursor.fetchone()
        return matching == expected

    def cleanup(self) -> None:
        temps, self._temp = list(self._temp.values()), {}
        if self.connection.needs_rollback:
            return  # they go with the transaction
        with self.connection.cursor() as cursor:
            for temp in temps:
                for name in (temp, f"{temp}_ins", f"{temp}_upd", f"{temp}_del", f"{temp}_cur"):
                    cursor.execute(f"DROP TABLE IF EXISTS temp.{name}")
