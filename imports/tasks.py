"""django-q2 entry points (a job id in, one service call) and the only place the imports app
queues work: `enqueue_*` queue on commit, so a worker never starts before the job row it loads
is committed, nor after a rollback."""

from django.db import transaction
from django_q.tasks import async_task

from .models import ImportJob
from .services import jobs


def enqueue_import(job: ImportJob) -> None:
    """Run the claimed job's import in a worker once the current transaction commits."""
    job_id = job.pk
    transaction.on_commit(
        lambda: async_task("imports.tasks.import_job_task", job_id, task_name=f"import-{job_id}")
    )


def enqueue_import_preview(job: ImportJob) -> None:
    """Preview the job's file in a worker once the current transaction commits."""
    job_id = job.pk
    transaction.on_commit(
        lambda: async_task(
            "imports.tasks.import_preview_task", job_id, task_name=f"import-preview-{job_id}"
        )
    )


def import_job_task(job_id: int) -> str:
    # Also the retry after a killed worker: the job resumes after its last committed batch.
    job = ImportJob.objects.select_related("project", "user").get(pk=job_id)
    job = jobs.import_job_execute(job=job)
    return f"import {job.pk}: {job.status}"


def import_preview_task(job_id: int) -> str:
    job = ImportJob.objects.select_related("project", "user").get(pk=job_id)
    job = jobs.import_preview(job=job, actor=job.user)
    return f"preview {job.pk}: {job.status}"
