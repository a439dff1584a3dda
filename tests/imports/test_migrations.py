"""The imports migration runs backwards and forwards on a real database with data in it."""

import pytest
from django.db import connection

from tests.factories import historical_project, latest_migrations, migrate_to

pytestmark = pytest.mark.django_db(transaction=True)


def test_imports_migrates_to_zero_and_back_with_jobs_and_properties():
    leaves = latest_migrations()
    apps = migrate_to([("imports", "0001_initial")])
    Property = apps.get_model("properties", "Property")
    ImportJob = apps.get_model("imports", "ImportJob")
    org, project = historical_project(apps, slug="round-trip")
    Property.objects.create(
        project=project, organization=org, external_id="KEEP", basic_info={"address": "1 Long Rd"}
    )
    ImportJob.objects.create(
        organization_id=org.pk, project_id=project.pk, file_name="a.csv", total_rows=3
    )
    try:
        migrate_to([("imports", None)])
        assert "imports_importjob" not in connection.introspection.table_names()
        assert Property.objects.filter(external_id="KEEP").exists()
        apps = migrate_to([("imports", "0001_initial")])
        ImportJob = apps.get_model("imports", "ImportJob")
        job = ImportJob.objects.create(
            organization_id=org.pk, project_id=project.pk, file_name="b.csv"
        )
        assert job.status == "pending" and job.options == {}
    finally:
        migrate_to(leaves)


def test_a_job_that_failed_part_way_before_resume_points_gets_one():
    leaves = latest_migrations()
    apps = migrate_to([("imports", "0004_rule_warnings")])
    ImportJob = apps.get_model("imports", "ImportJob")
    org, project = historical_project(apps, slug="resume-points")

    def job(**fields):
        return ImportJob.objects.create(
            organization_id=org.pk, project_id=project.pk, file_name="a.csv", **fields
        ).pk

    stopped = job(
        status="failed",
        last_committed_row=2000,
        error_summary="The import stopped after row 2,000 of the file: the disk filled.",
        options={"on_duplicate": "skip"},
    )
    refused = job(status="failed", error_summary="The file is empty.")
    completed = job(status="completed", last_committed_row=5)
    try:
        apps = migrate_to([("imports", "0005_resume_point_for_jobs_failed_part_way")])
        ImportJob = apps.get_model("imports", "ImportJob")
        options = dict(ImportJob.objects.values_list("pk", "options"))
        assert options[stopped] == {"on_duplicate": "skip", "resume_point": 2000}
        assert "resume_point" not in options[refused]
        assert "resume_point" not in options[completed]
    finally:
        migrate_to(leaves)
