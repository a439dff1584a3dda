import contextlib
import io

import pytest

from imports.pipeline import ImportPipeline, RejectedRowsReport
from imports.readers import open_table
from imports.services import execution
from imports.services.jobs import import_job_create, import_run
from tests.factories import ProjectFactory, PropertyFactory

HEADER = "propertyid,address,suburb,postcode,state,estimated value,land area,coordinates"


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def valid_row(n: int, **overrides) -> str:
    values = {
        "propertyid": f"P-{n:04d}",
        "address": f"{n} Chapel Street",
        "suburb": "Richmond",
        "postcode": "3121",
        "state": "VIC",
        "value": str(800_000 + n),
        "land": "400",
        "coordinates": '"-37.82,144.99"',
    }
    values.update(overrides)
    return ",".join(values.values())


def new_job(project, content: bytes, *, actor=None, batch_size=3, name="sales.csv", **options):
    """A job of `content` not yet run, committing every `batch_size` rows."""
    return import_job_create(
        actor=actor,
        project=project,
        file=io.BytesIO(content),
        file_name=name,
        batch_size=batch_size,
        **options,
    )


def run_import(project, content: bytes, *, name="properties.csv", actor=None, **options):
    job = import_job_create(
        actor=actor, project=project, file=io.BytesIO(content), file_name=name, **options
    )
    return import_run(job=job, actor=actor)


@contextlib.contextmanager
def pipeline_for(job, writer_class, **options):
    """The pipeline of `job`'s file into its project through `writer_class`, built by hand (not
    by the services) so a test can reach into its parts; history says "import test"."""
    project = job.project
    with job.source_file.open("rb") as source:
        reader = open_table(source, "a.csv")
        yield ImportPipeline(
            project=project,
            reader=reader,
            writer=writer_class(project=project, actor=None, change_reason="import test"),
            report=RejectedRowsReport(reader.headers),
            **options,
        )


def stored_meanwhile(pipeline, external_id: str) -> None:
    """Someone else stores `external_id` in the pipeline's project just before its writer
    creates a batch (after the batch was classified)."""
    create = pipeline.writer.create

    def create_after_a_concurrent_insert(properties):
        PropertyFactory(project=pipeline.project, external_id=external_id)
        return create(properties)

    pipeline.writer.create = create_after_a_concurrent_insert


@pytest.fixture
def project(tenants):
    return ProjectFactory(organization=tenants.owner_org, name="Inner Melbourne")


@pytest.fixture
def other_project(tenants):
    return ProjectFactory(organization=tenants.other_org, name="Elsewhere")


class WorkerKilled(BaseException):
    """Stands for a worker killed mid-file. A BaseException, so no handler marks the job failed:
    like a real kill, the job is left 'importing'."""


@contextlib.contextmanager
def after_each_batch(hook):
    """Calls `hook(job, batches)` after each batch a run commits, through the services' one
    test seam (`execution.batch_committed`), until the block ends."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(execution, "batch_committed", hook)
        yield


def killed_after(batches: int):
    """A block in which a run's worker is killed once it has committed `batches` batches."""

    def kill(job, committed):
        if committed >= batches:
            raise WorkerKilled(f"simulated kill after {committed} batches")

    return after_each_batch(kill)
