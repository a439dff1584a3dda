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
