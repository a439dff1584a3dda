"""django-q2 entry points: a job id in, one service call."""

from .models import ImportJob
from .services import import_job_execute, import_preview


def import_job_task(job_id: int) -> str:
    # Also the retry after a killed worker: the job resumes after its last committed batch.
    job = ImportJob.objects.select_related("project", "user").get(pk=job_id)
    job = import_job_execute(job=job, actor=job.user)
    return f"import {job.pk}: {job.status}"


def import_preview_task(job_id: int) -> str:
    job = ImportJob.objects.select_related("project", "user").get(pk=job_id)
    job = import_preview(job=job, actor=job.user)
    return f"preview {job.pk}: {job.status}"
