"""Restoring an incremental: its chain (the full backup and each incremental up to it) folded
into one archive of the organisation's state at the incremental's time.

Every link is checked as a full backup is (SHA-256, manifest, migration state, content) and a
link that is missing, damaged or not the one its child was taken against refuses the restore
with that link named. The folded archive is an ordinary full archive, so restores, dry runs and
drills read it through the same engines.
"""

import shutil
import tempfile
import zipfile

from .archive import ArchiveReader, ArchiveWriter, TableDigest, line_digest, table_specs
from .incremental import decode_pk, deleted_ids
from .models import BackupExecution, BackupType

#: Longer chains are refused: a loop in corrupted baselines must not spin for ever.
MAX_CHAIN_LENGTH = 1000


def chain_links(backup: BackupExecution, *, refuse) -> list[BackupExecution]:
    """The chain of `backup`, its full backup first. `refuse(message)` raises."""
    links = [backup]
    while links[-1].backup_type == BackupType.INCREMENTAL:
        child = links[-1]
        parent_ref = child.baseline.get("parent") or {}
        parent_id = parent_ref.get("id")
        parent = (
            BackupExecution.objects.select_related("organization")
            .filter(pk=parent_id, organization_id=backup.organization_id)
            .first()
            if parent_id
            else None
        )
        if parent is None:
            refuse(
                f"The chain of backup {backup.pk} is broken: backup {parent_id}, the parent of "
                f"incremental {child.pk}, no longer exists."
            )
        if parent.sha256 != parent_ref.get("sha256"):
            refuse(
                f"The chain of backup {backup.pk} is broken: backup {parent.pk} is not the "
                f"archive incremental {child.pk} was taken against (its SHA-256 differs)."
            )
        if parent.backup_type == BackupType.SELECTIVE:
            refuse(f"The chain of backup {backup.pk} rests on selective backup {parent.pk}.")
        links.append(parent)
        if len(links) > MAX_CHAIN_LENGTH:
            refuse(f"The chain of backup {backup.pk} is longer than {MAX_CHAIN_LENGTH} links.")
    return list(reversed(links))


def chain_open(backup: BackupExecution, *, open_checked, refuse) -> ArchiveReader:
    """The chain of `backup` folded into one checked archive. `open_checked(link)` opens and
    checks one archive, raising with its reason; `refuse(message)` raises."""
    links = chain_links(backup, refuse=refuse)
    readers = []
    try:
        for link in links:
            try:
                readers.append(open_checked(link))
            except Exception as exc:
                reason = exc.messages[0] if hasattr(exc, "messages") else str(exc)
                refuse(
                    f"The chain of backup {backup.pk} cannot be restored: link backup {link.pk} "
                    f"({link.backup_type}) is unusable. {reason}"
                )
        return _fold(backup, links, readers)
    finally:
        for reader in readers:
            reader.close()


class FoldWriter(ArchiveWriter):
    """An archive that only lives for one restore (a folded chain, a point in time): stored,
    not compressed."""

    def open_member(self, name: str):
        info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        return self._zip.open(info, "w", force_zip64=True)


def _changes(spec, increments) -> tuple[dict[int, bytes], set[int]]:
    """Per primary key, the newest line the increments hold, and the keys they deleted."""
    pk_of = decode_pk(spec)
    latest: dict[int, bytes] = {}
    gone: set[int] = set()
    for increment in increments:
        for line in increment.lines(spec.name):
            pk = pk_of(line)
            latest[pk] = line
            gone.discard(pk)
        if not spec.is_history:
            for pk in deleted_ids(increment, spec.name):
                gone.add(pk)
                latest.pop(pk, None)
    return latest, gone


def _fold_table(spec, full, latest, gone, member) -> TableDigest:
    """Writes the full backup's lines that no increment replaced or deleted, then the
    increments' lines. The hash is the full backup's (checked against its manifest) less the
    lines left out plus the lines added, so only those are hashed again."""
    expected = full.tables[spec.name]
    if not latest and not gone:
        with full.open_table(spec.name) as source:
            shutil.copyfileobj(source, member, 1 << 20)
        digest = TableDigest()
        digest.add_totals(expected["count"], int(expected["hash"], 16))
        return digest
    pk_of = decode_pk(spec)
    count, total, batch = expected["count"], int(expected["hash"], 16), []
    for line in full.lines(spec.name):
        pk = pk_of(line)
        if pk in latest or pk in gone:
            count -= 1
            total -= line_digest(line)
            continue
        batch.append(line)
        if len(batch) == 4096:
            member.write(b"".join(batch))
            batch = []
    member.write(b"".join(batch))
    for line in latest.values():
        count += 1
        total += line_digest(line)
    member.write(b"".join(latest.values()))
    digest = TableDigest()
    digest.add_totals(count, total)
    return digest


def _fold(backup, links, readers) -> ArchiveReader:
    full, increments = readers[0], readers[1:]
    # Not a with-block: the returned reader owns the file and closes it.
    folded = tempfile.TemporaryFile()  # noqa: SIM115
    writer = FoldWriter(folded)
    tables = {}
    for spec in table_specs():
        latest, gone = _changes(spec, increments)
        with writer.open_member(spec.member) as member:
            digest = _fold_table(spec, full, latest, gone, member)
        tables[spec.name] = digest.manifest_entry(spec)
    manifest = {
        **readers[-1].manifest,
        "tables": tables,
        "chain": [link.pk for link in links],
    }
    manifest.pop("deleted", None)
    writer.write_manifest(manifest)
    writer.close()
    folded.seek(0)
    reader = ArchiveReader(folded)
    notes = [link.source_note for link in readers if link.source_note]
    reader.source = "replica" if notes else "primary"
    reader.source_note = " ".join(notes)
    return reader
