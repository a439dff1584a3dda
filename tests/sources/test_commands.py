import io

import pytest
from django.core.management import CommandError, call_command

from sources.models import DataSource

from .portal import RESOURCE_ID, make_record


def _add(portal, project, *extra):
    out = io.StringIO()
    call_command(
        "add_source",
        project.organization.slug,
        "--project",
        str(project.pk),
        "--kind",
        "ckan_datastore",
        "--url",
        portal.url,
        "--resource-id",
        RESOURCE_ID,
        "--name",
        "VIC valuations",
        *extra,
        stdout=out,
    )
    return out.getvalue().strip()


@pytest.mark.django_db
class TestCommands:
    def test_add_source_then_sync_source_print_their_summaries(self, project, portal):
        portal.load([make_record(n, property_pfi=None) for n in range(1, 6)])
        line = _add(portal, project, "--schedule", "30 2 * * *")
        source = DataSource.objects.get()
        assert line == f"source={source.pk} kind=ckan_datastore project={project.pk}"

        out = io.StringIO()
        call_command("sync_source", str(source.pk), stdout=out)
        run = source.runs.get()
        assert out.getvalue().strip() == (
            f"sync={run.pk} status=completed fetched=5 created=5 updated=0 unchanged=0 "
            f"rejected=0 warned=0 vanished=0 requests={run.requests}"
        )

    def test_sync_source_dry_run_writes_nothing(self, project, portal):
        portal.load([make_record(1)])
        _add(portal, project)
        out = io.StringIO()
        call_command("sync_source", str(DataSource.objects.get().pk), "--dry-run", stdout=out)
        assert "created=1" in out.getvalue()
        assert not project.properties.exists()

    def test_a_failed_sync_exits_non_zero(self, project, portal):
        _add(portal, project)  # the portal has no such resource
        with pytest.raises(CommandError, match=r"status=failed .*resource_show: not found"):
            call_command("sync_source", str(DataSource.objects.get().pk), stdout=io.StringIO())

    def test_unknown_org_project_and_source_are_refused(self, tenants, project, portal):
        with pytest.raises(CommandError, match="unknown_organization"):
            call_command(
                "add_source", "nope", "--project", "1", "--kind", "file_url", "--url", portal.url
            )
        with pytest.raises(CommandError, match="unknown_project"):
            # another organisation's project is as unknown as a missing one
            call_command(
                "add_source",
                tenants.other_org.slug,
                "--project",
                str(project.pk),
                "--kind",
                "file_url",
                "--url",
                portal.url,
            )
        with pytest.raises(CommandError, match="unknown_source"):
            call_command("sync_source", "999999")

    def test_a_bad_schedule_is_refused(self, project, portal):
        with pytest.raises(CommandError, match="is not a cron expression"):
            _add(portal, project, "--schedule", "nightly")
