"""One batch of a source's records through the import's rules and writers, with provenance.

A record whose normalised form hashes as last time is counted unchanged and not written; the
others are created or merged into the project's property with the same id, by the import's
writer (COPY on PostgreSQL), their history rows carrying `sync <run id>`.

Classifying (the rules, the hashes) needs no database and may run in a forked validator; what
it hands over is compact: the records the source never sent before travel as the writer's new
rows, already prepared for its COPY and packed (`NewRows`), so the common batch of a first
sync crosses the pipe and reaches the database without being unpacked record by record.
"""

from dataclasses import dataclass, field

from .ingest import (
    IMPORTED_GROUPS,
    NewRow,
    NewRows,
    RuleSettings,
    merge_groups,
    property_writer,
    raw_digester,
    validate_record,
)
from .models import SyncRejectedRecord, SyncRun, SyncSeenKeys
from .provenance import (
    any_property_with_external_id,
    known_records,
    properties_by_external_id,
    records_created,
    records_written,
)


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
    #: (record number, values, errors) of the records the rules refused.
    rejected_records: list = field(default_factory=list)
    #: (record number, values, warnings) of the records kept with a warning.
    warned_records: list = field(default_factory=list)
    seen_keys: list = field(default_factory=list)
    #: {key: (sha256, raw digest)}: same once normalised, provenance refreshed only.
    refreshed: dict = field(default_factory=dict)
    #: Records whose key the source never sent: the writer's new rows, prepared and packed,
    #: with their keys and (sha256, raw digest) in the same order.
    fresh: NewRows = field(default_factory=NewRows)
    fresh_keys: list = field(default_factory=list)
    fresh_hashes: list = field(default_factory=list)
    #: (NewRow, sha256, raw digest) of known records whose normalised form changed.
    changed: list = field(default_factory=list)


class RecordApplier:
    """Applies batches for one run. The source's provenance (key, hash, property) and the
    organisation's rule settings are read once when the run starts, before any validator
    forks; `seen` rejects a key that came twice in the run."""

    def __init__(self, *, run: SyncRun, cmap, actor, dry_run: bool):
        self.run = run
        self.source = run.source
        self.project = self.source.project
        self.cmap = cmap
        self.dry_run = dry_run
        self.writer = property_writer(
            project=self.project, actor=actor, change_reason=run.change_reason, dry_run=dry_run
        )
        self._prepare = getattr(self.writer, "prepare", None)
        self.rule_settings = RuleSettings.of(self.project.organization)
        self.known = known_records(self.source)
        self.seen: dict[str, int] = {}
        self._key_position = cmap.positions.get("propertyid")
        self.digest = raw_digester(cmap, self.source.column_overrides, self.rule_settings)

    def validate(self, values: list, *, number: int):
        return validate_record(self.cmap, values, number=number, rule_settings=self.rule_settings)

    def apply(self, items: list[tuple[int, list, str]]) -> BatchCounts:
        """`items`: (record number, values in field order, structural problem or "")."""
        return self.store(self.classify(items))

    def classify(self, items: list[tuple[int, list, str]]) -> Classified:
        """The rules and the hashes, without the database: safe in a forked validator (the
        provenance it compares with was read when the run started, before any fork)."""
        batch = Classified(fetched=len(items))
        known, seen, digest = self.known, self.seen, self.digest
        by_raw_key = self._key_position is not None and bool(known)
        for number, values, problem in items:
            if problem:
                self._refused(batch, number, values, [f"row: {problem}"])
                continue
            raw = digest(values)
            if by_raw_key:
                # The record exactly as last time (by its id in the source): unchanged without
                # running the rules again.
                key = self._raw_key(values)
                record = known.get(key)
                if record is not None and record[3] == raw and record[2] and key not in seen:
                    seen[key] = number
                    batch.unchanged += 1
                    batch.seen_keys.append(key)
                    continue
            checked, errors = self.validate(values, number=number)
            if checked is not None and checked.external_id in seen:
                first = seen[checked.external_id]
                errors = [f"propertyid: same property id {checked.external_id!r} as record {first}"]
                checked = None
            if checked is None:
                self._refused(batch, number, values, errors)
                continue
            self._kept(batch, number, values, checked, raw)
        return batch

    def _kept(self, batch: Classified, number: int, values: list, checked, raw: str) -> None:
        key, sha = checked.external_id, checked.sha256
        self.seen[key] = number
        batch.seen_keys.append(key)
        if checked.warnings:
            batch.warned_records.append((number, values, checked.warnings))
            # No raw digest recorded: a record with warnings goes through the rules on every
            # run, so every run counts and lists it, as every import of a file does.
            raw = ""
        record = self.known.get(key)
        if record is not None and record[1] == sha and record[2]:
            if record[3] == raw:
                batch.unchanged += 1
            else:
                # Same once normalised (spacing, number format): provenance refreshed only.
                batch.refreshed[key] = (sha, raw)
        elif record is None:
            texts = checked.group_texts
            prepared = self._prepare(key, texts) if self._prepare else None
            batch.fresh.append(NewRow(number, values, key, texts, prepared))
            batch.fresh_keys.append(key)
            batch.fresh_hashes.append((sha, raw))
        else:
            batch.changed.append((NewRow(number, values, key, checked.group_texts, None), sha, raw))

    def _refused(self, batch: Classified, number: int, values: list, errors: list[str]) -> None:
        batch.rejected_records.append((number, values, errors))
        key = self._raw_key(values)
        if key:
            batch.seen_keys.append(key)

    def store(self, batch: Classified) -> BatchCounts:
        """Writes a classified batch (properties, provenance, rejected and warned records,
        seen keys)."""
        counts = BatchCounts(
            fetched=batch.fetched,
            unchanged=batch.unchanged + len(batch.refreshed),
            rejected=len(batch.rejected_records),
            warned=len(batch.warned_records),
            rejected_records=list(batch.rejected_records),
            seen_keys=batch.seen_keys,
        )
        written = dict(batch.refreshed)
        changed, created_ids = batch.changed, None
        if batch.fresh and any_property_with_external_id(
            project=self.project, external_ids=batch.fresh_keys
        ):
            # Some are stored already (by a file import, say): merged like known records.
            fresh = zip(batch.fresh, batch.fresh_hashes, strict=True)
            changed = [(row, sha, raw) for row, (sha, raw) in fresh] + changed
        elif batch.fresh:
            created_ids = self._create(batch, counts, written)
        written.update(self._write(changed, counts))
        # A warned record the writer then refused is rejected, not kept: listed and counted once.
        refused = {number for number, _, _ in counts.rejected_records}
        warned = [record for record in batch.warned_records if record[0] not in refused]
        counts.warned = len(warned)
        if self.dry_run:
            return counts
        known = self.known
        if created_ids is not None:
            hashes = batch.fresh_hashes
            records_created(
                source=self.source,
                run=self.run,
                keys=batch.fresh_keys,
                ids=created_ids,
                hashes=hashes,
            )
            for key, pk, (sha, raw) in zip(batch.fresh_keys, created_ids, hashes, strict=True):
                known[key] = [None, sha, pk, raw]
        stored = records_written(source=self.source, run=self.run, written=written)
        for key, (pk, property_id) in stored.items():
            known[key] = [pk, written[key][0], property_id, written[key][1]]
        self._store_rejected(counts.rejected_records, warned)
        SyncSeenKeys.objects.create(
            organization_id=self.source.organization_id,
            run=self.run,
            pass_id=self.run.pass_id,
            keys=counts.seen_keys,
        )
        return counts

    def _create(self, batch: Classified, counts: BatchCounts, written: dict) -> list | None:
        """The fresh records, none of them stored yet, through the writer's create (its COPY
        on PostgreSQL). Returns the new properties' ids in row order when the writer reports
        them (every row stored by its COPY); otherwise adds the stored rows to `written`, whose
        provenance then finds the property ids itself."""
        rows = batch.fresh
        failures = self.writer.create(rows)
        if not failures:
            counts.created += len(rows)
            ids = getattr(self.writer, "last_created_ids", None)
            if ids is not None and len(ids) == len(rows):
                return ids
            written.update(zip(batch.fresh_keys, batch.fresh_hashes, strict=True))
            return None
        failed = {id(row): message for row, message in failures}
        for row, hashes in zip(rows, batch.fresh_hashes, strict=True):
            if id(row) in failed:
                self._reject(counts, row, [f"propertyid: {failed[id(row)]}"])
            else:
                counts.created += 1
                written[row.external_id] = hashes
        return None

    def _raw_key(self, values) -> str:
        if self._key_position is None or self._key_position >= len(values):
            return ""
        value = values[self._key_position]
        return " ".join(str(value).split()) if value is not None else ""

    def _write(self, changed: list, counts: BatchCounts) -> dict[str, tuple]:
        """Creates or merges `changed` ((NewRow, sha256, raw digest), looked up by external
        id); returns {key: (sha256, raw digest)} of those stored."""
        if not changed:
            return {}
        existing = properties_by_external_id(
            project=self.project, external_ids=[row.external_id for row, _, _ in changed]
        )
        creates, updates, stored = NewRows(), [], {}
        hashes = {row.external_id: (sha, raw) for row, sha, raw in changed}
        for row, _, _ in changed:
            current = existing.get(row.external_id)
            if current is None:
                creates.append(row)
                continue
            imported = {g: v for g, v in row.groups().items() if g in IMPORTED_GROUPS and v}
            merged = merge_groups({g: getattr(current, g) for g in IMPORTED_GROUPS}, imported)
            differs = [g for g, value in merged.items() if value != getattr(current, g)]
            if differs:
                for group in differs:
                    setattr(current, group, merged[group])
                updates.append((row, current))
            else:
                # Stored already as the source has it (by a file import, say): provenance only.
                counts.unchanged += 1
                stored[row.external_id] = hashes[row.external_id]
        failed = {id(row): message for row, message in self.writer.create(creates)}
        for row in creates:
            if id(row) in failed:
                self._reject(counts, row, [f"propertyid: {failed[id(row)]}"])
            else:
                counts.created += 1
                stored[row.external_id] = hashes[row.external_id]
        failed = {id(prop): m for prop, m in self.writer.update([p for _, p in updates])}
        for row, prop in updates:
            if id(prop) in failed:
                self._reject(counts, row, [f"propertyid: {failed[id(prop)]}"])
            else:
                counts.updated += 1
                stored[row.external_id] = hashes[row.external_id]
        return stored

    @staticmethod
    def _reject(counts: BatchCounts, row: NewRow, errors: list[str]):
        counts.rejected += 1
        counts.rejected_records.append((row.number, row.values, errors))

    def _store_rejected(self, rejected: list, warned: list) -> None:
        """The refused records with their errors and the kept ones with their warnings, for
        the run's CSV."""
        headers = self.cmap.headers

        def stored(number, values, errors, warnings):
            return SyncRejectedRecord(
                organization_id=self.source.organization_id,
                run=self.run,
                number=number,
                values={
                    name: None if value is None else str(value)
                    for name, value in zip(headers, values, strict=False)
                },
                errors=errors,
                warnings=warnings,
            )

        SyncRejectedRecord.objects.bulk_create(
            [stored(number, values, errors, []) for number, values, errors in rejected]
            + [stored(number, values, [], warnings) for number, values, warnings in warned],
            batch_size=2000,
        )
