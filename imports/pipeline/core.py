"""The import pipeline: rows in from a reader, validated by the pure rules, classified and
written batch by batch through a writer, rejected rows out to a report.

Every path (admin preview, admin import, command, background task) runs this one pipeline. It
holds the batch being written and at most two validated ahead by a reader thread, plus a
compact table of the ids already seen (to reject a second row with the same id), never the
whole file. A batch is `batch_size` rows of the file,
whatever their fate; the caller's `batch_scope` wraps each batch (the services make it a
transaction that also records the progress and the resume marker).
"""

import contextlib
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from django.db import connection

from properties.models import Project, Property

from ..readers import FileRefused, RawRow, TableReader
from ..rules import ColumnMap, ValidRow, cells_by_column, map_columns, merge_groups, validate_row
from .reports import SAMPLE_SIZE
from .seen import SeenIds
from .writers import IMPORTED_GROUPS, PropertyWriter

LOOKUP_CHUNK = 900
PREFETCH_SWITCH_INTERVAL = 0.0005


class OnDuplicate:
    SKIP = "skip"
    UPDATE = "update"
    ERROR = "error"
    CHOICES = (SKIP, UPDATE, ERROR)


@dataclass
class PipelineResult:
    total: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    elapsed: float = 0.0
    #: Rows read (and written) by this run, without those a resumed run skipped.
    rows_this_run: int = 0
    samples: dict = field(default_factory=lambda: {"new": [], "update": [], "skip": []})
    columns: dict = field(default_factory=dict)

    @property
    def processed(self) -> int:
        return self.created + self.updated + self.skipped + self.rejected

    def as_totals(self) -> dict:
        return {
            "total": self.total,
            "new": self.created,
            "update": self.updated,
            "skip": self.skipped,
            "reject": self.rejected,
        }


@dataclass
class _Pending:
    raw: RawRow
    valid: ValidRow


def _no_scope(result):
    return contextlib.nullcontext()


@dataclass(slots=True)
class PropertyRow:
    """A new property for a writer that does not need a model instance (COPY, dry run):
    building a Property costs more than validating its row."""

    project_id: int
    organization_id: int
    external_id: str
    groups: dict
    created_by_id: int | None = None
    pk: None = None
    #: What the writer's prepare() made of the row in the reader thread (COPY: its line).
    prepared: object = None


_END = object()


class _Prefetch:
    """Runs a chunk generator in a thread, at most `depth` chunks ahead (memory stays bounded);
    its exceptions are raised here, in order, after the chunks before them."""

    def __init__(self, chunks: Iterator, depth: int = 2):
        self._chunks = chunks
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="import-reader", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self):
        try:
            for chunk in self._chunks:
                if not self._put(chunk):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(exc)

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self):
        self._stop.set()
        self._thread.join()


class ImportPipeline:
    def __init__(
        self,
        *,
        project: Project,
        reader: TableReader,
        writer: PropertyWriter,
        report,
        actor=None,
        on_duplicate: str = OnDuplicate.SKIP,
        batch_size: int = 1000,
        batch_scope: Callable[[PipelineResult], contextlib.AbstractContextManager] = _no_scope,
        resume_after: int = 0,
        counts: dict | None = None,
        prefetch: bool = True,
    ):
        self.project = project
        self.reader = reader
        self.writer = writer
        self.report = report
        self.actor = actor
        self.on_duplicate = on_duplicate
        self.batch_size = max(1, batch_size)
        self.batch_scope = batch_scope
        self.resume_after = resume_after
        self.prefetch = prefetch
        self.result = PipelineResult(**(counts or {}))
        self.column_map: ColumnMap = map_columns(reader.headers)
        if self.column_map.missing:
            found = ", ".join(h for h in reader.headers if h) or "none"
            plural = "s" if len(self.column_map.missing) > 1 else ""
            raise FileRefused(
                f"The file is missing the required column{plural}: "
                f"{', '.join(self.column_map.missing)}. Columns found: {found}."
            )
        self._seen = SeenIds()
        self._prepare = getattr(writer, "prepare", None)

    def run(self) -> PipelineResult:
        started = time.monotonic()
        result = self.result
        result.columns = {
            "headers": list(self.column_map.headers),
            "mapped": {
                name: self.column_map.headers[index]
                for name, index in self.column_map.positions.items()
            },
            "ignored": list(self.column_map.ignored),
        }
        chunks = self._validated_chunks()
        if self.prefetch:
            chunks = _Prefetch(chunks)
            # The main thread waits on the database a dozen times a batch; with the default
            # 5 ms switch interval it then waits again for the reader thread to hand the GIL
            # back. 0.5 ms made a 50,000-row import about 14% faster (bench_imports_large.py).
            switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(PREFETCH_SWITCH_INTERVAL)
        try:
            for entries in chunks:
                with self.batch_scope(result):
                    self._apply(entries)
                    self.report.flush()
        finally:
            if self.prefetch:
                chunks.close()
                sys.setswitchinterval(switch_interval)
        result.elapsed = time.monotonic() - started
        return result

    def _validated_chunks(self) -> Iterator[list[tuple]]:
        """The file's rows, validated, `batch_size` at a time: (raw, valid row or None, errors).

        Pure Python, no database: with prefetch it runs in a thread, so the next batch is read
        and validated while this one is written (the database wait releases the GIL)."""
        rows = self.reader.rows()
        if self.resume_after:
            self._replay(islice(rows, self.resume_after))
        while True:
            # Pulled lazily, one batch at a time: the file is never held.
            chunk = list(islice(rows, self.batch_size))
            if not chunk:
                return
            yield [self._validate(raw) for raw in chunk]

    def _validate(self, raw: RawRow) -> tuple:
        if raw.problem:
            return raw, None, [f"row: {raw.problem}"]
        valid, errors = validate_row(cells_by_column(self.column_map, raw.values), row=raw.number)
        if errors:
            return raw, None, [f"{error.field}: {error.message}" for error in errors]
        first = self._seen.first_row(valid.external_id, raw.number)
        if first is not None:
            return raw, None, [f"propertyid: {self._duplicate_message(valid, first)}"]
        if self._prepare is not None:
            # Serialising here, in the reader thread, overlaps it with the database's work.
            valid.prepared = self._prepare(valid)
        return raw, valid, None

    def _replay(self, rows: Iterator[RawRow]):
        """A resumed run: the rows before the marker are committed already. They are only
        validated again, to know their ids, so a later repeat is still rejected naming them."""
        for raw in rows:
            if raw.problem:
                continue
            valid, errors = validate_row(
                cells_by_column(self.column_map, raw.values), row=raw.number
            )
            if not errors:
                self._seen.first_row(valid.external_id, raw.number)

    def _apply(self, entries: list[tuple]):
        pending: list[_Pending] = []
        for raw, valid, errors in entries:
            self.result.total += 1
            self.result.rows_this_run += 1
            if errors:
                self._reject(raw, errors)
            else:
                pending.append(_Pending(raw, valid))
        if pending:
            self._write(pending)

    def _duplicate_message(self, valid: ValidRow, first: int) -> str:
        if valid.external_id.startswith("addr-") and "propertyid" not in self.column_map.positions:
            return f"same address, suburb and postcode as row {first}"
        return f"same property id {valid.external_id!r} as row {first}"

    def _reject(self, raw: RawRow, errors: list[str]):
        self.result.rejected += 1
        self.report.add(raw, errors)

    def _write(self, batch: list[_Pending]):
        existing = self._existing([item.valid.external_id for item in batch])
        creates: list[tuple[_Pending, Property]] = []
        updates: list[tuple[_Pending, Property, list[str]]] = []
        for item in batch:
            current = existing.get(item.valid.external_id)
            if current is None:
                creates.append((item, self._new_property(item.valid)))
            elif self.on_duplicate == OnDuplicate.ERROR:
                self._reject(
                    item.raw,
                    [
                        f"propertyid: {item.valid.external_id!r} already exists in this project "
                        f"(property {current.pk})"
                    ],
                )
            elif self.on_duplicate == OnDuplicate.UPDATE:
                merged = merge_groups(
                    {group: getattr(current, group) for group in IMPORTED_GROUPS},
                    item.valid.groups,
                )
                changed = [g for g, value in merged.items() if value != getattr(current, g)]
                if changed:
                    for group in changed:
                        setattr(current, group, merged[group])
                    updates.append((item, current, changed))
                else:
                    self._skip(item, "unchanged")
            else:
                self._skip(item, "already exists")

        failed = self._failures(self.writer.create([prop for _, prop in creates]))
        for item, prop in creates:
            if id(prop) in failed:
                self._reject(item.raw, [f"propertyid: {failed[id(prop)]}"])
            else:
                self.result.created += 1
                self._sample("new", item, extra={})
        failed = self._failures(self.writer.update([prop for _, prop, _ in updates]))
        for item, prop, changed in updates:
            if id(prop) in failed:
                self._reject(item.raw, [f"propertyid: {failed[id(prop)]}"])
            else:
                self.result.updated += 1
                self._sample("update", item, extra={"changed": changed, "property_id": prop.pk})

    def _existing(self, external_ids: list[str]) -> dict:
        """The batch's ids already stored in the project. Only an update needs the stored
        values; skip and error need the primary key alone."""
        found = {}
        properties = Property.objects.filter(project=self.project)
        if connection.vendor == "postgresql" and self.on_duplicate != OnDuplicate.UPDATE:
            # One array parameter instead of thousands of placeholders: building and binding
            # those cost more than the query itself.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT external_id, id FROM {Property._meta.db_table} "
                    "WHERE project_id = %s AND external_id = ANY(%s)",
                    [self.project.pk, external_ids],
                )
                return {external_id: Property(pk=pk) for external_id, pk in cursor.fetchall()}
        # In chunks: SQLite caps the parameters of one query, and a batch may be larger.
        for start in range(0, len(external_ids), LOOKUP_CHUNK):
            chunk = properties.filter(external_id__in=external_ids[start : start + LOOKUP_CHUNK])
            if self.on_duplicate == OnDuplicate.UPDATE:
                found.update((prop.external_id, prop) for prop in chunk)
            else:
                found.update(
                    (external_id, Property(pk=pk))
                    for external_id, pk in chunk.values_list("external_id", "pk")
                )
        return found

    @staticmethod
    def _failures(failures) -> dict[int, str]:
        return {id(prop): message for prop, message in failures}

    def _skip(self, item: _Pending, reason: str):
        self.result.skipped += 1
        self._sample("skip", item, extra={"reason": reason})

    def _sample(self, kind: str, item: _Pending, *, extra: dict):
        samples = self.result.samples[kind]
        if len(samples) >= SAMPLE_SIZE:
            return
        groups = item.valid.groups
        basic = groups.get("basic_info", {})
        samples.append(
            {
                "row": item.raw.number,
                "external_id": item.valid.external_id,
                "address": basic.get("address", ""),
                "suburb": basic.get("suburb", ""),
                "postcode": basic.get("postcode", ""),
                "state": basic.get("state", ""),
                "estimated_value": groups.get("financial_metrics", {}).get("estimated_value"),
                **extra,
            }
        )

    def _new_property(self, valid: ValidRow) -> Property | PropertyRow:
        if not getattr(self.writer, "takes_models", True):
            return PropertyRow(
                project_id=self.project.pk,
                organization_id=self.project.organization_id,
                external_id=valid.external_id,
                groups=valid.groups,
                created_by_id=getattr(self.actor, "pk", None),
                prepared=getattr(valid, "prepared", None),
            )
        # Bulk creation skips Property.save(), so the tenant key is set here.
        return Property(
            project=self.project,
            organization_id=self.project.organization_id,
            external_id=valid.external_id,
            created_by=self.actor,
            **valid.groups,
        )
