"""Property-based tests: whatever bytes arrive, no server error and no row lost from the counts."""

import io
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imports.columns import KNOWN_COLUMNS
from imports.models import ImportJob
from imports.readers import FileRefused, open_table
from imports.rules import is_blank, validate_row
from imports.services.jobs import import_job_create, import_run
from properties.models import Property
from tests.factories import ProjectFactory

HEADER = b"propertyid,address,suburb,postcode,state,price,landsize,lat,lng\n"
FIELD = st.text(alphabet=string.printable + "éü'\"", max_size=20)
CSV_ROW = st.lists(FIELD, min_size=0, max_size=11).map(
    lambda cells: ",".join(cells).replace("\n", " ").replace("\r", " ")
)
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _data_rows(content: bytes, name: str) -> int | None:
    """The non-blank rows a reader yields, or None when it refuses the file."""
    try:
        reader = open_table(io.BytesIO(content), name)
        return sum(1 for raw in reader.rows() if raw.problem or not is_blank(raw.values))
    except FileRefused:
        return None


def _check_job(project, content: bytes, name: str):
    job = import_job_create(actor=None, project=project, file=io.BytesIO(content), file_name=name)
    job = import_run(job=job, actor=None)
    assert job.status in {
        ImportJob.Status.COMPLETED,
        ImportJob.Status.COMPLETED_WITH_ERRORS,
        ImportJob.Status.FAILED,
    }
    assert job.total_rows == (
        job.created_count + job.updated_count + job.skipped_count + job.rejected_count
    )
    expected = _data_rows(content, name)
    if expected is None or job.error_summary.startswith("The file is missing"):
        assert job.status == ImportJob.Status.FAILED and job.error_summary
        assert job.total_rows == 0
    else:
        assert job.total_rows == expected
    assert Property.objects.filter(project=project).count() >= job.created_count
    return job


@SETTINGS
@given(content=st.binary(max_size=400), name=st.sampled_from(["a.csv", "a.json", "a.xlsx", "a"]))
def test_arbitrary_bytes_never_raise_and_never_lose_a_row(db, content, name):
    project = ProjectFactory()
    _check_job(project, content, name)


@SETTINGS
@given(rows=st.lists(CSV_ROW, max_size=12), bom=st.booleans())
def test_arbitrary_csv_rows_under_a_real_header_are_all_counted(db, rows, bom):
    project = ProjectFactory()
    content = (b"\xef\xbb\xbf" if bom else b"") + HEADER + "\n".join(rows).encode()
    job = _check_job(project, content, "rows.csv")
    stored = Property.objects.filter(project=project).count()
    assert stored == job.created_count


@settings(max_examples=200, deadline=None)
@given(
    cells=st.dictionaries(
        st.sampled_from(sorted(KNOWN_COLUMNS)),
        st.one_of(st.none(), st.text(max_size=30), st.floats(), st.integers(), st.booleans()),
    )
)
def test_validate_row_returns_a_row_or_errors_never_raises(cells):
    valid, errors = validate_row(cells, row=2)
    assert (valid is None) == bool(errors)
    if valid is not None:
        value = valid.groups.get("financial_metrics", {}).get("estimated_value")
        assert value is None or 0 < value < 50_000_000
        assert len(valid.groups["basic_info"]["postcode"]) == 4


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(content=st.binary(min_size=1, max_size=300), name=st.sampled_from(["a.csv", "a.json"]))
def test_arbitrary_uploads_through_the_admin_never_give_a_server_error(
    client, tenants, content, name
):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    project = ProjectFactory(organization=tenants.owner_org)
    client.force_login(tenants.manager)
    response = client.post(
        reverse("admin:properties_property_import"),
        {
            "project": project.pk,
            "on_duplicate": "skip",
            "import_file": SimpleUploadedFile(name, content),
        },
    )
    assert response.status_code == 302
    preview = client.get(response["Location"])
    assert preview.status_code == 200
    job = ImportJob.objects.filter(project=project).get()
    if job.status == ImportJob.Status.PENDING:
        totals = job.preview["totals"]
        assert (
            totals["total"] == totals["new"] + totals["update"] + totals["skip"] + totals["reject"]
        )
        confirmed = client.post(reverse("admin:imports_importjob_confirm", args=[job.pk]))
        assert confirmed.status_code == 302
        job.refresh_from_db()
        assert job.total_rows == totals["total"]
    else:
        assert job.status == ImportJob.Status.FAILED and job.error_summary
