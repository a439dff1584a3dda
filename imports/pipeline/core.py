"""The import pipeline: rows in from a reader, validated by the pure rules, classified and
written batch by batch through a writer, rejected rows out to a report.

Every path (admin preview, admin import, command, background task) runs this one pipeline. It
holds the batch being written and at most two validated ahead (by a thread or a forked process,
see `prefetch`), plus a compact table of the ids already seen (to reject a second row with the
same id), never the whole file. A batch is `batch_size` rows of the file, whatever their fate;
the caller's `batch_scope` wraps each batch (the services make it a transaction that also
records the progress and the resume marker)."""

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import orjson
from django.db import DataError, IntegrityError, connection, transaction

from properties.models import Project, Property

from ..columns import ColumnMap, cells_by_column, map_columns
from ..readers import FileRefused, RawRow, TableReader
from ..rules import RuleSettings, ValidRow, merge_groups, validate_row
from .prefetch import THREAD, prefetched
from .refusals import REFUSED_BY_DATABASE
from .reports import SAMPLE_SIZE
from .rows import ALL_GROUPS, IMPORTED_GROUPS, BatchRows, NewRow
from .seen import SeenIds
from .writers import PropertyWriter

LOOKUP_CHUNK = 900
_EMPTY_GROUP = "{}"
logger = logging.getLogger(__name__)


def _refusals() -> tuple:
    # Refusals only (a lock timeout fails the job); COPY raises the driver's own errors.
    driver = connection.Database
    return (DataError, IntegrityError, driver.DataError, driver.IntegrityError)


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
    #: Rows kept with a warning (counted among created, updated or skipped too).
    warned: int = 0
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
            "warn": self.warned,
        }


@dataclass
class Batch:
    """One batch of the file, validated: what crosses from the validation to the writer.

    Compact on purpose: a forked validator pickles it, and a dict per row would cost more to
    unpickle than the row costs to write."""

    size: int
    #: Rows the rules refused, with their errors, in file order.
    rejected: list[tuple[RawRow, list[str]]]
    #: Valid rows, in file order.
    rows: BatchRows
    #: Valid rows the rules flagged, with their warnings, in file order (kept in `rows` too).
    warned: list[tuple[RawRow, list[str]]] = field(default_factory=list)


def _failure_error(message: str) -> str:
    """A write failure as a report error: a refused value concerns the row, a conflict its id."""
    return f"{'row' if message == REFUSED_BY_DATABASE else 'propertyid'}: {message}"


def _no_scope(result):
    return contextlib.nullcontext()


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
        prefetch: str = THREAD,
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
        # Read once, before any validator forks: the rules never touch the database.
        self.rule_settings = RuleSettings.of(project.organization)
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
        # Whether the next batch is looked up before it is written. After a batch with no id
        # stored already, the next ones are written without looking (a fresh or resumed import
        # of new rows) until a write meets a stored id; then every batch is looked up.
        self._look_up = True
        self._met_stored_ids = False

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
        with prefetched(self._validated_batches, self.prefetch) as batches:
            for batch in batches:
                with self.batch_scope(result):
                    self._apply(batch)
                    self.report.flush()
        result.elapsed = time.monotonic() - started
        return result

    # Validation: pure Python, no database, so it can run ahead in a thread or a process ------

    def _validated_batches(self) -> Iterator[Batch]:
        """The file's rows, validated, `batch_size` at a time."""
        rows = self.reader.rows()
        if self.resume_after:
            self._replay(islice(rows, self.resume_after))
        while True:
            # Pulled lazily, one batch at a time: the file is never held.
            raws = list(islice(rows, self.batch_size))
            if not raws:
                return
            batch = Batch(size=len(raws), rejected=[], rows=BatchRows())
            for raw in raws:
                self._validate(raw, batch)
            yield batch

    def _validate(self, raw: RawRow, batch: Batch):
        if raw.problem:
            batch.rejected.append((raw, [f"row: {raw.problem}"]))
            return
        valid, errors = validate_row(
            cells_by_column(self.column_map, raw.values),
            row=raw.number,
            settings=self.rule_settings,
        )
        if errors:
            batch.rejected.append((raw, [f"{error.field}: {error.message}" for error in errors]))
            return
        first = self._seen.first_row(valid.external_id, raw.number)
        if first is not None:
            batch.rejected.append((raw, [f"propertyid: {self._duplicate_message(valid, first)}"]))
            return
        dumps, groups = orjson.dumps, valid.groups
        texts = tuple(
            dumps(groups[g]).decode() if g in groups else _EMPTY_GROUP for g in ALL_GROUPS
        )
        # Serialising here, ahead of the writer, overlaps it with the database's work.
        prepared = self._prepare(valid.external_id, texts) if self._prepare else None
        if valid.warnings:
            batch.warned.append(
                (raw, [f"{finding.field}: {finding.message}" for finding in valid.warnings])
            )
        batch.rows.append(NewRow(raw.number, raw.values, valid.external_id, texts, prepared))

    def _replay(self, rows: Iterator[RawRow]):
        """A resumed run: the rows before the marker are committed already. They are only
        validated again, to know their ids, so a later repeat is still rejected naming them."""
        for raw in rows:
            if raw.problem:
                continue
            valid, errors = validate_row(
                cells_by_column(self.column_map, raw.values),
                row=raw.number,
                settings=self.rule_settings,
            )
            if not errors:
                self._seen.first_row(valid.external_id, raw.number)

    def _duplicate_message(self, valid: ValidRow, first: int) -> str:
        if valid.external_id.startswith("addr-") and "propertyid" not in self.column_map.positions:
            return f"same address, suburb and postcode as row {first}"
        return f"same property id {valid.external_id!r} as row {first}"

    # Classification and writing: in this process, batch by batch ------------------------------

    def _apply(self, batch: Batch):
        self.result.total += batch.size
        self.result.rows_this_run += batch.size
        for raw, errors in batch.rejected:
            self._reject(raw, errors)
        for raw, warnings in batch.warned:
            self.result.warned += 1
            self.report.add_warning(raw, warnings)
        if batch.rows:
            self._write(batch.rows)

    def _reject(self, raw: RawRow, errors: list[str]):
        self.result.rejected += 1
        self.report.add(raw, errors)

    def _reject_row(self, row: NewRow, errors: list[str]):
        self._reject(RawRow(row.number, row.values), errors)

    def _write(self, rows: BatchRows):
        create_new = getattr(self.writer, "create_new", None)
        if not self._look_up and create_new is not None:
            try:
                with transaction.atomic():
                    stored = create_new(rows)
            except _refusals():  # the careful path below finds the row the database refused
                stored = False
            if stored:
                self._created(rows)
                return
            self._met_stored_ids = True
        existing = self._existing([row.external_id for row in rows])
        self._look_up = bool(existing) or self._met_stored_ids
        # The common case, a batch of new ids, is not walked row by row in this process.
        creates = rows if not existing else BatchRows()
        updates: list[tuple[NewRow, Property, list[str]]] = []
        for row in rows if existing else ():
            current = existing.get(row.external_id)
            if current is None:
                creates.append(row)
            elif self.on_duplicate == OnDuplicate.ERROR:
                self._reject_row(
                    row,
                    [
                        f"propertyid: {row.external_id!r} already exists in this project "
                        f"(property {current.pk})"
                    ],
                )
            elif self.on_duplicate == OnDuplicate.UPDATE:
                merged = merge_groups(
                    {group: getattr(current, group) for group in IMPORTED_GROUPS},
                    {g: v for g, v in row.groups().items() if g in IMPORTED_GROUPS},
                )
                changed = [g for g, value in merged.items() if value != getattr(current, g)]
                if changed:
                    for group in changed:
                        setattr(current, group, merged[group])
                    updates.append((row, current, changed))
                else:
                    self._skip(row, "unchanged")
            else:
                self._skip(row, "already exists")

        failed = self._stored_or_refused(self.writer.create, creates, BatchRows)
        if failed:
            self._created(BatchRows(row for row in creates if id(row) not in failed))
            for row in creates:
                if id(row) in failed:
                    self._reject_row(row, [_failure_error(failed[id(row)])])
        else:
            self._created(creates)
        failed = self._stored_or_refused(self.writer.update, [prop for _, prop, _ in updates], list)
        for row, prop, changed in updates:
            if id(prop) in failed:
                self._reject_row(row, [_failure_error(failed[id(prop)])])
            else:
                self.result.updated += 1
                self._sample("update", row, extra={"changed": changed, "property_id": prop.pk})

    def _created(self, rows: BatchRows):
        self.result.created += len(rows)
        room = SAMPLE_SIZE - len(self.result.samples["new"])
        if room > 0:  # only then: a packed batch is not unpacked for nothing
            for row in rows[:room]:
                self._sample("new", row, extra={})

    def _existing(self, external_ids: list[str]) -> dict:
        """The batch's ids already stored in the project. Only an update needs the stored
        values; skip and error need the primary key alone."""
        found = {}
        properties = Property.objects.filter(project=self.project)
        if connection.vendor == "postgresql" and self.on_duplicate != OnDuplicate.UPDATE:
            # One JSON parameter instead of thousands of placeholders (or a list parameter,
            # which psycopg converts in Python): converting those cost more than the query.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT external_id, id FROM {Property._meta.db_table} "
                    "WHERE project_id = %s AND external_id = ANY(ARRAY("
                    "SELECT jsonb_array_elements_text(%s::jsonb)))",
                    [self.project.pk, json.dumps(external_ids)],
                )
                return {external_id: Property(pk=pk) for external_id, pk in cursor.fetchall()}
        # In slices: SQLite caps the parameters of one query, and a batch may be larger.
        for start in range(0, len(external_ids), LOOKUP_CHUNK):
            found_slice = properties.filter(
                external_id__in=external_ids[start : start + LOOKUP_CHUNK]
            )
            if self.on_duplicate == OnDuplicate.UPDATE:
                found.update((prop.external_id, prop) for prop in found_slice)
            else:
                found.update(
                    (external_id, Property(pk=pk))
                    for external_id, pk in found_slice.values_list("external_id", "pk")
                )
        return found

    @staticmethod
    def _failures(failures) -> dict[int, str]:
        return {id(item): message for item, message in failures}

    def _stored_or_refused(self, write, items, batch_of) -> dict[int, str]:
        """`write(items)` in a savepoint; if the database refuses the batch (a value it cannot
        store that the rules let through), the batch again row by row, each in its own
        savepoint, so only the refused rows are rejected and every other row is stored."""
        if not items:
            return {}
        try:
            with transaction.atomic():
                return self._failures(write(items))
        except _refusals() as exc:
            logger.warning(
                "The database refused a batch of %s; retrying row by row: %s", self.project, exc
            )
        failed = {}
        for item in items:
            try:
                with transaction.atomic():
                    failed.update(self._failures(write(batch_of([item]))))
            except _refusals() as exc:
                logger.warning("The database refused a row of %s: %s", self.project, exc)
                failed[id(item)] = REFUSED_BY_DATABASE
        return failed

    def _skip(self, row: NewRow, reason: str):
        self.result.skipped += 1
        self._sample("skip", row, extra={"reason": reason})

    def _sample(self, kind: str, row: NewRow, *, extra: dict):
        samples = self.result.samples[kind]
        if len(samples) >= SAMPLE_SIZE:
            return
        groups = row.groups()
        basic = groups["basic_info"]
        samples.append(
            {
                "row": row.number,
                "external_id": row.external_id,
                "address": basic.get("address", ""),
                "suburb": basic.get("suburb", ""),
                "postcode": basic.get("postcode", ""),
                "state": basic.get("state", ""),
                "estimated_value": groups["financial_metrics"].get("estimated_value"),
                **extra,
            }
        )
