"""The replica in a second storage: copied and re-hashed, used when the primary is missing or
damaged, reported and not used when damaged itself."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from backups.models import BackupExecution, RestoreExecution
from backups.replica import replica_storage
from backups.services.backup import backup_create
from backups.services.permissions import BackupRefused
from backups.services.restore import backup_restore
from backups.services.verify import backup_verify
from properties.models import Property

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def replica(settings, tmp_path):
    folder = tmp_path / "replica"
    settings.STORAGES = {
        **settings.STORAGES,
        "backups_replica": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(folder)},
        },
    }
    return folder


def _backup(tenants):
    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    assert backup.status == BackupExecution.Status.COMPLETED, backup.error_message
    return backup


def _damage(storage, name):
    with storage.open(name, "ab") as stored:
        stored.write(b"x")


def test_each_completed_backup_is_copied_and_verified_by_its_hash(tenants, estate, replica):
    backup = _backup(tenants)

    assert backup.replica_status == "verified"
    assert backup.replica_sha256 == backup.sha256
    assert (replica / backup.replica_name).read_bytes() == (Path(backup.archive.path).read_bytes())


def test_without_a_replica_configured_nothing_is_copied(tenants, estate):
    assert replica_storage() is None
    assert _backup(tenants).replica_status == "none"


def test_an_unwritable_replica_fails_the_copy_not_the_backup(tenants, estate, replica):
    replica.parent.mkdir(parents=True, exist_ok=True)
    replica.write_text("a file where the replica folder should be")

    backup = _backup(tenants)

    assert backup.status == "completed"
    assert backup.replica_status == "failed" and backup.replica_message


@pytest.mark.parametrize("fault", ["damaged", "missing"])
def test_restore_and_verify_use_the_verified_replica_and_say_so(tenants, estate, replica, fault):
    backup = _backup(tenants)
    if fault == "damaged":
        _damage(backup.archive.storage, backup.archive.name)
    else:
        backup.archive.storage.delete(backup.archive.name)
    estate.spare.delete()

    restore = backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)

    assert restore.status == RestoreExecution.Status.COMPLETED
    assert "verified replica was used" in restore.archive_note
    assert Property.objects.filter(organization=tenants.owner_org).count() == 4
    verified = backup_verify(backup=backup)
    assert verified.verification_status == "passed"
    assert "verified replica was used" in verified.verification_message
    out = io.StringIO()
    call_command(
        "restore_backup", str(backup.pk), "--org", "owner-org", "--strategy", "replace_all",
        "--dry-run", stdout=out,
    )  # fmt: skip
    assert "source=replica" in out.getvalue()


def test_a_damaged_replica_is_reported_and_not_used(tenants, estate, replica):
    backup = _backup(tenants)
    _damage(backup.archive.storage, backup.archive.name)
    _damage(replica_storage(), backup.replica_name)

    with pytest.raises(BackupRefused, match="replica is damaged too .* not used"):
        backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)

    backup.refresh_from_db()
    assert backup.replica_status == "failed" and "Damaged" in backup.replica_message
    assert backup_verify(backup=backup).verification_status == "failed"


def test_an_outsider_cannot_restore_from_another_organisations_replica(tenants, estate, replica):
    backup = _backup(tenants)
    backup.archive.storage.delete(backup.archive.name)

    with pytest.raises(BackupRefused, match="not a member"):
        backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.outsider)
    assert Property.objects.filter(organization=tenants.owner_org).count() == 4


def test_backup_replica_root_configures_the_replica_storage(tmp_path):
    """The setting, read as the deployment reads it: a fresh process with the variable set."""
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.STORAGES['backups_replica']['OPTIONS']['location'])"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "BACKUP_REPLICA_ROOT": str(tmp_path / "second-region"),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == str(tmp_path / "second-region")
