"""Crafted archive members: a member declaring 2 GiB (the size the probe used) and a member of
one endless line are refused by `verify_backup` from what it reads first, quickly, with a
sentence naming the limit; nothing is restored and nothing changes."""

import io
import os
import struct
import zipfile

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command

from backups.models import BackupExecution
from backups.services.backup import backup_create
from backups.services.permissions import BackupRefused
from backups.services.verify import backup_verify

from .helpers import archive_members, org_history, org_rows, rewrite_archive

pytestmark = pytest.mark.django_db
TWO_GIB = 2 * 1024**3
MEMBER = "properties_property.tsv"


def _declare_size(backup, member: str, size: int) -> None:
    """Rewrites the archive's central directory so `member` declares `size` uncompressed bytes
    (what a crafted archive does without holding them), and records the new SHA-256."""
    import hashlib

    storage = backup.archive.storage
    with storage.open(backup.archive.name, "rb") as stored:
        data = bytearray(stored.read())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        target = archive.getinfo(member)
    start = data.find(b"PK\x01\x02")
    while start != -1:
        name_length = struct.unpack_from("<H", data, start + 28)[0]
        if data[start + 46 : start + 46 + name_length].decode() == target.filename:
            struct.pack_into("<I", data, start + 24, size)
            break
        start = data.find(b"PK\x01\x02", start + 4)
    storage.delete(backup.archive.name)
    storage.save(backup.archive.name, io.BytesIO(bytes(data)))
    backup.sha256 = hashlib.sha256(bytes(data)).hexdigest()
    backup.save(update_fields=["sha256"])


def _state(tenants):
    return [(org_rows(org), org_history(org)) for org in (tenants.owner_org, tenants.other_org)]


def _verify_refused(backup) -> str:
    with pytest.raises(CommandError) as refused:
        call_command("verify_backup", str(backup.pk), stdout=io.StringIO())
    backup.refresh_from_db()
    assert backup.verification_status == BackupExecution.Verification.FAILED
    return str(refused.value)


def test_a_member_declaring_two_gib_is_refused_before_it_is_read(tenants, estate):
    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    _declare_size(backup, MEMBER, TWO_GIB)
    with zipfile.ZipFile(backup.archive.storage.open(backup.archive.name, "rb")) as archive:
        assert archive.getinfo(MEMBER).file_size == TWO_GIB  # the crafted header holds
    before = _state(tenants)

    message = _verify_refused(backup)

    assert f"Archive member {MEMBER} expands" in message
    assert "BACKUP_MAX_COMPRESSION_RATIO (200)" in message
    assert _state(tenants) == before


def test_a_member_of_one_endless_line_is_refused_at_the_row_limit(tenants, estate, settings):
    settings.BACKUP_MAX_ROW_BYTES = 1024 * 1024
    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    members = archive_members(backup)
    # Incompressible text (within the ratio limit) and no newline: one 3 MiB "row".
    members[MEMBER] = os.urandom(3 * 512 * 1024).hex().encode()
    rewrite_archive(backup, members, record_sha256=True)
    before = _state(tenants)

    message = _verify_refused(backup)

    assert f"A row of table {MEMBER[:-4]} is longer than BACKUP_MAX_ROW_BYTES" in message
    assert "(1,048,576 bytes)" in message
    assert _state(tenants) == before


def test_an_outsider_cannot_verify_the_crafted_backup(tenants, estate):
    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    _declare_size(backup, MEMBER, TWO_GIB)

    with pytest.raises((BackupRefused, PermissionDenied)):
        backup_verify(backup=backup, actor=tenants.outsider)

    backup.refresh_from_db()
    assert backup.verified_at is None
