import io
import re

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from backups.models import BackupExecution, RestoreExecution
from properties.models import Property

from .helpers import archive_members, org_rows, rewrite_archive

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def _pairs(line: str) -> dict:
    return dict(re.findall(r"(\w+)=(\S+)", line))


def test_backup_org_prints_one_summary_line(tenants, estate):
    line = _run("backup_org", "owner-org", "--type", "full")

    backup = BackupExecution.objects.get()
    assert line == (
        f"backup={backup.pk} status=completed records={backup.record_count} "
        f"bytes={backup.size_bytes} sha256={backup.sha256} "
        f"completed_at={timezone.localtime(backup.completed_at).isoformat(timespec='seconds')} "
        f"tz={settings.TIME_ZONE}"
    )
    assert len(backup.sha256) == 64


def test_backup_org_of_unknown_organisation_fails(tenants):
    with pytest.raises(CommandError, match="unknown_organization"):
        _run("backup_org", "nope")


def test_restore_backup_dry_run_then_restore(tenants, estate):
    backup_id = _pairs(_run("backup_org", "owner-org"))["backup"]
    before = org_rows(tenants.owner_org)
    spare_pk = estate.spare.pk
    estate.spare.delete()

    preview = _pairs(
        _run(
            "restore_backup",
            backup_id,
            "--org",
            "owner-org",
            "--strategy",
            "replace_all",
            "--dry-run",
        )
    )
    assert preview["dry_run"] == "true" and preview["inserted"] == "1"
    assert not Property.objects.filter(pk=spare_pk).exists()

    line = _run(
        "restore_backup",
        backup_id,
        "--org",
        "owner-org",
        "--strategy",
        "replace_all",
        "--user",
        tenants.manager.username,
    )

    summary = _pairs(line)
    assert summary["status"] == "completed" and summary["inserted"] == "1"
    assert summary["deleted"] == "0" and summary["updated"] == "0"
    assert org_rows(tenants.owner_org) == before


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--org", "other-org"], "belongs to owner-org"),
        (["--org", "owner-org", "--user", "VIEWER"], "below manager"),
        (["--org", "owner-org", "--user", "OUTSIDER"], "not a member"),
    ],
)
def test_restore_backup_refusals_exit_non_zero_and_change_nothing(tenants, estate, extra, match):
    backup_id = _pairs(_run("backup_org", "owner-org"))["backup"]
    estate.spare.delete()
    before = org_rows(tenants.owner_org)
    names = {"VIEWER": tenants.viewer.username, "OUTSIDER": tenants.outsider.username}
    extra = [names.get(arg, arg) for arg in extra]

    with pytest.raises(CommandError, match=match) as refused:
        _run("restore_backup", backup_id, "--strategy", "replace_all", *extra)

    assert "status=refused" in str(refused.value)
    assert org_rows(tenants.owner_org) == before
    assert RestoreExecution.objects.get().status == RestoreExecution.Status.REFUSED


def test_verify_backup_passes_then_fails_after_tampering(tenants, estate):
    backup_id = _pairs(_run("backup_org", "owner-org"))["backup"]

    assert _pairs(_run("verify_backup", backup_id))["verification"] == "passed"

    backup = BackupExecution.objects.get(pk=backup_id)
    members = archive_members(backup)
    members["properties_property.tsv"] += members["properties_property.tsv"][:40]
    rewrite_archive(backup, members, record_sha256=False)
    with pytest.raises(CommandError, match="verification=failed"):
        _run("verify_backup", backup_id)
    backup.refresh_from_db()
    assert backup.verification_status == BackupExecution.Verification.FAILED
    assert "altered" in backup.verification_message


def test_outsider_cannot_reach_another_organisations_rows_through_backup_org(tenants, estate):
    line = _run("backup_org", "other-org", "--user", tenants.outsider.username)
    backup = BackupExecution.objects.get(pk=_pairs(line)["backup"])
    assert backup.organization == tenants.other_org
    lines = archive_members(backup)["properties_property.tsv"].splitlines()
    assert {int(line.split(b"\t")[0]) for line in lines} == {estate.other_property.pk}
    with pytest.raises(CommandError, match="not a member"):
        _run("backup_org", "owner-org", "--user", tenants.outsider.username)
