"""Jobs that tell the truth (issue 11, item 7): a cancelled preview is `cancelled`, a
command-line dry run is a preview, and the job page offers Resume or Cancel only where the
action applies, which the server enforces too. Also the job page as a new user reads it."""

import io
import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from imports.models import ImportJob
from imports.services.jobs import (
    import_cancel,
    import_preview,
    import_resume,
    import_run,
)
from imports.tasks import import_preview_task
from properties.models import Property

from .conftest import WorkerKilled, after_each_batch, csv_bytes, killed_after, new_job, valid_row

Status = ImportJob.Status


def six_rows() -> bytes:
    return csv_bytes(*[valid_row(n) for n in range(1, 6)], valid_row(6, postcode="31"))


def job_page(client, job) -> str:
    return client.get(reverse("admin:imports_importjob_change", args=[job.pk])).content.decode()


def buttons(page: str) -> set[str]:
    return set(re.findall(r'id="(import-resume|import-cancel)"', page))


# Cancelling a preview -----------------------------------------------------------------------


def test_a_preview_cancelled_from_its_page_is_cancelled_and_can_no_longer_run(
    project, tenants, client
):
    job = import_preview(job=new_job(project, six_rows(), actor=tenants.manager), actor=None)
    assert job.status == Status.PENDING
    client.force_login(tenants.manager)
    preview_url = reverse("admin:imports_importjob_preview", args=[job.pk])
    page = client.get(preview_url).content.decode()
    assert 'id="import-preview-cancel"' in page and "Confirm import" in page

    response = client.post(reverse("admin:imports_importjob_cancel", args=[job.pk]), follow=True)
    assert f"Cancelled import {job.pk}" in response.content.decode()
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.finished_at is not None
    assert job.error_summary == f"Cancelled by {tenants.manager.username} at the preview; " + (
        "nothing was imported."
    )
    page = client.get(preview_url).content.decode()
    assert 'id="import-cancelled"' in page and "Confirm import" not in page
    assert 'id="import-preview-cancel"' not in page
    # Nothing can bring it back: confirming or cancelling again is refused in words.
    response = client.post(reverse("admin:imports_importjob_confirm", args=[job.pk]), follow=True)
    assert "has already run (status cancelled)" in response.content.decode()
    response = client.post(reverse("admin:imports_importjob_cancel", args=[job.pk]), follow=True)
    assert "can no longer be cancelled" in response.content.decode()
    assert not Property.objects.exists()


def test_cancelling_a_preview_needs_the_import_role_and_the_organisation(project, tenants, client):
    job = import_preview(job=new_job(project, six_rows()), actor=None)
    url = reverse("admin:imports_importjob_cancel", args=[job.pk])
    client.force_login(tenants.member)
    preview = client.get(reverse("admin:imports_importjob_preview", args=[job.pk]))
    assert 'id="import-preview-cancel"' not in preview.content.decode()
    assert client.post(url).status_code == 403
    client.force_login(tenants.outsider)
    assert client.post(url).status_code == 404
    job.refresh_from_db()
    assert job.status == Status.PENDING


def test_a_background_preview_cancelled_while_queued_or_validating_stays_cancelled(
    project, tenants
):
    job = new_job(project, six_rows())
    job.status = Status.VALIDATING
    job.save(update_fields=["status"])
    import_cancel(job=job, actor=tenants.manager)
    # The queued task runs after the cancel: it neither validates nor revives the job.
    assert import_preview_task(job.pk) == f"preview {job.pk}: cancelled"
    job.refresh_from_db()
    assert (job.status, job.preview) == (Status.CANCELLED, {})


def test_a_cancel_during_validation_is_kept_when_the_preview_ends(project, tenants, monkeypatch):
    from imports.services import execution

    job = new_job(project, six_rows())
    real_pipeline = execution._pipeline_for

    def cancel_once_validation_started(job_, **kwargs):
        import_cancel(job=ImportJob.objects.get(pk=job_.pk), actor=tenants.manager)
        return real_pipeline(job_, **kwargs)

    monkeypatch.setattr(execution, "_pipeline_for", cancel_once_validation_started)
    job = import_preview(job=job, actor=None)
    assert job.status == Status.CANCELLED
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.preview["totals"]["total"] == 6
    assert "at the preview" in job.error_summary


def test_a_cancel_during_validation_is_kept_when_the_file_is_then_refused(
    project, tenants, monkeypatch, tmp_path
):
    from imports.services import execution

    from .test_broken_files import _xlsx_with_cell

    # A cell openpyxl fails on, found only while the pipeline reads the rows.
    content = _xlsx_with_cell(tmp_path, b'<c r="A1000" t="d"><v>not a date</v></c>')
    job = new_job(project, content, name="bad-date.xlsx")
    real_pipeline = execution._pipeline_for

    def cancel_once_validation_started(job_, **kwargs):
        import_cancel(job=ImportJob.objects.get(pk=job_.pk), actor=tenants.manager)
        return real_pipeline(job_, **kwargs)

    monkeypatch.setattr(execution, "_pipeline_for", cancel_once_validation_started)
    job = import_preview(job=job, actor=None)
    assert job.status == Status.CANCELLED
    job.refresh_from_db()
    assert job.status == Status.CANCELLED
    assert "at the preview" in job.error_summary and "cannot be read" not in job.error_summary


# Command-line dry runs are previews ---------------------------------------------------------


def test_a_command_line_dry_run_is_recorded_as_a_preview(project, tenants, tmp_path, client):
    source = tmp_path / "sales.csv"
    source.write_bytes(six_rows())
    out = io.StringIO()
    call_command(
        "import_properties",
        str(source),
        "--project",
        str(project.pk),
        "--dry-run",
        "--user",
        tenants.manager.username,
        stdout=out,
    )
    line = out.getvalue().strip()
    job = ImportJob.objects.get()
    assert line == (
        f"import={job.pk} status=pending dry_run=preview total=6 created=5 updated=0 "
        "skipped=0 rejected=1"
    )
    assert job.is_preview and job.started_at is None
    assert (job.total_rows, job.created_count, job.rows_per_second) == (0, 0, 0)
    assert job.preview["totals"]["new"] == 5
    assert not Property.objects.exists()

    # The job page reads as a preview, and a manager may confirm it in the admin.
    client.force_login(tenants.manager)
    page = job_page(client, job)
    assert "What the preview found (nothing written)" in page
    assert 'id="import-progress"' not in page  # no progress bar or throughput for a preview
    response = client.post(reverse("admin:imports_importjob_confirm", args=[job.pk]), follow=True)
    assert "5 created" in response.content.decode()
    job.refresh_from_db()
    assert job.status == Status.COMPLETED_WITH_ERRORS and not job.is_preview
    assert Property.objects.filter(project=project).count() == 5


def test_a_dry_run_of_a_file_without_a_valid_row_exits_non_zero(project, tmp_path):
    from django.core.management.base import CommandError

    source = tmp_path / "bad.csv"
    source.write_bytes(csv_bytes(valid_row(1, postcode="1")))
    with pytest.raises(CommandError, match="all 1 rows would be rejected"):
        call_command(
            "import_properties",
            str(source),
            "--project",
            str(project.pk),
            "--dry-run",
            stdout=io.StringIO(),
        )
    assert ImportJob.objects.get().status == Status.PENDING


# Resume xor Cancel -------------------------------------------------------------------------


def test_a_running_import_offers_cancel_only_and_refuses_resume(project, tenants, client):
    job = new_job(project, six_rows())
    with pytest.raises(WorkerKilled), killed_after(1):
        import_run(job=job, actor=None)
    job.refresh_from_db()
    assert job.status == Status.IMPORTING and job.can_cancel and not job.can_resume
    client.force_login(tenants.manager)
    assert buttons(job_page(client, job)) == {"import-cancel"}
    # A confirmed job is no longer a preview: its preview page offers no preview cancel.
    preview = client.get(reverse("admin:imports_importjob_preview", args=[job.pk]))
    assert 'id="import-preview-cancel"' not in preview.content.decode()
    response = client.post(reverse("admin:imports_importjob_resume", args=[job.pk]), follow=True)
    assert "its worker is alive" in response.content.decode()
    job.refresh_from_db()
    assert job.status == Status.IMPORTING and job.last_committed_row == 3


def test_an_import_whose_worker_died_offers_resume_only(
    project, tenants, client, settings, run_on_commit
):
    job = new_job(project, six_rows())
    with pytest.raises(WorkerKilled), killed_after(1):
        import_run(job=job, actor=None)
    ImportJob.objects.filter(pk=job.pk).update(
        progress_at=timezone.now() - timedelta(seconds=settings.IMPORT_STALE_SECONDS + 5)
    )
    job.refresh_from_db()
    assert job.worker_lost and job.can_resume
    client.force_login(tenants.manager)
    assert buttons(job_page(client, job)) == {"import-resume"}
    with run_on_commit():
        response = client.post(
            reverse("admin:imports_importjob_resume", args=[job.pk]), follow=True
        )
    assert f"Resumed import {job.pk}" in response.content.decode()
    job.refresh_from_db()
    assert job.status == Status.COMPLETED_WITH_ERRORS
    assert buttons(job_page(client, job)) == set()


def test_a_failed_part_way_import_offers_resume_and_a_finished_failure_neither(
    project, tenants, client
):
    # A failure that is not the file's (a broken file is refused whole before any batch, see
    # test_broken_files.py): the database goes away after the first batch of three.
    def database_gone(job, committed):
        raise RuntimeError("server closed the connection unexpectedly")

    with after_each_batch(database_gone):
        job = import_run(
            job=new_job(project, csv_bytes(*[valid_row(n) for n in range(1, 5)])), actor=None
        )
    assert job.status == Status.FAILED and job.options["resume_point"] == 3
    assert "server closed" not in job.error_summary
    assert Property.objects.filter(project=project).count() == 3
    client.force_login(tenants.manager)
    assert buttons(job_page(client, job)) == {"import-resume"}

    no_valid_row = csv_bytes(*[valid_row(n, postcode="1") for n in range(1, 5)])
    rejected = import_run(job=new_job(project, no_valid_row), actor=None)
    assert rejected.status == Status.FAILED and rejected.last_committed_row == 4
    assert not rejected.can_resume and not rejected.can_cancel
    assert buttons(job_page(client, rejected)) == set()
    response = client.post(
        reverse("admin:imports_importjob_resume", args=[rejected.pk]), follow=True
    )
    assert "no point to resume from" in response.content.decode()
    with pytest.raises(ValidationError, match="no point to resume from"):
        import_resume(job=rejected, actor=tenants.manager)
    rejected.refresh_from_db()
    assert rejected.status == Status.FAILED


def test_a_resumed_failure_that_then_reads_the_whole_file_is_no_longer_resumable(project, tenants):
    # Fails part-way, then the resumed run reads to the end: nothing is left to resume.
    rows = [valid_row(n) for n in range(1, 5)]
    job = new_job(project, csv_bytes(*rows))
    with pytest.raises(WorkerKilled), killed_after(1):
        import_run(job=job, actor=None)
    ImportJob.objects.filter(pk=job.pk).update(
        status=Status.FAILED, options={**job.options, "resume_point": 3}
    )
    job = import_resume(job=ImportJob.objects.get(pk=job.pk), actor=tenants.manager)
    assert job.status == Status.COMPLETED and "resume_point" not in job.options
    assert not job.can_resume


# The job page -----------------------------------------------------------------------------


def test_the_job_page_reads_well_and_has_no_history_button(project, tenants, client):
    job = import_run(job=new_job(project, six_rows(), actor=tenants.manager), actor=None)
    client.force_login(tenants.manager)
    page = job_page(client, job)
    summary = page[page.index('id="import-summary"') :][:1200]
    assert "What the import wrote" in summary
    assert re.findall(r"<th>([^<]+)</th>", summary) == [
        "Rows",
        "Created",
        "Updated",
        "Skipped",
        "Rejected",
        "Kept with warnings",
    ]
    assert re.findall(r"<td>([^<]+)</td>", summary) == ["6", "5", "0", "0", "1", "0"]
    assert "duplicates: skip · batches of 3 rows" in page
    assert '"on_duplicate"' not in page  # no raw JSON of the options
    assert 'id="import-rejected-link"' in page
    assert reverse("admin:imports_importjob_rejected", args=[job.pk]) in page
    assert "rows/s" in page
    assert 'class="historylink"' not in page
    client.force_login(tenants.outsider)
    assert client.get(reverse("admin:imports_importjob_change", args=[job.pk])).status_code == 404


def test_the_job_list_tells_previews_from_imports(project, tenants, client):
    cancelled = import_preview(job=new_job(project, six_rows()), actor=None)
    import_cancel(job=cancelled, actor=tenants.manager)
    imported = import_run(job=new_job(project, six_rows()), actor=None)
    client.force_login(tenants.viewer)
    response = client.get(reverse("admin:imports_importjob_changelist"))
    rows = {
        job.pk: [
            response.context["cl"].model_admin.kind(job),
            job.get_status_display(),
            response.context["cl"].model_admin.rows(job),
        ]
        for job in response.context["cl"].result_list
    }
    assert rows == {
        cancelled.pk: ["preview", "Cancelled", "6"],
        imported.pk: ["import", "Completed with errors", "6"],
    }
    page = response.content.decode()
    assert '<td class="field-kind">preview</td>' in page
    client.force_login(tenants.outsider)
    response = client.get(reverse("admin:imports_importjob_changelist"))
    assert list(response.context["cl"].result_list) == []
