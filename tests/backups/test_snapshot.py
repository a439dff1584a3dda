import pytest
from django.db import connection, connections

from backups.models import BackupExecution
from backups.services.backup import backup_create
from properties.models import Project, Property

from .helpers import archive_members, manifest_of


def _import_from_another_connection(organization_id):
    """Commits a project with a property from a second connection, as a concurrent import."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "INSERT INTO properties_project (organization_id, name, description, config, "
                "status, created_at, updated_at) VALUES (%s, 'Imported meanwhile', '', '{}', "
                "'active', now(), now()) RETURNING id",
                [organization_id],
            )
            project_id = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO properties_property (project_id, organization_id, external_id, "
                "basic_info, planning_controls, environmental_factors, financial_metrics, "
                "spatial_attributes, status, created_at, updated_at) VALUES (%s, %s, 'MEANWHILE', "
                "'{}', '{}', '{}', '{}', '{}', 'active', now(), now())",
                [project_id, organization_id],
            )
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_an_import_committed_during_a_backup_is_not_half_in_it(on_postgres, tenants, estate):
    """The import commits after the backup has read its first table: in one snapshot the
    backup holds neither its project nor its property (READ COMMITTED would hold the
    property without its project)."""
    fired = []

    def import_once_reading_started(execute, sql, params, many, context):
        if not fired and sql.startswith("SET LOCAL TimeZone"):
            fired.append(True)
            _import_from_another_connection(tenants.owner_org.pk)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(import_once_reading_started):
        backup = backup_create(organization=tenants.owner_org, actor=tenants.manager)

    assert fired and backup.status == BackupExecution.Status.COMPLETED
    assert Property.objects.filter(external_id="MEANWHILE").exists()
    assert Project.objects.filter(organization=tenants.owner_org).count() == 3
    counts = {
        name: table["count"]
        for name, table in manifest_of(archive_members(backup))["tables"].items()
    }
    assert counts["properties_project"] == 2
    assert counts["properties_property"] == 4
    # The other organisation's rows are not in it either way.
    assert b"MEANWHILE" not in archive_members(backup)["properties_property.tsv"]
