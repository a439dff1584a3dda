"""Restoring an incremental: its chain (the full backup and each incremental up to it) folded
into one archive of the organisation's state at the incremental's time.

Every link is checked as a full backup is (SHA-256, manifest, migration state, content) and a
link that is missing, damaged or not the one its child was taken against refuses the restore
with that link named. The folded archive is an ordinary full archive, so restores, dry runs and
drills read it through the same engines.
"""

import tempfile

from .archive import ArchiveReader, ArchiveWriter, TableDigest, table_specs
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


def _fold(backup, links, readers) -> ArchiveReader:
    full, increments = readers[0], readers[1:]
    # Not a with-block: the returned reader owns the file and closes it.
    folded = tempfile.TemporaryFile()  # noqa: SIM115
    writer = ArchiveWriter(folded)
    tables = {}
    for spec in table_specs():
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
        digest = TableDigest()
        with writer.open_member(spec.member) as member:
            for line in full.lines(spec.name):
                pk = pk_of(line)
                if pk not in latest and pk not in gone:
                    digest.add_line(line)
                    member.write(line)
            for line in latest.values():
                digest.add_line(line)
                member.write(line)
        tables[spec.name] = {
            "columns": spec.columns,
            "count": digest.count,
            "hash": digest.hexdigest,
        }
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
