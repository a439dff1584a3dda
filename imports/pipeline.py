"""The import pipeline: rows in from a reader, validated by the pure rules, written in batches
through a writer, rejected rows out to a report.

Every path (admin preview, admin import, command, background task) runs this one pipeline. It
holds one batch of rows at a time plus the ids already seen (to reject a second row with the same
id), never the whole file. Where the rows go is the writer's business: `NullWriter` for a dry run,
`OrmBulkWriter` for the bulk ORM path; `writer_for` is the one place that picks one.
"""

import csv
import io
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from properties.models import Project, Property

from .readers import FileRefused, RawRow, TableReader
from .rules import ColumnMap, ValidRow, cells_by_column, map_columns, merge_groups, validate_row

IMPORTED_GROUPS = ("basic_info", "planning_controls", "financial_metrics", "spatial_attributes")
SAMPLE_SIZE = 5
LOOKUP_CHUNK = 900


class OnDuplicate:
    SKIP = "skip"
    UPDATE = "update"
    ERROR = "error"
    CHOICES = (SKIP, UPDATE, ERROR)


# Writers ------------------------------------------------------------------------------------


class PropertyWriter(Protocol):
    """Stores one batch. Returns the properties it could not store, each with the reason, so the
    pipeline reports exactly those rows as rejected and every other row as written."""

    def create(self, properties: list[Property]) -> list[tuple[Property, str]]: ...

    def update(self, properties: list[Property]) -> list[tuple[Property, str]]: ...


class NullWriter:
    """A dry run: every row is classified exactly as in a real run, nothing is written."""

    def create(self, properties):
        return []

    def update(self, properties):
        return []


class OrmBulkWriter:
    """Bulk ORM writes with one history row per created or updated property, carrying the
    importing user and `import <job id>` as the change reason."""

    def __init__(self, *, actor, change_reason: str):
        self.actor = actor
        self.change_reason = change_reason

    def _history_kwargs(self):
        return {"default_user": self.actor, "default_change_reason": self.change_reason}

    def create(self, properties):
        try:
            with transaction.atomic():
                bulk_create_with_history(properties, Property, **self._history_kwargs())
            return []
        except IntegrityError:
            # Another writer stored one of these ids since the batch was classified. Retry row by
            # row so only the conflicting rows are rejected (never the whole batch).
            failures = []
            for prop in properties:
                prop.pk = None
                prop._state.adding = True
                try:
                    with transaction.atomic():
                        bulk_create_with_history([prop], Property, **self._history_kwargs())
                except IntegrityError as exc:
                    failures.append((prop, f"could not be stored: {_first_line(exc)}"))
            return failures

    def update(self, properties):
        now = timezone.now()
        for prop in properties:
            prop.updated_at = now
        bulk_update_with_history(
            properties,
            Property,
            fields=[*IMPORTED_GROUPS, "updated_at"],
            **self._history_kwargs(),
        )
        return []


def writer_for(*, dry_run: bool, actor, change_reason: str) -> PropertyWriter:
    if dry_run:
        return NullWriter()
    return OrmBulkWriter(actor=actor, change_reason=change_reason)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# Rejected rows ------------------------------------------------------------------------------


class RejectedRowsReport:
    """The rejected rows as CSV: the file's own columns, then the row number and the errors.

    Spooled to a temporary file, so a file with many rejected rows does not sit in memory."""

    def __init__(self, headers: list[str]):
        self.headers = list(headers)
        self.count = 0
        self.samples: list[dict] = []
        # Owned by the report and closed by close(), after the file is saved to storage.
        self._buffer = tempfile.SpooledTemporaryFile(max_size=1024 * 1024, mode="w+b")  # noqa: SIM115
        # BOM so that spreadsheet programs open accented suburbs correctly.
        self._text = io.TextIOWrapper(self._buffer, encoding="utf-8-sig", newline="")
        self._csv = csv.writer(self._text)
        self._csv.writerow([*self.headers, "row", "errors"])

    def add(self, raw: RawRow, errors: list[str]):
        self.count += 1
        values = ["" if value is None else value for value in raw.values[: len(self.headers)]]
        values += [""] * (len(self.headers) - len(values))
        self._csv.writerow([*values, raw.number, "; ".join(errors)])
        if len(self.samples) < SAMPLE_SIZE:
            self.samples.append({"row": raw.number, "errors": errors})

    def file(self) -> File:
        self._text.flush()
        self._buffer.seek(0)
        return File(self._buffer)

    def close(self):
        self._text.close()


# The pipeline -------------------------------------------------------------------------------


@dataclass
class PipelineResult:
    total: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    elapsed: float = 0.0
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


class ImportPipeline:
    def __init__(
        self,
        *,
        project: Project,
        reader: TableReader,
        writer: PropertyWriter,
        report: RejectedRowsReport,
        actor=None,
        on_duplicate: str = OnDuplicate.SKIP,
        batch_size: int = 1000,
        on_batch: Callable[[PipelineResult], None] | None = None,
    ):
        self.project = project
        self.reader = reader
        self.writer = writer
        self.report = report
        self.actor = actor
        self.on_duplicate = on_duplicate
        self.batch_size = max(1, batch_size)
        self.on_batch = on_batch
        self.result = PipelineResult()
        self.column_map: ColumnMap = map_columns(reader.headers)
        if self.column_map.missing:
            found = ", ".join(h for h in reader.headers if h) or "none"
            plural = "s" if len(self.column_map.missing) > 1 else ""
            raise FileRefused(
                f"The file is missing the required column{plural}: "
                f"{', '.join(self.column_map.missing)}. Columns found: {found}."
            )
        # external id -> the row that first carried it, to name it when a later row repeats it.
        self._seen: dict[str, int] = {}

    def run(self) -> PipelineResult:
        started = time.monotonic()
        result = self.result
        batch: list[_Pending] = []
        rows = self.reader.rows()
        result.columns = {
            "headers": list(self.column_map.headers),
            "mapped": {
                name: self.column_map.headers[index]
                for name, index in self.column_map.positions.items()
            },
            "ignored": list(self.column_map.ignored),
        }
        for raw in rows:
            result.total += 1
            if raw.problem:
                self._reject(raw, [f"row: {raw.problem}"])
                continue
            valid, errors = validate_row(
                cells_by_column(self.column_map, raw.values), row=raw.number
            )
            if errors:
                self._reject(raw, [f"{error.field}: {error.message}" for error in errors])
                continue
            first = self._seen.get(valid.external_id)
            if first is not None:
                self._reject(raw, [f"propertyid: {self._duplicate_message(valid, first)}"])
                continue
            self._seen[valid.external_id] = raw.number
            batch.append(_Pending(raw, valid))
            if len(batch) >= self.batch_size:
                self._flush(batch)
                batch = []
        self._flush(batch)
        result.elapsed = time.monotonic() - started
        return result

    def _duplicate_message(self, valid: ValidRow, first: int) -> str:
        if valid.external_id.startswith("addr-") and "propertyid" not in self.column_map.positions:
            return f"same address, suburb and postcode as row {first}"
        return f"same property id {valid.external_id!r} as row {first}"

    def _reject(self, raw: RawRow, errors: list[str]):
        self.result.rejected += 1
        self.report.add(raw, errors)

    def _flush(self, batch: list[_Pending]):
        if not batch:
            if self.on_batch:
                self.on_batch(self.result)
            return
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
        if self.on_batch:
            self.on_batch(self.result)

    def _existing(self, external_ids: list[str]) -> dict[str, Property]:
        # In chunks: SQLite caps the parameters of one query, and a batch may be larger.
        found = {}
        for start in range(0, len(external_ids), LOOKUP_CHUNK):
            chunk = external_ids[start : start + LOOKUP_CHUNK]
            for prop in Property.objects.filter(project=self.project, external_id__in=chunk):
                found[prop.external_id] = prop
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

    def _new_property(self, valid: ValidRow) -> Property:
        # Bulk creation skips Property.save(), so the tenant key is set here.
        return Property(
            project=self.project,
            organization_id=self.project.organization_id,
            external_id=valid.external_id,
            created_by=self.actor,
            **valid.groups,
        )
