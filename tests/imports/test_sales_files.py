"""Two real-world sales layouts, generated here in their own shape (no downloaded file): the
Kaggle "Melbourne Housing Snapshot" and a Perth sales export. Each imports with only its
in-file duplicates rejected; sale dates and prices land in their keys; extreme prices per m²
are kept and flagged on the land area; an outsider's project is untouched."""

import csv
import io
import random
import re

import pytest

from imports.models import ImportJob, ImportRejectedRow
from imports.services.jobs import import_job_create, import_preview
from properties.models import Property

from .conftest import run_import

MELBOURNE_HEADER = (
    "Suburb,Address,Rooms,Type,Price,Method,SellerG,Date,Distance,Postcode,Bedroom2,Bathroom,"
    "Car,Landsize,BuildingArea,YearBuilt,CouncilArea,Lattitude,Longtitude,Regionname,"
    "Propertycount"
)
PERTH_HEADER = (
    "address,suburb,price,bedrooms,bathrooms,garage,land_area,floor_area,build_year,cbd_dist,"
    "nearest_stn,nearest_stn_dist,date_sold,postcode,latitude,longitude,nearest_sch,"
    "nearest_sch_dist,nearest_sch_rank"
)
MELBOURNE_SUBURBS = [
    ("Abbotsford", "3067", -37.80, 144.99),
    ("Brunswick East", "3057", -37.77, 144.98),
    ("St Kilda", "3182", -37.86, 144.98),
    ("Moonee Ponds", "3039", -37.76, 144.92),
]
STREETS = ["Bloomburg St", "Charles St", "Park St"]
PERTH_SUBURBS = [
    ("South Lake", "6164", -32.11, 115.84),
    ("Wandi", "6167", -32.19, 115.86),
    ("Mundaring", "6073", -31.90, 116.17),
]


def melbourne_rows(count: int, rng: random.Random) -> list[list]:
    rows = []
    for n in range(count):
        suburb, postcode, lat, lng = MELBOURNE_SUBURBS[n % len(MELBOURNE_SUBURBS)]
        unit = n % 5 == 0
        land = rng.choice([0, 0, 120, 134, 202, 650]) if unit else rng.randint(150, 900)
        price = rng.randint(400, 3000) * 1000
        rows.append(
            [
                suburb,
                f"{f'{n % 9 + 1}/' if unit else ''}{n + 1} {rng.choice(STREETS)}",
                rng.randint(1, 5),
                "u" if unit else "h",
                f"{price}.0",
                rng.choice(["S", "SP", "PI", "VB"]),
                rng.choice(["Biggin", "Nelson", "Jellis"]),
                f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/{rng.choice([2016, 2017])}",
                "2.5",
                f"{postcode}.0",
                "2.0",
                "1.0",
                "1.0",
                f"{land}.0",
                "",
                "",
                "Yarra City Council",
                f"{lat + rng.uniform(-0.01, 0.01):.5f}",
                f"{lng + rng.uniform(-0.01, 0.01):.5f}",
                "Northern Metropolitan",
                "4019.0",
            ]
        )
    # The case the issue names: $1,465,000 on 134 m² in Abbotsford, over 10,000 per m².
    rows[0][:5] = ["Abbotsford", "25 Bloomburg St", 2, "h", "1465000.0"]
    rows[0][7], rows[0][9], rows[0][13] = "3/12/2016", "3067.0", "134.0"
    return rows


def perth_rows(count: int, rng: random.Random) -> list[list]:
    rows = []
    for n in range(count):
        suburb, postcode, lat, lng = PERTH_SUBURBS[n % len(PERTH_SUBURBS)]
        acreage = n % 7 == 0
        land = rng.randint(40_000, 200_000) if acreage else rng.randint(300, 900)
        price = rng.randint(250, 1200) * 1000
        sold = (
            f"{rng.randint(1, 12):02d}-{rng.choice([2016, 2018, 2019])}\r"
            if n % 2
            else (f"{rng.choice([2017, 2018])}-{rng.randint(1, 12):02d}-01")
        )
        rows.append(
            [
                f"{n + 1} Acanthus Road",
                suburb,
                price,
                rng.randint(1, 5),
                rng.randint(1, 3),
                "NULL" if n % 4 == 0 else rng.randint(1, 3),
                land,
                rng.randint(80, 300),
                "NULL" if n % 6 == 0 else rng.randint(1960, 2018),
                18300,
                "Cockburn Central Station",
                1800,
                sold,
                postcode,
                f"{lat + rng.uniform(-0.01, 0.01):.6f}",
                f"{lng + rng.uniform(-0.01, 0.01):.6f}",
                "LAKELAND SENIOR HIGH SCHOOL",
                "0.828339",
                "NULL",
            ]
        )
    # An acreage sale under $10 per m², the other case.
    rows[0][2], rows[0][6] = 565000, 81000
    return rows


def as_csv(header: str, rows: list[list], duplicates: list[int], *, crlf=False) -> bytes:
    out = io.StringIO()
    # Windows line ends quote a field that holds a carriage return (Perth's `"09-2018\r"`).
    writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    for index in duplicates:  # the same sale listed twice, as real exports do
        writer.writerow(rows[index])
    return out.getvalue().encode()


@pytest.mark.parametrize("writer", ["orm", "copy"])
def test_melbourne_snapshot_imports_with_only_in_file_duplicates_rejected(
    writer, project, other_project, tenants, settings, django_db_setup
):
    from django.db import connection

    if writer == "copy" and connection.vendor != "postgresql":
        pytest.skip("the COPY writer is PostgreSQL's")
    settings.IMPORT_WRITER = writer
    rows = melbourne_rows(300, random.Random(11))
    content = as_csv(MELBOURNE_HEADER, rows, duplicates=[5, 17, 200])
    job = run_import(project, content, name="melb_data.csv", actor=tenants.manager)

    assert job.status == ImportJob.Status.COMPLETED_WITH_ERRORS, job.error_summary
    assert (job.total_rows, job.created_count, job.rejected_count) == (303, 300, 3)
    rejected = ImportRejectedRow.objects.filter(job=job).exclude(errors=[])
    assert [r.number for r in rejected] == [302, 303, 304]
    assert all("same address, suburb and postcode as row" in r.errors[0] for r in rejected)

    abbotsford = Property.objects.get(project=project, basic_info__address="25 Bloomburg St")
    assert abbotsford.basic_info["postcode"] == "3067" and abbotsford.basic_info["state"] == "VIC"
    assert abbotsford.financial_metrics == {
        "last_sale_price": 1_465_000,
        "last_sale_date": "2016-12-03",
    }
    assert abbotsford.planning_controls == {"land_area": 134}
    expected_warned = sum(
        1 for row in rows if float(row[13]) and not 10 <= float(row[4]) / float(row[13]) <= 10_000
    )
    assert expected_warned >= 1
    assert job.warned_count == expected_warned
    flagged = ImportRejectedRow.objects.filter(job=job, errors=[])
    assert flagged.count() == expected_warned
    first = flagged.order_by("number").first()
    assert first.number == 2 and first.warnings[0].startswith("landarea: 1,465,000 on 134 m²")
    assert not Property.objects.filter(project=other_project).exists()


def test_melbourne_preview_says_which_column_went_where_and_shows_the_warnings(
    project, tenants, client
):
    from django.urls import reverse

    rows = melbourne_rows(300, random.Random(11))
    job = import_job_create(
        actor=tenants.manager,
        project=project,
        file=io.BytesIO(as_csv(MELBOURNE_HEADER, rows, duplicates=[5])),
        file_name="melb_data.csv",
    )
    job = import_preview(job=job, actor=tenants.manager)
    mapped = job.preview["columns"]["mapped"]
    assert mapped["lastsaleprice"] == "Price" and mapped["lastsaledate"] == "Date"
    assert mapped["landarea"] == "Landsize" and "estimatedvalue" not in mapped
    assert job.preview["totals"]["reject"] == 1 and job.preview["totals"]["warn"] >= 1
    client.force_login(tenants.manager)
    page = client.get(reverse("admin:imports_importjob_preview", args=[job.pk])).content.decode()
    # The file's columns in file order, each with where it went.
    columns = [
        (header, stored_at)
        for header, stored_at in re.findall(
            r'<tr class="column-\w+"><td>([^<]+)</td>\s*<td>(?:→ <code>([^<]+)</code>|<span)',
            page,
        )
    ]
    assert [header for header, _ in columns] == MELBOURNE_HEADER.split(",")
    stored = dict(columns)
    assert stored["Price"] == "financial_metrics.last_sale_price"
    assert stored["Date"] == "financial_metrics.last_sale_date"
    assert stored["Landsize"] == "planning_controls.land_area"
    assert stored["Lattitude"] == "spatial_attributes.coordinates (latitude)"
    assert stored["SellerG"] == ""  # ignored
    assert "ignored (not imported)" in page
    assert 'id="warned-rows"' in page and "check the land area" in page
    assert not Property.objects.exists()

    client.force_login(tenants.outsider)
    assert client.get(reverse("admin:imports_importjob_preview", args=[job.pk])).status_code == 404


def test_perth_sales_export_imports_with_only_in_file_duplicates_rejected(project, tenants):
    rows = perth_rows(300, random.Random(12))
    content = as_csv(PERTH_HEADER, rows, duplicates=[3, 150], crlf=True)
    assert b'"09-2018\r"' in content or b'-2018\r"' in content
    job = run_import(project, content, name="all_perth_310121.csv", actor=tenants.manager)

    assert (job.total_rows, job.created_count, job.rejected_count) == (302, 300, 2), (
        job.error_summary
    )
    acreage = Property.objects.get(project=project, basic_info__address="1 Acanthus Road")
    assert acreage.basic_info["state"] == "WA"
    assert acreage.planning_controls == {"land_area": 81000}
    assert acreage.financial_metrics["last_sale_price"] == 565000
    dates = set(
        Property.objects.filter(project=project).values_list(
            "financial_metrics__last_sale_date", flat=True
        )
    )
    assert all(len(d) in (7, 10) and d[:2] == "20" for d in dates)  # 2018-09 or 2018-09-01
    assert "2018-09" in {d[:7] for d in dates}
    assert job.warned_count >= 1
    flagged = ImportRejectedRow.objects.filter(job=job, errors=[]).order_by("number").first()
    assert flagged.number == 2 and "check the land area" in flagged.warnings[0]


def test_line_breaks_of_a_quoted_description_survive_import_export_and_reimport(
    project, other_project, tenants
):
    from properties.exports import property_export
    from tests.factories import ProjectFactory

    content = (
        b"address,suburb,postcode,description,date,price\n"
        b'"  12   Chapel St ",Richmond,3121,"  Corner block.\r\nNorth facing:\n\n  - garden  ",'
        b"3/12/2016,900000\n"
    )
    job = run_import(project, content, actor=tenants.manager)
    assert job.created_count == 1, job.error_summary
    stored = Property.objects.get(project=project)
    description = "Corner block.\nNorth facing:\n\n  - garden"
    assert stored.basic_info["description"] == description
    assert stored.basic_info["address"] == "12 Chapel St"

    exported = property_export(actor=tenants.manager, project=project, file_format="csv")
    again = ProjectFactory(organization=tenants.owner_org)
    job = run_import(again, exported.encode(), actor=tenants.manager)
    assert job.created_count == 1, job.error_summary
    copy = Property.objects.get(project=again)
    assert copy.basic_info["description"] == description
    assert copy.financial_metrics == {"last_sale_price": 900000, "last_sale_date": "2016-12-03"}
    assert not Property.objects.filter(project=other_project).exists()
