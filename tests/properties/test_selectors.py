import pytest
from django.db import connection

from properties import selectors
from properties.models import Project
from tests.factories import ProjectFactory, PropertyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_tenants(tenants):
    own = ProjectFactory(organization=tenants.owner_org)
    other = ProjectFactory(organization=tenants.other_org)
    for value, suburb in [(500000, "Richmond"), (900000, "Fitzroy"), (1500000, "Richmond")]:
        PropertyFactory(
            project=own,
            basic_info={
                "address": f"{value} St",
                "suburb": suburb,
                "state": "VIC",
                "postcode": "3121",
            },
            financial_metrics={"estimated_value": value},
        )
    PropertyFactory(
        project=other,
        basic_info={"address": "x st", "suburb": "Richmond"},
        financial_metrics={"estimated_value": 900000},
    )
    return own, other


def test_property_list_filters_by_suburb_and_value_within_the_organisation(tenants, two_tenants):
    found = selectors.property_list(actor=tenants.viewer, suburb="Richmond")
    assert found.count() == 2
    found = selectors.property_list(actor=tenants.viewer, min_value=600000, max_value=1000000)
    assert [p.financial_metrics["estimated_value"] for p in found] == [900000]


def test_outsider_organisation_sees_nothing_of_the_owner(tenants, two_tenants):
    own, _ = two_tenants
    outsider_rows = selectors.property_list(actor=tenants.outsider, suburb="Richmond")
    assert outsider_rows.count() == 1
    assert not selectors.property_list(actor=tenants.outsider, project=own).exists()
    with pytest.raises(Project.DoesNotExist):
        selectors.project_get(actor=tenants.outsider, project_id=own.pk)
    assert selectors.project_get(actor=tenants.viewer, project_id=own.pk) == own


def test_estimated_value_filter_uses_its_index(tenants, two_tenants, on_postgres):
    from properties.models import Property

    own, _ = two_tenants
    Property.objects.bulk_create(
        Property(
            project=own,
            organization=tenants.owner_org,
            external_id=f"BULK-{n}",
            financial_metrics={"estimated_value": 100_000 + n * 100},
        )
        for n in range(5000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE properties_property")
    queryset = selectors.property_list(
        actor=tenants.viewer, min_value=590_000, max_value=600_000
    ).order_by()
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "property_est_value_idx" in plan, plan


def test_suburb_filter_and_address_search_use_their_indexes(tenants, two_tenants, on_postgres):
    from properties.models import Property

    checks = [
        (
            selectors.property_list(actor=tenants.viewer, suburb="Richmond"),
            "property_suburb_idx",
        ),
        (
            Property.objects.filter(basic_info__address__icontains="chapel"),
            "property_address_trgm_idx",
        ),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for queryset, index in checks:
            sql, params = queryset.order_by().query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert index in plan, plan


def test_newest_first_within_an_organisation_reads_its_index_backwards(
    tenants, two_tenants, on_postgres
):
    from properties.models import Property

    own, other = two_tenants
    # A small tenant beside a large one: walking the whole table newest first would not do.
    Property.objects.bulk_create(
        Property(project=other, organization=tenants.other_org, external_id=f"BULK-{n}")
        for n in range(5000)
    )
    # The changelist's default page: the ascending (organisation, id) index, scanned backwards.
    queryset = selectors.property_list(actor=tenants.viewer).order_by("-id")[:50]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE properties_property")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan Backward using property_org_recent_idx" in plan, plan


def test_zoning_values_are_the_organisations_distinct_zones(tenants):
    own = ProjectFactory(organization=tenants.owner_org)
    other = ProjectFactory(organization=tenants.other_org)
    for zone in ["R2", "GRZ1", "R2", None]:
        PropertyFactory(
            project=own, planning_controls={"zoning": {"primary": zone}} if zone else {}
        )
    PropertyFactory(project=other, planning_controls={"zoning": {"primary": "SECRET"}})
    assert selectors.zoning_values(actor=tenants.viewer) == ["GRZ1", "R2"]
    assert selectors.zoning_values(actor=tenants.outsider) == ["SECRET"]
