import hashlib
import io
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from imports.models import ImportJob
from imports.pipeline import OrmBulkWriter
from imports.services.jobs import import_job_create, import_preview, import_run
from properties.models import Property
from tests.factories import PropertyFactory

from .conftest import csv_bytes, pipeline_for, run_import, stored_meanwhile, valid_row

FIXTURE = Path(__file__).parent.parent / "fixtures" / "melbourne_housing_sample.csv"


def assert_counts_add_up(job):
    assert job.total_rows == (
        job.created_count + job.updated_count + job.skipped_count + job.rejected_count
    )


def test_valid_rows_are_created_with_one_history_row_each(project, tenants):
    job = run_import(project, csv_bytes(valid_row(1), valid_row(2)), actor=tenants.manager)
    assert job.status == ImportJob.Status.COMPLETED
    assert (job.total_rows, job.created_count, job.rejected_count) == (2, 2, 0)
    props = Property.objects.filter(project=project).order_by("external_id")
    assert [p.external_id for p in props] == ["P-0001", "P-0002"]
    prop = props[0]
    assert prop.organization_id == tenants.owner_org.pk
    assert prop.created_by == tenants.manager
    assert prop.basic_info == {
        "address": "1 Chapel Street",
        "suburb": "Richmond",
        "postcode": "3121",
        "state": "VIC",
    }
    assert prop.financial_metrics == {"estimated_value": 800001}
    history = Property.history.filter(project=project)
    assert history.count() == 2
    assert {(h.history_type, h.history_user_id, h.history_change_reason) for h in history} == {
        ("+", tenants.manager.pk, f"import {job.pk}")
    }
    assert set(history.values_list("organization_id", flat=True)) == {tenants.owner_org.pk}


def test_melbourne_shaped_file_imports_through_the_alias_table(project):
    job = run_import(project, FIXTURE.read_bytes(), name=FIXTURE.name)
    assert job.status == ImportJob.Status.COMPLETED, job.error_summary
    assert job.created_count == 20
    unit = Property.objects.get(project=project, basic_info__address="12/3 Johnston St")
    assert unit.basic_info["postcode"] == "3067"
    assert unit.basic_info["state"] == "VIC"  # the file has no state column
    # A sales file: `Price` beside `Date` is the sale's price.
    assert unit.financial_metrics == {"last_sale_price": 441000, "last_sale_date": "2016-05-07"}
    assert "land_area" not in unit.planning_controls  # Landsize 0.0 means unknown
    assert unit.spatial_attributes["coordinates"]["coordinates"] == [144.998, -37.7995]
    house = Property.objects.get(project=project, basic_info__address="85 Turner St")
    assert house.planning_controls == {"land_area": 202}


def test_reimport_of_a_file_without_ids_creates_nothing(project):
    first = run_import(project, FIXTURE.read_bytes())
    second = run_import(project, FIXTURE.read_bytes())
    assert first.created_count == 20
    assert (second.created_count, second.skipped_count, second.status) == (0, 20, "completed")
    assert Property.objects.filter(project=project).count() == 20
    assert Property.history.filter(project=project).count() == 20


def test_partial_import_keeps_the_valid_rows_and_reports_the_rejected(project):
    content = csv_bytes(valid_row(1), valid_row(2, postcode="31"), valid_row(3, suburb="K3w"))
    job = run_import(project, content, batch_size=1)
    assert job.status == ImportJob.Status.COMPLETED_WITH_ERRORS
    assert (job.created_count, job.rejected_count) == (1, 2)
    assert_counts_add_up(job)
    report = job.rejected_file.read().decode("utf-8-sig").splitlines()
    assert report[0].endswith(",row,errors,warnings")
    assert report[1].startswith("P-0002,2 Chapel Street")
    assert ',3,"postcode: must be exactly 4 digits' in report[1]
    assert ',4,"suburb: may hold only letters' in report[2]


def test_rejected_rows_report_neutralises_formulas_but_keeps_numbers(project):
    content = csv_bytes(
        valid_row(1, address="=cmd|' /C calc'!A0", postcode="31"),
        valid_row(2, coordinates='"-95.5,144.99"'),
    )
    job = run_import(project, content)
    report = job.rejected_file.read().decode("utf-8-sig").splitlines()
    assert report[1].startswith("P-0001,'=cmd|")  # a spreadsheet shows it as text
    assert ',"-95.5,144.99",' in report[2]  # a number stays a number, so the fix re-imports


def test_second_row_with_the_same_id_is_rejected_naming_the_first(project):
    job = run_import(project, csv_bytes(valid_row(1), valid_row(2), valid_row(1)))
    assert (job.created_count, job.rejected_count) == (2, 1)
    report = job.rejected_file.read().decode("utf-8-sig")
    assert "same property id 'P-0001' as row 2" in report


def test_same_address_twice_without_ids_is_rejected_naming_the_first(project):
    header = "address,suburb,postcode"
    content = csv_bytes("1 Chapel St,Richmond,3121", "1 chapel st,RICHMOND,3121.0", header=header)
    job = run_import(project, content)
    assert (job.created_count, job.rejected_count) == (1, 1)
    assert "same address, suburb and postcode as row 2" in job.rejected_file.read().decode()


def test_on_duplicate_skip_leaves_existing_properties_alone(project):
    existing = PropertyFactory(project=project, external_id="P-0001")
    before = existing.basic_info
    job = run_import(project, csv_bytes(valid_row(1, suburb="Kew")))
    assert (job.skipped_count, job.status) == (1, "completed")
    existing.refresh_from_db()
    assert existing.basic_info == before
    assert existing.history.count() == 1


def test_on_duplicate_update_writes_only_changed_rows_with_one_history_row(project, tenants):
    run_import(project, csv_bytes(valid_row(1), valid_row(2)))
    existing = Property.objects.get(project=project, external_id="P-0001")
    existing.basic_info = {**existing.basic_info, "note": "analyst"}
    existing.save()
    content = csv_bytes(valid_row(1, suburb="Kew"), valid_row(2))
    job = run_import(project, content, on_duplicate="update", actor=tenants.manager)
    assert (job.updated_count, job.skipped_count, job.created_count) == (1, 1, 0)
    existing.refresh_from_db()
    assert existing.basic_info["suburb"] == "Kew"
    assert existing.basic_info["note"] == "analyst"  # keys the file does not carry stay
    last = existing.history.first()
    assert (last.history_type, last.history_change_reason) == ("~", f"import {job.pk}")
    assert last.history_user == tenants.manager
    assert existing.history.count() == 3  # import, analyst save, update
    unchanged = Property.objects.get(project=project, external_id="P-0002")
    assert unchanged.history.count() == 1


def test_on_duplicate_error_rejects_existing(project):
    PropertyFactory(project=project, external_id="P-0001")
    job = run_import(project, csv_bytes(valid_row(1), valid_row(2)), on_duplicate="error")
    assert (job.created_count, job.rejected_count) == (1, 1)
    assert "already exists in this project" in job.rejected_file.read().decode()


def test_dry_run_writes_no_property_and_no_history(project):
    job = run_import(project, csv_bytes(valid_row(1), valid_row(2, postcode="x")), dry_run=True)
    assert (job.created_count, job.rejected_count, job.status) == (1, 1, "completed_with_errors")
    assert not Property.objects.exists()
    assert not Property.history.exists()


def test_preview_classifies_without_writing_and_the_job_stays_pending(project):
    PropertyFactory(project=project, external_id="P-0002")
    rows = [valid_row(1), valid_row(2), valid_row(3, state="XX")]
    content = csv_bytes(*[row + ",3" for row in rows], header=HEADER_PLUS)
    job = import_job_create(
        actor=None, project=project, file=io.BytesIO(content), file_name="a.csv"
    )
    job = import_preview(job=job, actor=None)
    assert job.status == ImportJob.Status.PENDING
    assert job.preview["totals"] == {
        "total": 3,
        "new": 1,
        "update": 0,
        "skip": 1,
        "reject": 1,
        "warn": 0,
    }
    assert job.preview["columns"]["ignored"] == ["Rooms"]
    assert job.preview["samples"]["new"][0]["external_id"] == "P-0001"
    assert job.preview["samples"]["skip"][0]["reason"] == "already exists"
    assert job.preview["rejected_samples"][0]["row"] == 4
    assert Property.objects.filter(project=project).count() == 1
    assert job.created_count == 0
    job = import_run(job=job, actor=None)
    assert (job.created_count, job.skipped_count, job.rejected_count) == (1, 1, 1)


HEADER_PLUS = "propertyid,address,suburb,postcode,state,estimated value,land area,coordinates,Rooms"


def test_a_job_runs_once(project):
    job = run_import(project, csv_bytes(valid_row(1)))
    with pytest.raises(ValidationError, match="already run"):
        import_run(job=job, actor=None)
    assert Property.objects.filter(project=project).count() == 1


def test_a_file_broken_part_way_stores_nothing_and_names_the_row(project):
    # The rule of docs/imports.md: the whole file's structure is checked before the first
    # batch, so batches before the unterminated quote are never committed.
    content = csv_bytes(valid_row(1), valid_row(2), valid_row(3), 'P-9,"9 Broken Rd,Kew,3101')
    job = run_import(project, content, batch_size=1)
    assert job.status == ImportJob.Status.FAILED
    assert job.error_summary.startswith("Row 5 (from line 5 of the file): a quoted field is never")
    assert job.error_summary.endswith("nothing was imported.")
    assert not Property.objects.exists() and not Property.history.exists()
    assert (job.last_committed_row, job.created_count) == (0, 0)


def test_writer_isolates_rows_that_conflict_at_write_time(project):
    # A row stored by someone else after the batch was classified must be the only one rejected.
    content = csv_bytes(valid_row(1), valid_row(2))
    job = import_job_create(actor=None, project=project, file=io.BytesIO(content))
    with pipeline_for(job, OrmBulkWriter) as pipeline:
        report = pipeline.report
        stored_meanwhile(pipeline, "P-0002")
        result = pipeline.run()
    assert (result.created, result.rejected) == (1, 1)
    assert report.samples[0]["row"] == 3
    assert "could not be stored" in report.samples[0]["errors"][0]
    assert Property.history.filter(history_change_reason="import test").count() == 1
    report.close()


def test_project_of_another_organisation_is_refused(other_project, tenants):
    with pytest.raises(PermissionDenied):
        run_import(other_project, csv_bytes(valid_row(1)), actor=tenants.manager)
    assert not ImportJob.objects.exists()
    assert not Property.objects.exists()


def test_job_records_file_identity_and_options(project, tenants):
    content = csv_bytes(valid_row(1))
    job = run_import(project, content, actor=tenants.admin, batch_size=7, on_duplicate="update")
    assert job.sha256 == hashlib.sha256(content).hexdigest()
    assert job.size_bytes == len(content)
    assert job.file_format == "csv"
    assert job.options == {"on_duplicate": "update", "batch_size": 7, "dry_run": False}
    assert job.organization == tenants.owner_org
    with job.source_file.open("rb") as stored:
        assert stored.read() == content
    assert job.rows_per_second > 0 and job.started_at and job.finished_at


@pytest.mark.parametrize("options", [{"on_duplicate": "merge"}, {"batch_size": 0}])
def test_bad_options_are_refused(project, options):
    with pytest.raises(ValidationError):
        run_import(project, csv_bytes(valid_row(1)), **options)


def test_many_batches_count_every_row(project):
    rows = [valid_row(n) for n in range(1, 26)] + [valid_row(99, postcode="1")]
    job = run_import(project, csv_bytes(*rows), batch_size=4)
    assert (job.total_rows, job.created_count, job.rejected_count) == (26, 25, 1)
    assert job.processed_rows == 26
    assert Property.history.filter(project=project).count() == 25


def test_existing_ids_are_looked_up_in_chunks_within_a_batch(project, monkeypatch):
    # SQLite caps the parameters of one query; a batch's lookup is split (here into 7-id chunks).
    monkeypatch.setattr("imports.pipeline.core.LOOKUP_CHUNK", 7)
    rows = [valid_row(n) for n in range(1, 31)]
    first = run_import(project, csv_bytes(*rows), batch_size=30)
    again = run_import(project, csv_bytes(*rows), batch_size=30)
    assert (first.created_count, again.skipped_count, again.rejected_count) == (30, 30, 0)
