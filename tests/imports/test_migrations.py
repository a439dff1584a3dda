"""The imports migration runs backwards and forwards on a real database with data in it."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps if targets[0][1] else None


def _leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_imports_migrates_to_zero_and_back_with_jobs_and_properties():
    leaves = _leaves()
    apps = _migrate([("imports", "0001_initial")])
    Organization = apps.get_model("organizations", "Organization")
    Project = apps.get_model("properties", "Project")
    Property = apps.get_model("properties", "Property")
    ImportJob = apps.get_model("imports", "ImportJob")
    org = Organization.objects.create(name="Round trip", slug="round-trip")
    project = Project.objects.create(organization=org, name="P")
    Property.objects.create(
        project=project, organization=org, external_id="KEEP", basic_info={"address": "1 Long Rd"}
    )
    ImportJob.objects.create(
        organization_id=org.pk, project_id=project.pk, file_name="a.csv", total_rows=3
    )
    try:
        _migrate([("imports", None)])
        assert "imports_importjob" not in connection.introspection.table_names()
        assert Property.objects.filter(external_id="KEEP").exists()
        apps = _migrate([("imports", "0001_initial")])
        ImportJob = apps.get_model("imports", "ImportJob")
        job = ImportJob.objects.create(
            organization_id=org.pk, project_id=project.pk, file_name="b.csv"
        )
        assert job.status == "pending" and job.options == {}
    finally:
        _migrate(leaves)
