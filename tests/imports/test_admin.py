import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from imports.models import ImportJob
from imports.services.jobs import import_job_create, import_preview
from properties.models import Property
from tests.factories import PropertyFactory

from .conftest import csv_bytes, run_import, valid_row

IMPORT_URL = reverse("admin:properties_property_import")


def upload(client, project, content, name="properties.csv", on_duplicate="skip"):
    return client.post(
        IMPORT_URL,
        {
            "project": project.pk,
            "on_duplicate": on_duplicate,
            "import_file": SimpleUploadedFile(name, content),
        },
    )


def text_of(response) -> str:
    return response.content.decode()


def test_full_flow_upload_preview_confirm_with_rejected_rows_and_download(client, tenants, project):
    PropertyFactory(project=project, external_id="P-0002")
    content = csv_bytes(
        *[row + ",4" for row in (valid_row(1), valid_row(2), valid_row(3, postcode="31"))],
        header="propertyid,address,suburb,postcode,state,price,landsize,coordinates,Rooms",
    )
    client.force_login(tenants.manager)
    changelist = client.get(reverse("admin:properties_property_changelist"))
    assert IMPORT_URL in text_of(changelist)
    assert reverse("admin:properties_property_export") in text_of(changelist)

    response = upload(client, project, content)
    job = ImportJob.objects.get()
    preview_url = reverse("admin:imports_importjob_preview", args=[job.pk])
    assert response.status_code == 302 and response["Location"] == preview_url
    assert job.status == ImportJob.Status.PENDING and job.user == tenants.manager
    assert Property.objects.count() == 1  # nothing written by the preview

    page = text_of(client.get(preview_url))
    assert '<td class="new">1</td>' in page
    assert '<td class="skip">1</td>' in page
    assert '<td class="reject">1</td>' in page
    assert "Ignored columns (not imported): Rooms" in page
    assert 'id="sample-new"' in page and "P-0001" in page
    assert 'id="sample-skip"' in page and "already exists" in page
    assert "postcode: must be exactly 4 digits, got &#x27;31&#x27;" in page
    assert 'id="import-confirm"' in page

    response = client.post(reverse("admin:imports_importjob_confirm", args=[job.pk]))
    job.refresh_from_db()
    assert response["Location"] == reverse("admin:imports_importjob_change", args=[job.pk])
    assert job.status == ImportJob.Status.COMPLETED_WITH_ERRORS
    assert (job.created_count, job.skipped_count, job.rejected_count) == (1, 1, 1)
    assert Property.objects.filter(external_id="P-0001").exists()

    job_page = text_of(client.get(response["Location"], follow=True))
    assert "1 created, 0 updated, 1 skipped, 1 rejected" in job_page
    download_url = reverse("admin:imports_importjob_rejected", args=[job.pk])
    assert download_url in job_page

    download = client.get(download_url)
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig"))))
    assert rows[0][-3:] == ["row", "errors", "warnings"]
    assert rows[1][0] == "P-0003" and rows[1][-3] == "4"

    again = client.post(reverse("admin:imports_importjob_confirm", args=[job.pk]), follow=True)
    assert "has already run" in text_of(again)
    assert Property.objects.count() == 2


def test_preview_paginates_every_rejected_row(client, tenants, project):
    rows = [valid_row(n, postcode="1") for n in range(1, 121)] + [valid_row(500)]
    job = import_job_create(
        actor=tenants.manager, project=project, file=io.BytesIO(csv_bytes(*rows))
    )
    import_preview(job=job, actor=tenants.manager)
    client.force_login(tenants.manager)
    url = reverse("admin:imports_importjob_preview", args=[job.pk])
    first = text_of(client.get(url))
    assert "Page 1 of 3" in first and "<td>2</td>" in first and "<td>52</td>" not in first
    third = text_of(client.get(url, {"page": 3}))
    assert "<td>121</td>" in third and "<td>2</td>" not in third
    assert "P-0500" in first  # the valid row is a sample of the new ones


def test_refused_file_shows_the_reason_on_the_preview(client, tenants, project):
    client.force_login(tenants.manager)
    upload(client, project, b"address,postcode\n1 Chapel St,3121\n")
    job = ImportJob.objects.get()
    page = text_of(client.get(reverse("admin:imports_importjob_preview", args=[job.pk])))
    assert "missing the required column: suburb" in page
    assert 'id="import-confirm"' not in page
    assert job.status == ImportJob.Status.FAILED


def test_project_choices_are_the_users_organisation_only(client, tenants, project, other_project):
    client.force_login(tenants.manager)
    form = text_of(client.get(IMPORT_URL))
    assert project.name in form and other_project.name not in form
    response = upload(client, other_project, csv_bytes(valid_row(1)))
    assert response.status_code == 200
    assert "Select a valid choice" in text_of(response)
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_import_needs_the_import_permission(client, tenants, project, role):
    client.force_login(getattr(tenants, role))
    assert IMPORT_URL not in text_of(client.get(reverse("admin:properties_property_changelist")))
    assert client.get(IMPORT_URL).status_code == 403
    assert upload(client, project, csv_bytes(valid_row(1))).status_code == 403
    assert not ImportJob.objects.exists()


def test_viewer_sees_jobs_but_cannot_confirm(client, tenants, project):
    job = import_job_create(
        actor=tenants.manager, project=project, file=io.BytesIO(csv_bytes(valid_row(1)))
    )
    import_preview(job=job, actor=tenants.manager)
    client.force_login(tenants.viewer)
    page = text_of(client.get(reverse("admin:imports_importjob_preview", args=[job.pk])))
    assert 'id="import-confirm"' not in page
    response = client.post(reverse("admin:imports_importjob_confirm", args=[job.pk]))
    assert response.status_code == 403
    assert not Property.objects.exists()


def test_outsider_sees_no_job_and_gets_404_everywhere(client, tenants, project):
    job = run_import(project, csv_bytes(valid_row(1), valid_row(2, postcode="1")))
    pending = import_job_create(
        actor=None, project=project, file=io.BytesIO(csv_bytes(valid_row(3)))
    )
    client.force_login(tenants.outsider)
    listing = client.get(reverse("admin:imports_importjob_changelist"))
    assert listing.status_code == 200 and job.file_name not in text_of(listing)
    for name in ("change", "preview", "rejected"):
        url = reverse(f"admin:imports_importjob_{name}", args=[job.pk])
        assert client.get(url).status_code == 404, name
    confirm = client.post(reverse("admin:imports_importjob_confirm", args=[pending.pk]))
    assert confirm.status_code == 404
    pending.refresh_from_db()
    assert pending.status == ImportJob.Status.PENDING


def test_owner_lists_own_jobs_read_only(client, tenants, project, other_project):
    run_import(project, csv_bytes(valid_row(1)), name="mine.csv")
    run_import(other_project, csv_bytes(valid_row(1)), name="theirs.csv")
    client.force_login(tenants.member)
    listing = text_of(client.get(reverse("admin:imports_importjob_changelist")))
    assert "mine.csv" in listing and "theirs.csv" not in listing
    assert client.get(reverse("admin:imports_importjob_add")).status_code == 403
    job = ImportJob.objects.get(file_name="mine.csv")
    change = client.post(reverse("admin:imports_importjob_change", args=[job.pk]), {})
    assert change.status_code == 403
    assert client.get(reverse("admin:imports_importjob_rejected", args=[job.pk])).status_code == 404


def export(client, file_format: int):
    # The export form's format indexes: 0 csv, 1 xlsx, 2 json.
    return client.post(
        reverse("admin:properties_property_export"),
        {
            "format": file_format,
            "resource": 0,
            **{
                f"propertyexportresource_{name}": "on"
                for name in ("external_id", "address", "estimated_value", "latitude", "status")
            },
        },
    )


def test_admin_export_is_scoped_and_neutralises_formulas(client, tenants, project, other_project):
    PropertyFactory(
        project=project,
        external_id="=HYPERLINK(1)",
        basic_info={"address": "+1 Evil Rd", "suburb": "Kew", "postcode": "3101"},
        spatial_attributes={"coordinates": {"type": "Point", "coordinates": [144.9, -37.8]}},
    )
    PropertyFactory(project=project, external_id="@SUM", basic_info={"address": "-cmd"})
    PropertyFactory(project=other_project, external_id="THEIRS")
    client.force_login(tenants.manager)
    response = export(client, 0)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {row["external_id"] for row in rows} == {"'=HYPERLINK(1)", "'@SUM"}
    evil = next(row for row in rows if row["external_id"] == "'=HYPERLINK(1)")
    assert evil["address"] == "'+1 Evil Rd"
    assert evil["latitude"] == "-37.8"  # numbers are not formulas
    data = json.loads(export(client, 2).content)
    assert {row["external_id"] for row in data} == {"'=HYPERLINK(1)", "'@SUM"}
    assert next(r for r in data if r["address"] == "'-cmd")["estimated_value"] == 850000


def test_export_needs_the_export_permission(client, tenants, project):
    PropertyFactory(project=project)
    client.force_login(tenants.member)
    assert export(client, 0).status_code == 403


def test_confirming_a_refused_preview_is_explained(client, tenants, project):
    client.force_login(tenants.manager)
    upload(client, project, b"just one line\n")
    job = ImportJob.objects.get()
    response = client.post(reverse("admin:imports_importjob_confirm", args=[job.pk]), follow=True)
    assert "was refused at the preview" in text_of(response)
    assert not Property.objects.exists()


def test_superuser_sees_every_organisations_jobs(client, project, other_project):
    from tests.factories import UserFactory

    root = UserFactory(username="root", is_superuser=True)
    run_import(project, csv_bytes(valid_row(1)), name="mine.csv")
    job = run_import(other_project, csv_bytes(valid_row(1), valid_row(2, postcode="1")))
    client.force_login(root)
    listing = text_of(client.get(reverse("admin:imports_importjob_changelist")))
    assert "mine.csv" in listing and job.file_name in listing
    assert client.get(reverse("admin:imports_importjob_change", args=[job.pk])).status_code == 200
    assert client.get(reverse("admin:imports_importjob_rejected", args=[job.pk])).status_code == 200
