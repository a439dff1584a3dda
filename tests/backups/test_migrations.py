import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from backups.models import BackupConfig, BackupExecution


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


@pytest.mark.django_db(transaction=True)
def test_backups_migrations_go_to_zero_and_back(tenants):
    BackupConfig.objects.create(organization=tenants.owner_org)
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("backups")

    _migrate([("backups", None)])
    assert "backups_backupexecution" not in connection.introspection.table_names()

    _migrate(latest)
    assert "backups_backupexecution" in connection.introspection.table_names()
    execution = BackupExecution.objects.create(organization=tenants.owner_org)
    assert execution.verification_status == "unverified"
