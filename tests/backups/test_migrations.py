import pytest
from django.db import connection

from backups.models import BackupConfig, BackupExecution
from tests.factories import latest_migrations, migrate_to


@pytest.mark.django_db(transaction=True)
def test_backups_migrations_go_to_zero_and_back(tenants):
    BackupConfig.objects.create(organization=tenants.owner_org)
    latest = latest_migrations("backups")

    migrate_to([("backups", None)])
    assert "backups_backupexecution" not in connection.introspection.table_names()

    migrate_to(latest)
    assert "backups_backupexecution" in connection.introspection.table_names()
    execution = BackupExecution.objects.create(organization=tenants.owner_org)
    assert execution.verification_status == "unverified"
