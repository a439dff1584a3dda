"""One batch of a source's records through the import's rules and writers, with provenance.

A record whose normalised form hashes as last time is counted unchanged and not written; the
others are created or merged into the project's property with the same id, by the import's
writer (COPY on PostgreSQL), their history rows carrying `sync <run id>`.
"""

from dataclasses import dataclass, field

from properties.models import Property

from .ingest import IMPORTED_GROUPS, NewRow, NewRows, merge_groups, property_writer, validate_record
from .models import SourceRecord, SyncRejectedRecord, SyncRun

LOOKUP_CHUNK = 900


@dataclass
class BatchCounts:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    warned: int = 0
    rejected_records: list = field(default_factory=list)


def _chunks(items: list, size: int = LOOKUP_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RecordApplier:
    """Applies batches for one run; `seen` rejects a key that came twice in the run."""

    def __init__(self, *, run: SyncRun, cmap, actor, dry_run: bool):
        self.run = run
        self.source = run.source
        self.project = self.source.project
        self.cmap = cmap
        self.dry_run = dry_run
        self.writer = property_writer(
            project=self.project, actor=actor, change_reason=run.change_reason, dry_run=dry_run
        )
        self.seen: dict[str, int] = {}
        self._key_position = cmap.positions.get("propertyid")

    def apply(self, items: list[tuple[int, list, str]]) -> BatchCounts:
        """`items`: (record number, values in field order, structural problem or "")."""
        counts = BatchCounts(fetched=len(items))
        valid = []
        raw_keys = []
        for number, values, problem in items:
            checked, errors = (
                (None, [f"row: {problem}"])
                if problem
                else validate_record(self.cmap, values, number=number)
            )
            if checked is not None and checked.external_id in self.seen:
                first = self.seen[checked.external_id]
                errors = [f"propertyid: same property id {checked.external_id!r} as record {first}"]
                checked = None
            if checked is None:
                counts.rejected += 1
                counts.rejected_records.append((number, values, errors))
                key = self._raw_key(values)
                if key:
                    raw_keys.append(key)
                continue
            self.seen[checked.external_id] = number
            counts.warned += bool(checked.warnings)
            valid.append((number, values, checked))
        known = self._known([checked.external_id for _, _, checked in valid])
        changed = []
        unchanged_ids = []
        for item in valid:
            record = known.get(item[2].external_id)
            if record and record.sha256 == item[2].sha256 and record.property_id:
                unchanged_ids.append(record.pk)
            else:
                changed.append(item)
        counts.unchanged += len(unchanged_ids)
        written = self._write(changed, counts)
        if not self.dry_run:
            self._record_provenance(written, known, unchanged_ids, raw_keys)
            self._store_rejected(counts.rejected_records)
        return counts

    def _raw_key(self, values) -> str:
        if self._key_position is None or self._key_position >= len(values):
            return ""
        value = values[self._key_position]
        return " ".join(str(value).split()) if value is not None else ""

    def _known(self, keys: list[str]) -> dict[str, SourceRecord]:
        found = {}
        for chunk in _chunks(keys):
            found.update(
                (record.key, record)
                for record in SourceRecord.objects.filter(source=self.source, key__in=chunk)
            )
        return found

    def _write(self, changed, counts: BatchCounts) -> dict[str, str]:
        """Writes the changed records; returns {key: sha256} of those now stored."""
        existing = {}
        for chunk in _chunks([checked.external_id for _, _, checked in changed]):
            existing.update(
                (prop.external_id, prop)
                for prop in Property.objects.filter(project=self.project, external_id__in=chunk)
            )
        creates = NewRows()
        updates = []
        stored = {}
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
                stored[checked.external_id] = checked.sha256
        failed = {id(row): message for row, message in self.writer.create(creates)}
        for row in creates:
            if id(row) in failed:
                self._reject(counts, row, [f"propertyid: {failed[id(row)]}"])
            else:
                counts.created += 1
        by_key = {checked.external_id: checked.sha256 for _, _, checked in changed}
        stored.update(
            (row.external_id, by_key[row.external_id]) for row in creates if id(row) not in failed
        )
        failed = {id(prop): m for prop, m in self.writer.update([p for _, p, _ in updates])}
        for row, prop, checked in updates:
            if id(prop) in failed:
                self._reject(counts, row, [f"propertyid: {failed[id(prop)]}"])
            else:
                counts.updated += 1
                stored[checked.external_id] = checked.sha256
        return stored

    @staticmethod
    def _reject(counts: BatchCounts, row: NewRow, errors: list[str]):
        counts.rejected += 1
        counts.rejected_records.append((row.number, row.values, errors))

    def _record_provenance(self, written: dict, known: dict, unchanged_ids: list, raw_keys):
        run, pass_id = self.run, self.run.pass_id
        if unchanged_ids:
            for chunk in _chunks(unchanged_ids):
                SourceRecord.objects.filter(pk__in=chunk).update(
                    last_run=run, last_pass=pass_id, vanished_run=None
                )
        if raw_keys:
            # A record that is still there but invalid now has not vanished.
            for chunk in _chunks(raw_keys):
                SourceRecord.objects.filter(source=self.source, key__in=chunk).update(
                    last_pass=pass_id
                )
        if not written:
            return
        property_ids = {}
        for chunk in _chunks(list(written)):
            property_ids.update(
                Property.objects.filter(project=self.project, external_id__in=chunk).values_list(
                    "external_id", "pk"
                )
            )
        fresh, again = [], []
        for key, sha in written.items():
            record = known.get(key)
            if record is None:
                fresh.append(
                    SourceRecord(
                        organization_id=self.source.organization_id,
                        source=self.source,
                        key=key,
                        property_id=property_ids.get(key),
                        sha256=sha,
                        first_run=run,
                        last_run=run,
                        last_pass=pass_id,
                    )
                )
            else:
                record.sha256, record.property_id = sha, property_ids.get(key)
                record.last_run, record.last_pass, record.vanished_run = run, pass_id, None
                again.append(record)
        SourceRecord.objects.bulk_create(fresh, batch_size=2000)
        SourceRecord.objects.bulk_update(
            again,
            ["sha256", "property", "last_run", "last_pass", "vanished_run"],
            batch_size=2000,
        )

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
