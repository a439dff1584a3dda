"""The sources migration runs backwards and forwards on a real database with data in it."""

import pytest
from django.db import connection

from tests.factories import historical_project, latest_migrations, migrate_to

pytestmark = pytest.mark.django_db(transaction=True)


def test_sources_migrates_to_zero_and_back_with_sources_runs_and_records():
    leaves = latest_migrations()
    apps = migrate_to([("sources", "0001_initial")])
    Property = apps.get_model("properties", "Property")
    DataSource = apps.get_model("sources", "DataSource")
    SyncRun = apps.get_model("sources", "SyncRun")
    SourceRecord = apps.get_model("sources", "SourceRecord")
    org, project = historical_project(apps, slug="round-trip-sources")
    prop = Property.objects.create(project=project, organization=org, external_id="KEEP")
    source = DataSource.objects.create(
        organization=org, project=project, name="S", kind="file_url", url="https://x.example/a"
    )
    run = SyncRun.objects.create(organization=org, source=source, status="completed")
    SourceRecord.objects.create(
        organization=org,
        source=source,
        key="KEEP",
        property=prop,
        sha256="0" * 64,
        first_run=run,
        changed_run=run,
    )
    try:
        migrate_to([("sources", None)])
        assert "sources_datasource" not in connection.introspection.table_names()
        assert Property.objects.filter(external_id="KEEP").exists()
        apps = migrate_to([("sources", "0001_initial")])
        DataSource = apps.get_model("sources", "DataSource")
        assert DataSource.objects.count() == 0
    finally:
        migrate_to(leaves)
