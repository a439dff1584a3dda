"""Large imports (issue 4): background task, progress, cancel, resume, concurrency, both writers.

Small batch sizes stand in for large files; the same cases run through the bulk ORM writer and
the database's own fast writer (COPY on PostgreSQL, executemany on SQLite)."""

import gc
import io
import json
import multiprocessing
import pickle
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django_q.models import Task

from imports.errors import FileRefused
from imports.models import ImportJob, ImportRejectedRow
from imports.pipeline import (
    CopyWriter,
    ImportPipeline,
    OrmBulkWriter,
    RejectedRowsReport,
    SqliteWriter,
)
from imports.pipeline.prefetch import LIVE_VALIDATORS, PROCESS, prefetched
from imports.pipeline.rows import BatchRows, NewRow
from imports.readers import RawRow, TableReader
from imports.services.jobs import (
    import_cancel,
    import_job_create,
    import_job_execute,
    import_preview,
    import_resume,
    import_run,
)
from properties.models import Property
from tests.factories import ProjectFactory, PropertyFactory

from .conftest import (
    WorkerKilled,
    after_each_batch,
    csv_bytes,
    killed_after,
    new_job,
    pipeline_for,
    stored_meanwhile,
    valid_row,
)

Status = ImportJob.Status


WRITERS = {"orm": OrmBulkWriter, "copy": CopyWriter, "sqlite": SqliteWriter}


@pytest.fixture(params=list(WRITERS))
def writer(request, settings):
    """The writer every run below goes through: the bulk ORM one, COPY on PostgreSQL, or
    executemany on SQLite."""
    if request.param == "copy":
        request.getfixturevalue("on_postgres")
    if request.param == "sqlite" and connection.vendor != "sqlite":
        pytest.skip("SQLite-only writer; runs in the SQLite pass")
    settings.IMPORT_WRITER = request.param
    return request.param


@pytest.fixture(params=["thread", "process"])
def validator(request, settings):
    """Where a run validates ahead of its writer: a thread, or (for a file above the background
    threshold) a forked process. Either way no helper outlives the run."""
    if request.param == "process":
        settings.IMPORT_BACKGROUND_THRESHOLD_ROWS = 1
    yield request.param
    assert not LIVE_VALIDATORS
    # The fork freezes the garbage collector's objects for the child only.
    assert gc.get_freeze_count() == 0


def mixed_file() -> bytes:
    # 12 rows in batches of 3: a rejected row in batch 2, and in batch 4 a repeat of row 2's id
    # (so a resumed run must still know the ids of the batches committed before the crash).
    rows = [valid_row(n) for n in range(1, 12)]
    rows[4] = valid_row(5, postcode="31")
    rows.insert(10, valid_row(1, address="1 Other Street"))
    return csv_bytes(*rows)


def assert_consistent(job, project):
    job.refresh_from_db()
    assert job.total_rows == (
        job.created_count + job.updated_count + job.skipped_count + job.rejected_count
    )
    ids = list(Property.objects.filter(project=project).values_list("external_id", flat=True))
    assert len(ids) == len(set(ids)), "a property was imported twice"
    created = Property.history.filter(
        history_change_reason=f"import {job.pk}", history_type="+"
    ).count()
    assert created == job.created_count
    assert ImportRejectedRow.objects.filter(job=job).count() == job.rejected_count


# Writers: the same cases through both ------------------------------------------------------


def test_both_writers_create_update_and_write_one_history_row_each(writer, validator, tenants):
    project = ProjectFactory(organization=tenants.owner_org)
    job = import_run(
        job=new_job(project, mixed_file(), actor=tenants.manager), actor=tenants.manager
    )
    assert (job.status, job.created_count, job.rejected_count) == (
        Status.COMPLETED_WITH_ERRORS,
        10,
        2,
    )
    assert_consistent(job, project)
    first = Property.objects.get(project=project, external_id="P-0001")
    assert first.basic_info["address"] == "1 Chapel Street"
    assert first.organization_id == tenants.owner_org.pk
    assert first.created_by == tenants.manager
    record = first.history.get()
    assert (record.history_user, record.history_change_reason, record.history_type) == (
        tenants.manager,
        f"import {job.pk}",
        "+",
    )
    assert record.basic_info == first.basic_info
    assert first.environmental_factors == {}
    rejected = job.rejected_file.read().decode("utf-8-sig")
    assert "same property id 'P-0001' as row 2" in rejected

    changed = csv_bytes(valid_row(1, value="900001"), valid_row(2), valid_row(99))
    again = import_run(job=new_job(project, changed, on_duplicate="update"), actor=tenants.manager)
    assert (again.created_count, again.updated_count, again.skipped_count) == (1, 1, 1)
    first.refresh_from_db()
    assert first.financial_metrics == {"estimated_value": 900001}
    assert first.basic_info["address"] == "1 Chapel Street"
    assert [h.history_type for h in first.history.order_by("history_id")] == ["+", "~"]
    assert first.history.first().history_change_reason == f"import {again.pk}"


def test_both_writers_report_a_row_stored_by_someone_else_meanwhile(writer, tenants):
    project = ProjectFactory(organization=tenants.owner_org)
    writer_class = WRITERS[writer]
    job = new_job(project, csv_bytes(valid_row(1), valid_row(2)))
    with pipeline_for(job, writer_class) as pipeline:
        stored_meanwhile(pipeline, "P-0002")
        result = pipeline.run()
    assert (result.created, result.rejected) == (1, 1)
    assert pipeline.report.samples[0]["row"] == 3
    assert "could not be stored" in pipeline.report.samples[0]["errors"][0]
    assert Property.objects.filter(project=project).count() == 2
    assert Property.history.filter(history_change_reason="import test").count() == 1


def test_a_batch_written_without_a_lookup_meets_a_stored_id_and_is_classified(writer, tenants):
    # Batch 1 finds no stored id, so batch 2 is written without looking; meanwhile someone
    # stores one of batch 2's ids. That write stores nothing, and the batch is then looked up:
    # the row is skipped as existing (on_duplicate=skip), not rejected, and the rest created.
    project = ProjectFactory(organization=tenants.owner_org)
    writer_class = WRITERS[writer]
    content = csv_bytes(*[valid_row(n) for n in range(1, 7)])
    job = new_job(project, content)
    with pipeline_for(job, writer_class, batch_size=3) as pipeline:
        create_new = pipeline.writer.create_new
        attempts = []

        def create_new_after_a_concurrent_insert(rows):
            ids = [row.external_id for row in rows]
            if "P-0005" in ids and not attempts:
                attempts.append(ids)
                PropertyFactory(project=project, external_id="P-0005")
            return create_new(rows)

        pipeline.writer.create_new = create_new_after_a_concurrent_insert
        result = pipeline.run()
    assert attempts == [["P-0004", "P-0005", "P-0006"]]
    assert (result.created, result.skipped, result.rejected) == (5, 1, 0)
    assert result.samples["skip"][0]["external_id"] == "P-0005"
    assert Property.objects.filter(project=project).count() == 6
    assert Property.history.filter(history_change_reason="import test").count() == 5


def test_a_batch_from_the_validator_process_stays_packed_until_its_rows_are_read():
    groups = ('{"address": "1 Chapel St"}', "{}", '{"estimated_value": 1}', "{}", "{}")
    rows = BatchRows([NewRow(2, ["P-1"], "P-1", groups, "copy text 1")])
    rows.append(NewRow(3, ["P-2"], "P-2", groups, None))
    crossed = pickle.loads(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))
    # What the COPY writer reads, without unpacking the rows.
    assert (len(crossed), crossed.prepared()) == (2, ["copy text 1", None])
    assert crossed._packed is not None
    assert list(crossed) == list(rows)
    assert crossed[0].groups()["basic_info"] == {"address": "1 Chapel St"}
    crossed.append(NewRow(4, ["P-3"], "P-3", groups, "copy text 3"))
    assert [row.external_id for row in crossed] == ["P-1", "P-2", "P-3"]


def test_a_file_broken_near_its_end_is_refused_before_a_validator_starts(tenants, settings):
    # A large file is validated in a forked process; its broken last row is found by the
    # structure check before that process starts, so no batch is ever committed.
    settings.IMPORT_BACKGROUND_THRESHOLD_ROWS = 1
    project = ProjectFactory(organization=tenants.owner_org)
    content = csv_bytes(*[valid_row(n) for n in range(1, 10)], 'P-9,"9 Broken Rd,Kew,3101')
    job = import_run(job=new_job(project, content), actor=None)
    assert job.status == Status.FAILED
    assert job.error_summary == (
        "Row 11 (from line 11 of the file): a quoted field is never closed (unterminated "
        "quote); nothing was imported."
    )
    assert job.last_committed_row == 0
    assert not Property.objects.filter(project=project).exists()
    assert not LIVE_VALIDATORS


def test_an_error_in_the_validator_process_reaches_the_parent_in_order():
    def batches():
        yield "first batch"
        raise FileRefused("Row 3: refused in the validator.")

    received = []
    with (
        pytest.raises(FileRefused, match="refused in the validator"),
        prefetched(batches, PROCESS) as validated,
    ):
        received.extend(validated)
    assert received == ["first batch"]
    assert not LIVE_VALIDATORS


# Resume after a killed worker ----------------------------------------------------------------


@pytest.mark.parametrize("crash_after", [1, 2, 3])
def test_resume_after_a_killed_worker_loses_and_doubles_nothing(
    writer, validator, tenants, client, settings, crash_after, django_capture_on_commit_callbacks
):
    project = ProjectFactory(organization=tenants.owner_org)
    job = new_job(project, mixed_file(), actor=tenants.manager)
    with pytest.raises(WorkerKilled), killed_after(crash_after):
        import_run(job=job, actor=tenants.manager)
    job.refresh_from_db()
    assert job.status == Status.IMPORTING
    assert job.last_committed_row == 3 * crash_after
    assert Property.objects.filter(project=project).count() == job.created_count
    assert_consistent(job, project)

    # The worker is silent: the admin's "resume" action re-runs the job as a task.
    settings.IMPORT_STALE_SECONDS = 0
    client.force_login(tenants.manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:imports_importjob_changelist"),
            {"action": "resume_imports", "_selected_action": [job.pk]},
            follow=True,
        )
    assert f"Import {job.pk} resumed." in response.content.decode()
    job.refresh_from_db()
    assert (job.status, job.total_rows, job.created_count, job.rejected_count) == (
        Status.COMPLETED_WITH_ERRORS,
        12,
        10,
        2,
    )
    assert_consistent(job, project)
    report = job.rejected_file.read().decode("utf-8-sig").splitlines()
    assert len(report) == 3  # header + the two rejected rows, each once
    assert "same property id 'P-0001' as row 2" in report[2]


def test_a_live_worker_cannot_be_resumed_and_a_finished_job_neither(tenants):
    project = ProjectFactory(organization=tenants.owner_org)
    job = new_job(project, mixed_file())
    with pytest.raises(WorkerKilled), killed_after(1):
        import_run(job=job, actor=None)
    with pytest.raises(ValidationError, match="its worker is alive"):
        import_resume(job=job, actor=tenants.manager)
    done = import_run(
        job=new_job(ProjectFactory(organization=tenants.owner_org), mixed_file()), actor=None
    )
    with pytest.raises(ValidationError, match="only an interrupted or failed import"):
        import_resume(job=done, actor=tenants.manager)


def test_a_failed_import_resumes_after_its_committed_batches(tenants):
    # A run that fails after 3 committed batches (here an error raised after the third, as a
    # lost database connection would) keeps them and says so; resuming imports the rest,
    # writing nothing twice.
    project = ProjectFactory(organization=tenants.owner_org)
    job = new_job(project, mixed_file())

    def fail_after_third(running, batches):
        if batches == 3:
            raise RuntimeError("the database connection was lost")

    with after_each_batch(fail_after_third):
        job = import_run(job=job, actor=None)
    assert job.status == Status.FAILED and job.last_committed_row == 9
    assert "The 9 rows of committed batches stay imported" in job.error_summary
    assert "connection was lost" not in job.error_summary  # the server log has it
    job = import_resume(job=job, actor=tenants.manager)
    assert job.status == Status.COMPLETED_WITH_ERRORS, job.error_summary
    assert_consistent(job, project)
    assert Property.objects.filter(project=project).count() == job.created_count == 10


# Cancel -------------------------------------------------------------------------------------


def test_cancel_between_batches_keeps_committed_batches(writer, validator, tenants, client):
    project = ProjectFactory(organization=tenants.owner_org)
    job = new_job(project, mixed_file(), actor=tenants.manager)

    def cancel_after_first_batch(running, batches):
        if batches == 1:
            import_cancel(job=ImportJob.objects.get(pk=running.pk), actor=tenants.manager)

    with after_each_batch(cancel_after_first_batch):
        job = import_run(job=job, actor=tenants.manager)
    assert job.status == Status.CANCELLED
    assert (job.total_rows, job.created_count, job.last_committed_row) == (3, 3, 3)
    assert Property.objects.filter(project=project).count() == 3
    assert_consistent(job, project)
    client.force_login(tenants.manager)
    page = client.get(reverse("admin:imports_importjob_change", args=[job.pk])).content.decode()
    assert f"Cancelled by {tenants.manager.username} after 3 rows" in page
    assert "stay imported" in page
    assert 'id="import-cancel"' not in page


def test_cancel_button_on_a_pending_job_and_its_permissions(tenants, client):
    project = ProjectFactory(organization=tenants.owner_org)
    job = new_job(project, mixed_file())
    url = reverse("admin:imports_importjob_cancel", args=[job.pk])
    client.force_login(tenants.member)  # may view imports, not start or stop them
    assert (
        'id="import-cancel"'
        not in client.get(reverse("admin:imports_importjob_change", args=[job.pk])).content.decode()
    )
    assert client.post(url).status_code == 403
    client.force_login(tenants.outsider)
    assert client.post(url).status_code == 404
    client.force_login(tenants.manager)
    page = client.get(reverse("admin:imports_importjob_change", args=[job.pk])).content.decode()
    assert 'id="import-cancel"' in page
    response = client.post(url, follow=True)
    assert f"Cancelled import {job.pk}" in response.content.decode()
    job.refresh_from_db()
    assert job.status == Status.CANCELLED
    with pytest.raises(ValidationError, match="already run"):
        import_run(job=job, actor=None)
    assert not Property.objects.exists()


# Background dispatch and progress ---------------------------------------------------------------


def test_files_above_the_threshold_import_as_a_django_q_task(
    tenants, client, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_BACKGROUND_THRESHOLD_ROWS = 10
    project = ProjectFactory(organization=tenants.owner_org)
    client.force_login(tenants.manager)
    big = new_job(project, mixed_file(), actor=tenants.manager)
    import_preview(job=big, actor=tenants.manager)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = client.post(
            reverse("admin:imports_importjob_confirm", args=[big.pk]), follow=True
        )
    # Queued on commit: the worker starts only once the claim is committed.
    assert len(queued) == 1
    assert "runs in the background" in response.content.decode()
    big.refresh_from_db()
    task = Task.objects.get(name=f"import-{big.pk}")
    assert task.success and task.func == "imports.tasks.import_job_task"
    assert big.options["background"] is True
    assert (big.status, big.created_count, big.expected_rows) == (
        Status.COMPLETED_WITH_ERRORS,
        10,
        12,
    )

    small = new_job(ProjectFactory(organization=tenants.owner_org), csv_bytes(valid_row(1)))
    small = import_run(job=small, actor=tenants.manager, background=None)
    assert small.status == Status.COMPLETED and "background" not in small.options
    assert not Task.objects.filter(name=f"import-{small.pk}").exists()


def test_progress_endpoint_and_bar(tenants, client):
    project = ProjectFactory(organization=tenants.owner_org)
    job = new_job(project, mixed_file())
    with pytest.raises(WorkerKilled), killed_after(2):
        import_run(job=job, actor=None)
    url = reverse("admin:imports_importjob_progress", args=[job.pk])
    client.force_login(tenants.viewer)
    progress = client.get(url).json()
    assert progress["status"] == "importing" and not progress["finished"]
    assert (progress["processed_rows"], progress["expected_rows"]) == (6, 12)
    assert progress["percent"] == 50.0
    assert progress["rows_per_second"] > 0 and progress["eta_seconds"] is not None
    assert (progress["created"], progress["rejected"]) == (5, 1)
    page = client.get(reverse("admin:imports_importjob_change", args=[job.pk])).content.decode()
    assert '<progress id="import-progress-bar" max="100" value="50.0"' in page
    assert url in page and "setTimeout(poll" in page
    client.force_login(tenants.outsider)
    assert client.get(url).status_code == 404


# Two imports into one project -----------------------------------------------------------------


def test_a_second_import_into_a_busy_project_is_refused_with_a_clear_message(tenants):
    project = ProjectFactory(organization=tenants.owner_org)
    first = new_job(project, mixed_file())
    with pytest.raises(WorkerKilled), killed_after(1):
        import_run(job=first, actor=None)
    second = new_job(project, mixed_file())
    with pytest.raises(ValidationError, match=f"Import {first.pk} .* is still running"):
        import_run(job=second, actor=tenants.manager, background=None)
    second.refresh_from_db()
    assert second.status == Status.PENDING
    # Another project is not blocked.
    elsewhere = new_job(ProjectFactory(organization=tenants.owner_org), mixed_file())
    assert import_run(job=elsewhere, actor=None).status == Status.COMPLETED_WITH_ERRORS
    # Once the first is done, the second runs and finds everything there: nothing doubled.
    import_cancel(job=first, actor=None)
    second = import_run(job=second, actor=None)
    assert (second.created_count, second.skipped_count) == (7, 3)
    assert_consistent(second, project)


@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_from_two_threads_never_duplicate(on_postgres, tenants):
    # Real concurrency: the first import runs in a thread (its own connection) and pauses after
    # its first committed batch; meanwhile this thread tries to start a second one.
    project = ProjectFactory(organization=tenants.owner_org)
    first, second = new_job(project, mixed_file()), new_job(project, mixed_file())
    paused, release = threading.Event(), threading.Event()
    outcome = {}

    def hold(running, batches):
        if running.pk == first.pk and batches == 1:
            paused.set()
            release.wait(10)

    def run_first():
        try:
            outcome["first"] = import_run(job=first, actor=None).status
        finally:
            connection.close()

    with after_each_batch(hold):
        thread = threading.Thread(target=run_first)
        thread.start()
        assert paused.wait(10)
        with pytest.raises(ValidationError, match="still running"):
            import_run(job=second, actor=None)
        release.set()
        thread.join(10)
    assert outcome["first"] == Status.COMPLETED_WITH_ERRORS
    second = import_run(job=second, actor=None)
    assert (second.created_count, second.skipped_count) == (0, 10)
    assert Property.objects.filter(project=project).count() == 10


# Bounded memory ------------------------------------------------------------------------------


class CountingReader(TableReader):
    """Yields N generated rows and counts how many were pulled."""

    def __init__(self, count):
        super().__init__()
        self.headers = ["propertyid", "address", "suburb", "postcode"]
        self.count = count
        # Shared memory: a forked validator counts where the test can read it.
        self._pulled = multiprocessing.Value("i", 0)

    @property
    def pulled(self) -> int:
        return self._pulled.value

    def rows(self):
        for n in range(1, self.count + 1):
            with self._pulled.get_lock():
                self._pulled.value += 1
            yield RawRow(n + 1, [f"S-{n}", f"{n} Long Road", "Kew", "3101"])


@pytest.mark.parametrize("prefetch", ["inline", "thread", "process"])
def test_the_pipeline_pulls_rows_batch_by_batch(tenants, prefetch):
    project = ProjectFactory(organization=tenants.owner_org)
    reader = CountingReader(1000)
    pulled_per_batch = []
    import contextlib

    @contextlib.contextmanager
    def scope(result):
        pulled_per_batch.append(reader.pulled)
        yield

    pipeline = ImportPipeline(
        project=project,
        reader=reader,
        writer=OrmBulkWriter(project=project, actor=None, change_reason="test"),
        report=RejectedRowsReport(reader.headers),
        batch_size=50,
        batch_scope=scope,
        prefetch=prefetch,
    )
    result = pipeline.run()
    assert result.created == 1000 and len(pulled_per_batch) == 20
    # When batch k is written, at most the batches the thread or process may hold have been read.
    ahead = 0 if prefetch == "inline" else 3
    for k, pulled in enumerate(pulled_per_batch, start=1):
        assert 50 * k <= pulled <= 50 * (k + ahead) + 1


def test_json_reader_streams_in_chunks(tenants, monkeypatch):
    monkeypatch.setattr("imports.jsonstream.CHUNK_BYTES", 7)
    project = ProjectFactory(organization=tenants.owner_org)
    items = [
        {"propertyid": f"J-{n}", "address": f"{n} Chapel St", "suburb": "Kew", "postcode": 3101}
        for n in range(1, 40)
    ]
    items[5] = "not an object"
    items[6]["extra"] = 12345
    content = json.dumps(items, indent=1).encode()
    job = import_job_create(
        actor=None, project=project, file=io.BytesIO(content), file_name="a.json"
    )
    job = import_run(job=job, actor=None)
    assert (job.created_count, job.rejected_count) == (38, 1)
    broken = content[:-40] + b"}, {oops"
    job = import_job_create(
        actor=None, project=project, file=io.BytesIO(broken), file_name="b.json"
    )
    job = import_run(job=job, actor=None)
    assert job.status == Status.FAILED
    assert "not valid JSON" in job.error_summary and "line" in job.error_summary


def test_both_writers_store_awkward_text_exactly(writer, tenants):
    # COPY's text format gives backslashes, tabs and newlines a meaning: the values must arrive
    # exactly as the ORM stores them.
    project = ProjectFactory(organization=tenants.owner_org)
    header = "propertyid,address,suburb,postcode,description"
    content = csv_bytes(
        'Q\\1,"12 ""Old"" Mill\\Lane",Sainte-Émilie,3101,"C:\\new\\table\tkept, ok"',
        header=header,
    )
    job = import_run(job=new_job(project, content), actor=None)
    assert job.created_count == 1, job.error_summary
    stored = Property.objects.get(project=project)
    assert stored.external_id == "Q\\1"
    assert stored.basic_info == {
        "address": '12 "Old" Mill\\Lane',
        "suburb": "Sainte-Émilie",
        "postcode": "3101",
        "state": "VIC",  # from the postcode: the file has no state column
        "description": "C:\\new\\table\tkept, ok",  # inner blanks kept as written
    }
    assert stored.history.get().basic_info == stored.basic_info


def test_a_large_upload_is_previewed_by_a_task_and_the_page_follows_it(
    tenants, client, settings, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.IMPORT_BACKGROUND_THRESHOLD_ROWS = 10
    project = ProjectFactory(organization=tenants.owner_org)
    client.force_login(tenants.manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:properties_property_import"),
            {
                "project": project.pk,
                "on_duplicate": "skip",
                "import_file": SimpleUploadedFile("big.csv", mixed_file()),
            },
        )
    response = client.get(response["Location"])
    job = ImportJob.objects.get(project=project)
    assert Task.objects.get(name=f"import-preview-{job.pk}").success
    assert (job.status, job.options["background_preview"]) == (Status.PENDING, True)
    assert job.preview["totals"] == {
        "total": 12,
        "new": 10,
        "update": 0,
        "skip": 0,
        "reject": 2,
        "warn": 0,
    }
    assert job.processed_rows == 0 and not Property.objects.exists()
    assert "Confirm import" in response.content.decode()

    # While a worker validates, the page says how far it got and refreshes itself.
    ImportJob.objects.filter(pk=job.pk).update(status=Status.VALIDATING, processed_rows=6)
    page = client.get(reverse("admin:imports_importjob_preview", args=[job.pk])).content.decode()
    assert "<strong>6</strong> of about 12 rows checked" in page
    assert '<meta http-equiv="refresh" content="2">' in page
    assert "Confirm import" not in page


def test_django_q_retry_of_the_task_resumes_and_a_stale_second_worker_writes_nothing(tenants):
    from imports.tasks import import_job_task

    project = ProjectFactory(organization=tenants.owner_org)
    job = new_job(project, mixed_file())
    with pytest.raises(WorkerKilled), killed_after(2):
        import_run(job=job, actor=None)
    # django-q2 re-delivers the unacknowledged task: the same entry point, the same job id.
    assert import_job_task(job.pk) == f"import {job.pk}: {Status.COMPLETED_WITH_ERRORS}"
    assert_consistent(job, project)
    assert Property.objects.filter(project=project).count() == 10

    # A worker whose marker is out of date (another worker committed a batch meanwhile) stops
    # before writing anything more.
    other = new_job(ProjectFactory(organization=tenants.owner_org), mixed_file())
    with pytest.raises(WorkerKilled), killed_after(1):
        import_run(job=other, actor=None)

    def another_worker_commits(running, batches):
        ImportJob.objects.filter(pk=running.pk).update(last_committed_row=9)

    with after_each_batch(another_worker_commits):
        stale = import_job_execute(job=other)
    assert stale.status == Status.IMPORTING and stale.last_committed_row == 9
    assert Property.objects.filter(project=other.project).count() == 5  # rows 1-6, one rejected


def test_the_row_estimate_streams_the_stored_file(tenants):
    from imports.services.jobs import import_rows_estimate

    project = ProjectFactory(organization=tenants.owner_org)
    assert import_rows_estimate(job=new_job(project, mixed_file())) == 12
    items = [{"address": f"{n} Chapel St", "suburb": "Kew", "postcode": "3101"} for n in range(4)]
    minified = import_job_create(
        actor=None,
        project=project,
        file=io.BytesIO(json.dumps(items).encode()),
        file_name="rows.json",
    )
    assert import_rows_estimate(job=minified) == 4
    previewed = import_preview(job=new_job(project, mixed_file()), actor=None)
    assert import_rows_estimate(job=previewed) == previewed.preview["totals"]["total"] == 12


def test_resume_import_command(tenants, settings):
    from django.core.management import CommandError, call_command

    project = ProjectFactory(organization=tenants.owner_org)
    job = new_job(project, mixed_file(), actor=tenants.manager)
    with pytest.raises(WorkerKilled), killed_after(2):
        import_run(job=job, actor=tenants.manager)
    with pytest.raises(CommandError, match="its worker is alive"):
        call_command("resume_import", str(job.pk))
    settings.IMPORT_STALE_SECONDS = 0
    with pytest.raises(CommandError, match=f"No import job with id {job.pk}"):
        call_command("resume_import", str(job.pk), "--user", tenants.outsider.username)
    out = io.StringIO()
    call_command("resume_import", str(job.pk), "--user", tenants.admin.username, stdout=out)
    assert out.getvalue().strip() == (
        f"import={job.pk} status=completed_with_errors total=12 created=10 updated=0 "
        "skipped=0 rejected=2 last_committed_row=12"
    )
    assert_consistent(job, project)
    # History names the job's user, not the one who resumed it.
    assert not Property.history.exclude(history_user=tenants.manager).exists()
    with pytest.raises(CommandError, match="only an interrupted or failed import"):
        call_command("resume_import", str(job.pk))
