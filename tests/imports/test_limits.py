"""Hostile import files: values that cannot be stored are rejected rows the preview counts,
oversize uploads and zip bombs are refused before they are read, and nothing is stored."""

import io
import json
import zipfile

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.urls import reverse

from imports.models import ImportJob
from imports.services.jobs import import_job_create, import_preview
from properties.models import Property

from .conftest import csv_bytes, run_import, valid_row

pytestmark = pytest.mark.django_db


def _json_file(*items) -> bytes:
    return json.dumps(list(items), ensure_ascii=True).encode()


def _huge_item_file(characters: int) -> bytes:
    """A list whose second item holds a description of `characters` characters."""
    return _json_file(_item(1), _item(2, description="x" * characters), _item(3))


def _item(n: int, **overrides) -> dict:
    item = {"propertyid": f"J-{n}", "address": f"{n} Chapel Street", "suburb": "Richmond",
            "postcode": "3121", "state": "VIC"}  # fmt: skip
    item.update(overrides)
    return item


@pytest.mark.parametrize(
    ("content", "name"),
    [
        # After the first 64 KB, where the format sniffer no longer looks.
        (
            csv_bytes(
                *(valid_row(n) for n in range(2, 1000)), valid_row(1, address="1 Nul\x00 St")
            ),
            "nul.csv",
        ),
        (_json_file(_item(1), _item(2, address="1 Nul\u0000 St")), "nul.json"),
        (
            b'[{"propertyid": "J-1", "address": "1 Chapel Street", "suburb": "Richmond", '
            b'"postcode": "3121", "state": "VIC"}, {"propertyid": "J-2", "address": "\\ud800 St", '
            b'"suburb": "Richmond", "postcode": "3121", "state": "VIC"}]',
            "surrogate.json",
        ),
        (
            _json_file(_item(1), _item(2, **{"estimated value": 10**5000 // 10**4000})),
            "digits.json",
        ),
        (csv_bytes(valid_row(1), valid_row(2, address="x" * 20_000)), "long.csv"),
        # Python refuses to convert more than 4,300 digits: the parser keeps them as text.
        (
            b'[{"propertyid": "J-1", "address": "1 Chapel Street", "suburb": "Richmond", '
            b'"postcode": "3121", "state": "VIC", "land area": '
            + b"9" * 5000
            + b"}, "
            + _json_file(_item(2))[1:],
            "5000-digits.json",
        ),
        (
            b'[{"propertyid": "J-1", "address": "1 Chapel Street", "suburb": "Richmond", '
            b'"postcode": "3121", "state": "VIC", "estimated value": NaN}, '
            + _json_file(_item(2))[1:],
            "nan.json",
        ),
        (_json_file(_item(1), _item(2, **{"land area": 1e308 * 10})), "infinity.json"),
    ],
)
def test_unstorable_values_are_rejected_rows_counted_by_the_preview(project, content, name):
    job = import_job_create(actor=None, project=project, file=io.BytesIO(content), file_name=name)
    job = import_preview(job=job, actor=None)
    totals = job.preview.get("totals", {})
    assert totals.get("reject") == 1, (job.status, job.error_summary)
    valid = totals["new"]

    job = run_import(project, content, name=name)

    assert job.status == ImportJob.Status.COMPLETED_WITH_ERRORS, job.error_summary
    assert (job.created_count, job.rejected_count) == (valid, 1)
    assert Property.objects.filter(project=project).count() == valid


def test_an_upload_over_the_size_limit_is_refused_and_not_stored(project, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000
    content = csv_bytes(*(valid_row(n) for n in range(1, 40)))

    with pytest.raises(ValidationError, match=r"IMPORT_MAX_UPLOAD_BYTES \(1,000 bytes\)"):
        import_job_create(actor=None, project=project, file=io.BytesIO(content), file_name="a.csv")

    assert not ImportJob.objects.exists()


class CountingHandler(FileUploadHandler):
    """Stands after the size limit and counts the bytes that reach Django's own handlers."""

    passed = 0

    def receive_data_chunk(self, raw_data, start):
        CountingHandler.passed += len(raw_data)
        return raw_data

    def file_complete(self, file_size):
        return None


def test_an_oversize_upload_through_the_admin_is_dropped_as_it_arrives(
    client, tenants, project, settings, tmp_path
):
    # Past the limit the upload handler drops the file while it arrives (imports/uploads.py):
    # the handlers that would spool it see no more than the limit, what they spooled is
    # deleted, and the file's field says why.
    settings.IMPORT_MAX_UPLOAD_BYTES = 100_000
    settings.FILE_UPLOAD_HANDLERS = [
        "imports.uploads.UploadSizeLimit",
        f"{__name__}.CountingHandler",
        "django.core.files.uploadhandler.TemporaryFileUploadHandler",
    ]
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    CountingHandler.passed = 0
    content = csv_bytes(*(valid_row(n) for n in range(1, 5000)))
    assert len(content) > 3 * 100_000
    client.force_login(tenants.manager)

    response = client.post(
        reverse("admin:properties_property_import"),
        {"project": project.pk, "on_duplicate": "skip",
         "import_file": SimpleUploadedFile("big.csv", content)},
    )  # fmt: skip

    assert response.status_code == 200
    assert response.context["form"].errors["import_file"] == [
        "The file is larger than IMPORT_MAX_UPLOAD_BYTES (100,000 bytes); nothing was stored."
    ]
    assert 0 < CountingHandler.passed <= 100_000
    assert not ImportJob.objects.exists()
    assert list(tmp_path.iterdir()) == []

    # Under the limit the same form takes the file.
    settings.IMPORT_MAX_UPLOAD_BYTES = len(content) + 1
    accepted = client.post(
        reverse("admin:properties_property_import"),
        {"project": project.pk, "on_duplicate": "skip",
         "import_file": SimpleUploadedFile("big.csv", content)},
    )  # fmt: skip
    assert accepted.status_code == 302
    assert ImportJob.objects.get().file_name == "big.csv"


def _xlsx_bomb(path, *, member_bytes: int) -> None:
    """A workbook whose shared-strings part expands `member_bytes` of one repeated byte."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("[Content_Types].xml", "<Types/>")
        with bomb.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            block = b"A" * (1024 * 1024)
            for _ in range(member_bytes // len(block)):
                part.write(block)


def test_an_xlsx_bomb_is_refused_before_it_is_decompressed(project, tmp_path, settings):
    settings.XLSX_MAX_MEMBER_BYTES = 8 * 1024 * 1024  # a small limit keeps the bomb small
    path = tmp_path / "bomb.xlsx"
    _xlsx_bomb(path, member_bytes=16 * 1024 * 1024)

    job = run_import(project, path.read_bytes(), name="bomb.xlsx")

    assert job.status == ImportJob.Status.FAILED
    assert "XLSX_MAX_MEMBER_BYTES (8388608)" in job.error_summary
    assert not Property.objects.exists()


def test_an_xlsx_part_that_expands_too_far_is_refused(project, tmp_path):
    path = tmp_path / "ratio.xlsx"
    _xlsx_bomb(path, member_bytes=4 * 1024 * 1024)  # about 1,000:1

    job = run_import(project, path.read_bytes(), name="ratio.xlsx")

    assert job.status == ImportJob.Status.FAILED
    assert "XLSX_MAX_COMPRESSION_RATIO (100)" in job.error_summary
    assert not Property.objects.exists()


def test_an_outsider_cannot_start_an_import_into_the_project(project, tenants):
    with pytest.raises(PermissionDenied):
        import_job_create(
            actor=tenants.outsider, project=project, file=io.BytesIO(b"x"), file_name="a.csv"
        )
    assert not ImportJob.objects.exists()


def test_one_json_item_over_the_item_limit_is_refused_naming_it(project, settings):
    settings.INPUT_MAX_JSON_ITEM_BYTES = 64 * 1024
    content = _huge_item_file(3 * 1024 * 1024)

    job = run_import(project, content, name="huge-item.json")

    assert job.status == ImportJob.Status.FAILED
    assert (
        "item 2 of the list is larger than INPUT_MAX_JSON_ITEM_BYTES (65,536" in job.error_summary
    )
    assert "line 1" in job.error_summary
    assert not Property.objects.exists()


def test_a_large_file_of_one_json_item_previews_in_a_task_not_in_the_request(
    client, tenants, project, settings, run_on_commit
):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    settings.IMPORT_BACKGROUND_THRESHOLD_BYTES = 1024 * 1024
    content = json.dumps([_item(1, description="x" * 2 * 1024 * 1024)]).encode()
    client.force_login(tenants.manager)
    form = {
        "project": project.pk,
        "on_duplicate": "skip",
        "import_file": SimpleUploadedFile("one-item.json", content),
    }

    with run_on_commit() as queued:
        client.post(reverse("admin:properties_property_import"), form)
        job = ImportJob.objects.get()
        assert job.status == ImportJob.Status.VALIDATING  # the request only queued it
        assert job.options["background_preview"] is True

    assert len(queued) == 1
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert "INPUT_MAX_JSON_ITEM_BYTES" in job.error_summary
    assert not Property.objects.exists()


def test_a_zip_of_zeros_uploaded_as_an_import_is_refused_before_it_is_decompressed(
    project, tmp_path
):
    path = tmp_path / "zeros.zip"
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(16):
            member.write(bytes(1024 * 1024))

    job = run_import(project, path.read_bytes(), name="zeros.zip")

    assert job.status == ImportJob.Status.FAILED
    assert "part zeros.bin expands" in job.error_summary
    assert "XLSX_MAX_COMPRESSION_RATIO (100)" in job.error_summary
    assert not Property.objects.exists()


def test_shared_strings_over_their_limit_are_refused(project, tmp_path, settings):
    settings.XLSX_MAX_SHARED_STRINGS_BYTES = 1024 * 1024
    path = tmp_path / "strings.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        # Random-looking text: within the compression ratio, over the shared-strings limit.
        book.writestr(
            "xl/sharedStrings.xml",
            "".join(f"<si><t>{n * 7919 % 1000003:x}</t></si>" for n in range(200_000)),
        )

    job = run_import(project, path.read_bytes(), name="strings.xlsx")

    assert job.status == ImportJob.Status.FAILED
    assert "XLSX_MAX_SHARED_STRINGS_BYTES (1,048,576)" in job.error_summary
    assert not Property.objects.exists()


def _xlsx_with_header(tmp_path, header: str) -> bytes:
    """A workbook whose third header cell is `header` (XML cannot hold a NUL at all)."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["propertyid", "address", "PLACEHOLDER", "postcode", "state"])
    sheet.append(["X-1", "1 Chapel Street", "Richmond", "3121", "VIC"])
    path = tmp_path / "header.xlsx"
    workbook.save(path)
    source = zipfile.ZipFile(path)
    rewritten = io.BytesIO()
    with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info).replace(b"PLACEHOLDER", header.encode())
            target.writestr(info.filename, data)
    return rewritten.getvalue()


@pytest.mark.parametrize(
    ("make", "name", "sentence"),
    [
        (
            lambda tmp_path: _json_file(_item(1), _item(2, **{"note\u0000": "x"})),
            "nul-key.json",
            "Item 2 of the list: key 6 holds a NUL character",
        ),
        (
            lambda tmp_path: _json_file(_item(1, **{"note\ud800": "x"}), _item(2)),
            "surrogate-key.json",
            "Item 1 of the list: key 6 holds a lone surrogate",
        ),
        (
            lambda tmp_path: _xlsx_with_header(tmp_path, "s" * 20_000),
            "long-header.xlsx",
            "Row 1: the header's column 3 is longer than INPUT_MAX_FIELD_LENGTH",
        ),
        (
            lambda tmp_path: csv_bytes(valid_row(1)).replace(b"suburb", b"s" * 20_000, 1),
            "long-header.csv",
            "Row 1: the header's column 3 is longer than INPUT_MAX_FIELD_LENGTH",
        ),
    ],
)
def test_a_column_name_that_cannot_be_stored_refuses_the_file(
    project, tmp_path, make, name, sentence
):
    content = make(tmp_path)
    job = import_job_create(actor=None, project=project, file=io.BytesIO(content), file_name=name)
    job = import_preview(job=job, actor=None)
    assert job.status == ImportJob.Status.FAILED
    assert sentence in job.error_summary and "nothing was imported" in job.error_summary
    job.refresh_from_db()
    assert job.preview.get("columns") in (None, {}, [])

    job = run_import(project, content, name=name)

    assert job.status == ImportJob.Status.FAILED
    assert sentence in job.error_summary
    assert not Property.objects.exists()
