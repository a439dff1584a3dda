"""The integrity migrations run backwards and forwards on a real database with data in it."""

import pytest
from django.db import connection

from tests.factories import migrate_to

pytestmark = pytest.mark.django_db(transaction=True)


def test_integrity_migrates_to_zero_and_back_leaving_other_data_alone():
    apps = migrate_to([("integrity", "0001_initial")])
    Organization = apps.get_model("organizations", "Organization")
    Report = apps.get_model("integrity", "DataIntegrityReport")
    org = Organization.objects.create(name="Kept", slug="kept")
    Report.objects.create(organization=org, check_results=[], severity_breakdown={}, metrics={})

    migrate_to([("integrity", None)])
    assert "integrity_dataintegrityreport" not in connection.introspection.table_names()
    assert "integrity_integrityalert" not in connection.introspection.table_names()

    apps = migrate_to([("integrity", "0001_initial")])
    assert apps.get_model("organizations", "Organization").objects.filter(slug="kept").exists()
    Report = apps.get_model("integrity", "DataIntegrityReport")
    assert Report.objects.count() == 0
    Report.objects.create(organization_id=org.pk, check_results=[], metrics={})
