"""One batch of a source's records through the import's rules and writers, with provenance.

A record whose normalised form hashes as last time is counted unchanged and not written; the
others are created or merged into the project's property with the same id, by the import's
writer (COPY on PostgreSQL), their history rows carrying `sync <run id>`.
"""

from dataclasses import dataclass, field

from .ingest import (
    IMPORTED_GROUPS,
    NewRow,
    NewRows,
    merge_groups,
    property_writer,
    raw_digester,
    validate_record,
)
from .models import SyncRejectedRecord, SyncRun, SyncSeenKeys
from .provenance import known_records, properties_by_external_id, records_written


@dataclass
class BatchCounts:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    warned: int = 0
    rejected_records: list = field(default_factory=list)
    #: Keys of the records of the batch, valid or not: they have not vanished.
    seen_keys: list = field(default_factory=list)


@dataclass
class Classified:
    """One batch after the rules, before any write: what a forked validator sends back."""

    fetched: int = 0
    unchanged: int = 0
    warned: int = 0
    rejected_records: list = field(default_factory=list)
    seen_keys: list = field(default_factory=list)
    #: {key: (sha256, raw digest)}: same once normalised, provenance refreshed only.
    refreshed: dict = field(default_factory=dict)
    #: (record number, values, Validated) to create or merge.
    changed: list = field(default_factory=list)


class RecordApplier:
    """Applies batches for one run. The source's provenance (key, hash, property) is read once
    when the run starts and kept current; `seen` rejects a key that came twice in the run."""

    def __init__(self, *, run: SyncRun, cmap, actor, dry_run: bool):
        self.run = run
        self.source = run.source
        self.project = self.source.project
        self.cmap = cmap
        self.dry_run = dry_run
        self.writer = property_writer(
            project=self.project, actor=actor, change_reason=run.change_reason, dry_run=dry_run
        )
        self.known = known_records(self.source)
        self.seen: dict[str, int] = {}
        self._key_position = cmap.positions.get("propertyid")
        self.digest = raw_digester(cmap, self.source.column_overrides)

    def apply(self, items: list[tuple[int, list, str]]) -> BatchCounts:
        """`items`: (record number, values in field order, structural problem or "")."""
        return self.store(self.classify(items))

    def classify(self, items: list[tuple[int, list, str]]) -> "Classified":
        """The rules and the hashes, without the database: safe in a forked validator (the
        provenance it compares with was read when the run started, before any fork)."""
        batch = Classified(fetched=len(items))
        known, seen, digest = self.known, self.seen, self.digest
        fast = self._key_position is not None
        for number, values, problem in items:
            raw = digest(values)
            if fast and not problem:
                # The record exactly as last time (by its id in the source): unchanged without
                # running the rules again.
                key = self._raw_key(values)
                record = known.get(key)
                if record is not None and record[3] == raw and record[2] and key not in seen:
                    seen[key] = number
                    batch.unchanged += 1
                    batch.seen_keys.append(key)
                    continue
            if problem:
                checked, errors = None, [f"row: {problem}"]
            else:
                checked, errors = validate_record(self.cmap, values, number=number)
            if checked is not None and checked.external_id in seen:
                first = seen[checked.external_id]
                errors = [f"propertyid: same property id {checked.external_id!r} as record {first}"]
                checked = None
            if checked is None:
                batch.rejected_records.append((number, values, errors))
                key = self._raw_key(values)
                if key:
                    batch.seen_keys.append(key)
                continue
            seen[checked.external_id] = number
            batch.seen_keys.append(checked.external_id)
            if checked.warnings:
                batch.warned += 1
            checked.raw_digest = raw
            record = known.get(checked.external_id)
            if record is not None and record[1] == checked.sha256 and record[2]:
                if record[3] == raw:
                    batch.unchanged += 1
                else:
                    # Same once normalised (spacing, number format): provenance refreshed only.
                    batch.refreshed[checked.external_id] = (checked.sha256, raw)
            else:
                batch.changed.append((number, values, checked))
        return batch

    def store(self, batch: "Classified") -> BatchCounts:
        """Writes a classified batch (properties, provenance, rejected records, seen keys)."""
        counts = BatchCounts(
            fetched=batch.fetched,
            unchanged=batch.unchanged + len(batch.refreshed),
            rejected=len(batch.rejected_records),
            warned=batch.warned,
            rejected_records=list(batch.rejected_records),
            seen_keys=batch.seen_keys,
        )
        known = self.known
        written = {**batch.refreshed, **self._write(batch.changed, counts)}
        if not self.dry_run:
            stored = records_written(source=self.source, run=self.run, written=written)
            for key, (pk, property_id) in stored.items():
                known[key] = [pk, written[key][0], property_id, written[key][1]]
            self._store_rejected(counts.rejected_records)
            SyncSeenKeys.objects.create(
                organization_id=self.source.organization_id,
                run=self.run,
                pass_id=self.run.pass_id,
                keys=counts.seen_keys,
            )
        return counts

    def _raw_key(self, values) -> str:
        if self._key_position is None or self._key_position >= len(values):
            return ""
        value = values[self._key_position]
        return " ".join(str(value).split()) if value is not None else ""

    def _write(self, changed, counts: BatchCounts) -> dict[str, tuple]:
        """Writes the changed records; returns {key: (sha256, raw digest)} of those stored."""
        existing = properties_by_external_id(
            project=self.project, external_ids=[checked.external_id for _, _, checked in changed]
        )
        creates, updates, stored = NewRows(), [], {}
        for number, values, checked in changed:
            row = NewRow(number, values, checked.external_id, checked.group_texts, None)
            current = existing.get(checked.external_id)
            if current is None:
                creates.append(row)
                continue
            imported = {g: v for g, v in row.groups().items() if g in IMPORTED_GROUPS and v}
            merged = merge_groups({g: getattr(current, g) for g in IMPORTED_GROUPS}, imported)
            differs = [g for g, value in merged.items() if value != getattr(current, g)]
            if differs:
                for group in differs:
                    setattr(current, group, merged[group])
                updates.append((row, current, checked))
            else:
                # Stored already as the source has it (by a file import, say): provenance only.
                counts.unchanged += 1
                stored[checked.external_id] = (checked.sha256, checked.raw_digest)
        failed = {id(row): message for row, message in self.writer.create(creates)}
        shas = {c.external_id: (c.sha256, c.raw_digest) for _, _, c in changed}
        for row in creates:
            if id(row) in failed:
                self._reject(counts, row, [f"propertyid: {failed[id(row)]}"])
            else:
                counts.created += 1
                stored[row.external_id] = shas[row.external_id]
        failed = {id(prop): m for prop, m in self.writer.update([p for _, p, _ in updates])}
        for row, prop, checked in updates:
            if id(prop) in failed:
                self._reject(counts, row, [f"propertyid: {failed[id(prop)]}"])
            else:
                counts.updated += 1
                stored[checked.external_id] = (checked.sha256, checked.raw_digest)
        return stored

    @staticmethod
    def _reject(counts: BatchCounts, row: NewRow, errors: list[str]):
        counts.rejected += 1
        counts.rejected_records.append((row.number, row.values, errors))

    def _store_rejected(self, rejected):
        headers = self.cmap.headers
        SyncRejectedRecord.objects.bulk_create(
            [
                SyncRejectedRecord(
                    organization_id=self.source.organization_id,
                    run=self.run,
                    number=number,
                    values={
                        name: None if value is None else str(value)
                        for name, value in zip(headers, values, strict=False)
                    },
                    errors=errors,
                )
                for number, values, errors in rejected
            ],
            batch_size=2000,
        )
