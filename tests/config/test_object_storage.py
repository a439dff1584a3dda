"""Backups, their replica and uploaded import files in S3, through django-storages against a
real S3 API: moto's standalone server on a free loopback port, in its own process."""

import hashlib
import io
import os
import socket
import subprocess
import sys
import time
import tracemalloc

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from django.core.exceptions import PermissionDenied
from django.core.files.storage import storages

from backups.models import BackupExecution
from backups.services.backup import backup_create
from backups.services.permissions import BackupRefused
from backups.services.restore import backup_restore
from backups.services.verify import backup_verify
from imports.models import ImportJob
from imports.services.jobs import import_job_create, import_run
from properties.models import Property
from tests.config.helpers import free_port
from tests.factories import ProjectFactory, PropertyFactory

pytestmark = pytest.mark.django_db
PRIMARY, REPLICA = "platform-primary", "platform-replica"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
MB = 1024 * 1024


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "from moto.server import main; main()", "-H", "127.0.0.1"]
        + ["-p", str(port)],
        env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, "moto did not start"
            time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    for bucket, region in ((PRIMARY, "ap-southeast-2"), (REPLICA, "ap-southeast-4")):
        client = boto3.client("s3", endpoint_url=endpoint, region_name=region, **CREDENTIALS)
        client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
        )
    yield endpoint
    server.terminate()
    server.wait(timeout=30)


def _s3(endpoint, bucket, region, location) -> dict:
    # The same options config/settings.py builds from BACKUP_STORAGE=s3 and its AWS_* names.
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "location": location,
            "endpoint_url": endpoint,
            "region_name": region,
            "access_key": "testing",
            "secret_key": "testing",
            "file_overwrite": False,
            "default_acl": None,
            "max_memory_size": 8 * MB,
            "transfer_config": TransferConfig(use_threads=False),
        },
    }


@pytest.fixture
def in_s3(settings, s3_endpoint):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": _s3(s3_endpoint, PRIMARY, "ap-southeast-2", "media"),
        "backups": _s3(s3_endpoint, PRIMARY, "ap-southeast-2", "backups"),
        "backups_replica": _s3(s3_endpoint, REPLICA, "ap-southeast-4", "backups"),
    }
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="ap-southeast-2", **CREDENTIALS)


def _keys(client, bucket, prefix) -> list[str]:
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_backup_verify_and_restore_through_s3_with_a_replica(in_s3, tenants):
    project = ProjectFactory(organization=tenants.owner_org)
    kept = PropertyFactory.create_batch(5, project=project)
    PropertyFactory(project=ProjectFactory(organization=tenants.other_org))
    backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)
    assert backup.status == BackupExecution.Status.COMPLETED, backup.error_message
    assert backup.error_message == ""
    key = f"backups/{backup.archive.name}"
    assert _keys(in_s3, PRIMARY, "backups/") == [key]
    assert _keys(in_s3, REPLICA, "backups/") == [key]
    primary = in_s3.get_object(Bucket=PRIMARY, Key=key)["Body"].read()
    assert hashlib.sha256(primary).hexdigest() == backup.sha256
    replica = boto3.client("s3", endpoint_url=in_s3.meta.endpoint_url, **CREDENTIALS)
    assert replica.get_object(Bucket=REPLICA, Key=key)["Body"].read() == primary

    # An outsider can neither restore over the organisation nor read its archive.
    with pytest.raises((PermissionDenied, BackupRefused)):
        backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.outsider)
    with pytest.raises((PermissionDenied, BackupRefused)):
        backup_verify(backup=backup, actor=tenants.outsider)

    backup = backup_verify(backup=backup, actor=tenants.manager)
    assert backup.verification_status == "passed", backup.verification_message
    Property.objects.filter(pk=kept[0].pk).delete()
    PropertyFactory(project=project, external_id="added-after-the-backup")
    restore = backup_restore(backup=backup, organization=tenants.owner_org, actor=tenants.manager)
    assert restore.status == "completed", restore.error_message
    restored = set(Property.objects.filter(organization=tenants.owner_org).values_list("pk"))
    assert restored == {(prop.pk,) for prop in kept}
    assert Property.objects.filter(organization=tenants.other_org).count() == 1


def test_a_large_archive_goes_up_in_parts_and_is_read_without_holding_it(in_s3, settings):
    # Spooled to disk past 1 MB here (8 MB by default), so what stays in memory is bounded.
    settings.STORAGES["backups"]["OPTIONS"]["max_memory_size"] = MB
    size = 24 * MB
    archive = io.BytesIO(os.urandom(MB) * 24)
    name = storages["backups"].save("large/archive.zip", archive)
    head = in_s3.head_object(Bucket=PRIMARY, Key=f"backups/{name}")
    assert head["ContentLength"] == size
    assert head["ETag"].strip('"').rsplit("-", 1)[1].isdigit()  # a multipart upload's ETag
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        with storages["backups"].open(name, "rb") as stored:
            while chunk := stored.read(MB):
                digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == hashlib.sha256(archive.getvalue()).hexdigest()
    assert peak < size / 4, f"{peak / MB:.1f} MB held while reading {size / MB:.0f} MB"


def test_an_uploaded_file_in_s3_imports_in_the_background(
    in_s3, tenants, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_BACKGROUND_THRESHOLD_ROWS = 10
    project = ProjectFactory(organization=tenants.owner_org)
    rows = ["address,suburb,state,postcode"] + [
        f"{number} Chapel St,Windsor,VIC,3181" for number in range(1, 41)
    ]
    job = import_job_create(
        actor=tenants.manager,
        project=project,
        file=io.BytesIO("\n".join(rows).encode()),
        file_name="windsor.csv",
    )
    assert _keys(in_s3, PRIMARY, "media/imports/source/") == [f"media/{job.source_file.name}"]
    # Above the threshold: queued as a django-q2 task (run in this process in sync mode).
    with django_capture_on_commit_callbacks(execute=True):  # the task is queued on commit
        job = import_run(job=job, actor=tenants.manager, background=None)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.COMPLETED, (job.status, job.error_summary)
    assert job.created_count == 40
    assert Property.objects.filter(project=project).count() == 40
