import pytest

from imports.models import ImportJob
from imports.selectors import import_job_get, import_job_list

from .conftest import csv_bytes, run_import, valid_row


def test_jobs_are_listed_per_organisation(tenants, project, other_project):
    mine = run_import(project, csv_bytes(valid_row(1)), actor=tenants.manager)
    theirs = run_import(other_project, csv_bytes(valid_row(1)), actor=tenants.outsider)
    assert list(import_job_list(actor=tenants.viewer)) == [mine]
    assert list(import_job_list(actor=tenants.outsider)) == [theirs]
    assert list(import_job_list(actor=tenants.manager, project=other_project)) == []
    assert import_job_get(actor=tenants.viewer, job_id=mine.pk) == mine
    with pytest.raises(ImportJob.DoesNotExist):
        import_job_get(actor=tenants.outsider, job_id=mine.pk)
    # The system (a command) sees every organisation's jobs.
    assert set(import_job_list(actor=None)) == {mine, theirs}
