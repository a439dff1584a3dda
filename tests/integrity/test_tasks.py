import psycopg
import pytest
from django.db import connection

from integrity.models import DataIntegrityReport
from integrity.services.reports import RUN_LOCK_NAMESPACE
from integrity.tasks import integrity_check_task


@pytest.mark.django_db
def test_the_scheduled_task_stores_a_report_for_its_organisation_only(tenants):
    report_id = integrity_check_task(tenants.owner_org.pk)
    report = DataIntegrityReport.objects.get(pk=report_id)
    assert report.organization == tenants.owner_org
    assert report.trigger == DataIntegrityReport.Trigger.SCHEDULE
    assert not DataIntegrityReport.objects.filter(organization=tenants.other_org).exists()


@pytest.mark.django_db(transaction=True)
def test_a_run_still_going_makes_the_next_scheduled_run_skip(tenants, on_postgres):
    settings = connection.settings_dict
    # A second session holds the organisation's run lock, as a run in another worker would.
    other_worker = psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"],
        dbname=settings["NAME"],
        autocommit=True,
    )
    try:
        other_worker.execute(
            "SELECT pg_advisory_lock(%s, %s)", [RUN_LOCK_NAMESPACE, tenants.owner_org.pk]
        )
        assert integrity_check_task(tenants.owner_org.pk) is None
        assert not DataIntegrityReport.objects.filter(organization=tenants.owner_org).exists()
        # Another organisation's run is not held up.
        assert integrity_check_task(tenants.other_org.pk) is not None
        # Released explicitly: a closed session's locks go only when its backend has exited,
        # which a loaded server may not have done by the next line.
        other_worker.execute(
            "SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCK_NAMESPACE, tenants.owner_org.pk]
        )
    finally:
        # Unlocked explicitly: the server frees a closed session's locks a moment later.
        other_worker.execute(
            "SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCK_NAMESPACE, tenants.owner_org.pk]
        )
        other_worker.close()
    assert integrity_check_task(tenants.owner_org.pk) is not None
