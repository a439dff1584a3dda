"""The replica: a second copy of every completed backup in STORAGES["backups_replica"].

Whatever backend that alias names (a local folder from BACKUP_REPLICA_ROOT, or a django-storages
backend such as S3) is read through Django's `storages`. A copy counts only once it has been
read back from the replica and its SHA-256 matches the backup's (never by size). Restores and
verification read the primary archive; when it is missing or fails its checksum they read a
verified replica instead and say so, and a replica that fails its checksum too is reported and
not used.
"""

import logging
import tempfile
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.utils import timezone

from .archive import file_sha256
from .models import BackupExecution

logger = logging.getLogger(__name__)

REPLICA_ALIAS = "backups_replica"


class ArchiveUnavailable(Exception):
    """Neither the primary archive nor a replica can be read with the recorded checksum."""


@dataclass
class FetchedArchive:
    file: object
    #: "primary" or "replica".
    source: str
    note: str = ""


def replica_storage() -> Storage | None:
    if REPLICA_ALIAS not in settings.STORAGES:
        return None
    return storages[REPLICA_ALIAS]


def _spool(storage: Storage, name: str):
    """The stored file in a local temporary file, and its SHA-256."""
    local = tempfile.TemporaryFile()  # noqa: SIM115 (the caller owns and closes it)
    with storage.open(name, "rb") as stored:
        while chunk := stored.read(1 << 20):
            local.write(chunk)
    sha256, _ = file_sha256(local)
    return local, sha256


def replica_copy(*, backup: BackupExecution) -> BackupExecution:
    """Copies a completed backup's archive to the replica, then re-reads and re-hashes the copy.
    Records the outcome on the backup; does nothing when no replica is configured."""
    storage = replica_storage()
    if storage is None or backup.status != BackupExecution.Status.COMPLETED:
        return backup
    name = backup.archive.name
    try:
        if storage.exists(name):
            storage.delete(name)
        with backup.archive.storage.open(name, "rb") as primary:
            stored_name = storage.save(name, primary)
        copy, sha256 = _spool(storage, stored_name)
        copy.close()
        backup.replica_name = stored_name
        backup.replica_sha256 = sha256
        if sha256 == backup.sha256:
            backup.replica_status = BackupExecution.ReplicaStatus.VERIFIED
            backup.replica_message = "Copied, read back and its SHA-256 matches."
        else:
            backup.replica_status = BackupExecution.ReplicaStatus.FAILED
            backup.replica_message = (
                f"The copy read back has SHA-256 {sha256}, not {backup.sha256}."
            )
    except Exception as exc:  # a replica outage must not fail the backup itself
        logger.exception("Replica copy of backup %s failed", backup.pk)
        backup.replica_status = BackupExecution.ReplicaStatus.FAILED
        backup.replica_message = f"{type(exc).__name__}: {exc}"
    backup.replica_checked_at = timezone.now()
    backup.save(
        update_fields=[
            "replica_name",
            "replica_sha256",
            "replica_status",
            "replica_message",
            "replica_checked_at",
        ]
    )
    return backup


def _primary_problem(backup: BackupExecution):
    """(file, None) when the primary archive matches its checksum, else (None, reason)."""
    storage = backup.archive.storage
    if not storage.exists(backup.archive.name):
        return None, f"Backup {backup.pk}'s archive {backup.archive.name} is missing."
    local, sha256 = _spool(storage, backup.archive.name)
    if sha256 != backup.sha256:
        local.close()
        return None, (
            f"Backup {backup.pk}'s archive has been altered: its SHA-256 is {sha256}, "
            f"{backup.sha256} was recorded."
        )
    return local, None


def archive_fetch(backup: BackupExecution) -> FetchedArchive:
    """The backup's archive in a local file whose SHA-256 is the recorded one: the primary, or
    failing that a verified replica. Raises ArchiveUnavailable with every reason otherwise."""
    local, problem = _primary_problem(backup)
    if local is not None:
        return FetchedArchive(local, "primary")
    storage = replica_storage()
    if storage is None or backup.replica_status != BackupExecution.ReplicaStatus.VERIFIED:
        raise ArchiveUnavailable(problem)
    name = backup.replica_name or backup.archive.name
    if not storage.exists(name):
        raise ArchiveUnavailable(f"{problem} Its replica {name} is missing too.")
    local, sha256 = _spool(storage, name)
    if sha256 != backup.sha256:
        local.close()
        backup.replica_status = BackupExecution.ReplicaStatus.FAILED
        backup.replica_message = f"Damaged: its SHA-256 is {sha256}, not {backup.sha256}."
        backup.replica_checked_at = timezone.now()
        backup.save(update_fields=["replica_status", "replica_message", "replica_checked_at"])
        raise ArchiveUnavailable(
            f"{problem} Its replica is damaged too (SHA-256 {sha256}) and was not used."
        )
    return FetchedArchive(local, "replica", f"{problem} The verified replica was used.")
