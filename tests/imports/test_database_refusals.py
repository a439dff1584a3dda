"""A value the database refuses although the rules let it through (standing for a gap in the
rules, as NUL characters once were): the batch is retried row by row in savepoints, only the
refused row is rejected, with a sentence, and the job never shows the driver's text.

The refusal is a real trigger on the property table, created inside the test's transaction:
PostgreSQL raises SQLSTATE 22P05 (what it raises for a NUL in jsonb), SQLite aborts."""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection

from imports.models import ImportJob
from imports.pipeline.refusals import REFUSED_BY_DATABASE
from properties.models import Property
from tests.factories import PropertyFactory

from .conftest import csv_bytes, run_import, valid_row

pytestmark = pytest.mark.django_db
TRIGGER_TEXT = "refused by the test trigger"
REFUSED = "Refused Street"

_POSTGRES_TRIGGER = [
    f"""
    CREATE FUNCTION test_refuse_street() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.basic_info->>'address' LIKE '%{REFUSED}%' THEN
            RAISE EXCEPTION '{TRIGGER_TEXT}' USING ERRCODE = '22P05';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER test_refuse_street BEFORE INSERT OR UPDATE ON properties_property
    FOR EACH ROW EXECUTE FUNCTION test_refuse_street()
    """,
]
_SQLITE_TRIGGER = [
    f"""
    CREATE TRIGGER test_refuse_street_{event.lower()} BEFORE {event} ON properties_property
    WHEN json_extract(NEW.basic_info, '$.address') LIKE '%{REFUSED}%'
    BEGIN SELECT RAISE(ABORT, '{TRIGGER_TEXT}'); END
    """
    for event in ("INSERT", "UPDATE")
]


@pytest.fixture
def refusing_database(db):
    """The trigger lives in the test's transaction and goes with its rollback."""
    statements = _POSTGRES_TRIGGER if connection.vendor == "postgresql" else _SQLITE_TRIGGER
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _rejected_report(job: ImportJob) -> str:
    with job.rejected_file.open("rb") as report:
        return report.read().decode("utf-8-sig")


def _assert_no_driver_text(job: ImportJob) -> None:
    shown = [job.error_summary, str(job.preview), _rejected_report(job)]
    assert not any(TRIGGER_TEXT in text or "properties_property" in text for text in shown)


@pytest.mark.parametrize("batch_size", [1000, 2])
def test_a_row_the_database_refuses_is_rejected_and_its_batch_stored(
    project, refusing_database, batch_size
):
    # batch_size 2: the refused row's batch is written without a lookup (after a batch of new
    # ids), the path that stores a whole batch at once.
    rows = [valid_row(n) for n in range(1, 6)]
    rows[3] = valid_row(4, address=f"4 {REFUSED}")

    job = run_import(project, csv_bytes(*rows), batch_size=batch_size)

    assert job.status == ImportJob.Status.COMPLETED_WITH_ERRORS, job.error_summary
    assert (job.created_count, job.rejected_count) == (4, 1)
    assert job.error_summary == "1 of 5 rows were rejected."
    stored = Property.objects.filter(project=project).values_list("external_id", flat=True)
    assert sorted(stored) == ["P-0001", "P-0002", "P-0003", "P-0005"]
    assert Property.history.filter(project=project).count() == 4
    report = _rejected_report(job)
    assert REFUSED_BY_DATABASE in report and "4 Refused Street" in report
    _assert_no_driver_text(job)


def test_an_update_the_database_refuses_leaves_that_property_as_it_was(project, refusing_database):
    kept = PropertyFactory(project=project, external_id="P-0001")
    before = kept.basic_info
    content = csv_bytes(valid_row(1, address=f"1 {REFUSED}"), valid_row(2))

    job = run_import(project, content, on_duplicate="update")

    assert (job.created_count, job.updated_count, job.rejected_count) == (1, 0, 1)
    kept.refresh_from_db()
    assert kept.basic_info == before
    assert REFUSED_BY_DATABASE in _rejected_report(job)
    _assert_no_driver_text(job)


def test_an_outsider_cannot_import_into_the_project(project, tenants, refusing_database):
    with pytest.raises(PermissionDenied):
        run_import(project, csv_bytes(valid_row(1)), actor=tenants.outsider)
    assert not Property.objects.filter(project=project).exists()


_POSTGRES_UNAVAILABLE = [
    # 55P03 lock_not_available: what a lock timeout raises, an OperationalError.
    f"""
    CREATE FUNCTION test_lock_street() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.basic_info->>'address' LIKE '%{REFUSED}%' THEN
            RAISE EXCEPTION 'lock timeout' USING ERRCODE = '55P03';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER test_lock_street BEFORE INSERT OR UPDATE ON properties_property
    FOR EACH ROW EXECUTE FUNCTION test_lock_street()
    """,
]
# SQLite resolves a trigger's tables when the firing statement is prepared: every insert then
# fails with an OperationalError ("no such table"), as "database is locked" would.
_SQLITE_UNAVAILABLE = [
    """
    CREATE TRIGGER test_lock_street BEFORE INSERT ON properties_property
    BEGIN INSERT INTO test_table_that_is_not_there VALUES (1); END
    """
]


@pytest.fixture
def unavailable_database(db):
    statements = _POSTGRES_UNAVAILABLE if connection.vendor == "postgresql" else _SQLITE_UNAVAILABLE
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


@pytest.mark.parametrize("batch_size", [1000, 2])
def test_a_transient_database_error_fails_the_job_and_rejects_no_row(
    project, unavailable_database, batch_size
):
    rows = [valid_row(n, address=f"{n} {REFUSED}") for n in range(1, 6)]

    job = run_import(project, csv_bytes(*rows), batch_size=batch_size)

    assert job.status == ImportJob.Status.FAILED, job.error_summary
    assert (job.created_count, job.rejected_count, job.last_committed_row) == (0, 0, 0)
    assert "rejected" not in job.error_summary
    assert not Property.objects.filter(project=project).exists()
    assert not job.rejected_file or REFUSED_BY_DATABASE not in _rejected_report(job)
