"""The copy of every archive in a second storage (STORAGES["backups_replica"], e.g. a bucket in
another region), when one is configured."""

import logging

from django.core.files.storage import InvalidStorageError, Storage, storages

logger = logging.getLogger(__name__)


def replica_storage() -> Storage | None:
    try:
        return storages["backups_replica"]
    except InvalidStorageError:
        return None


def backup_replicate(*, backup) -> str:
    """Copies the backup's stored archive to the replica storage under the same name, streamed
    (S3: a multipart upload from a spooled download). Returns "" when copied or when there is
    no replica, else the reason, so the backup says its replica is missing."""
    replica = replica_storage()
    if replica is None or not backup.archive:
        return ""
    try:
        with backup.archive.storage.open(backup.archive.name, "rb") as archive:
            replica.save(backup.archive.name, archive)
    except Exception as exc:
        logger.exception("Copy of backup %s to the replica storage failed", backup.pk)
        return f"The archive is stored, but its copy to the replica storage failed ({exc})."
    return ""
