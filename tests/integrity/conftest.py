"""Two organisations with planted defects, different per organisation, so that every check's
count proves both what it finds and that it never counts the other organisation's rows."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from properties.models import Property
from tests.factories import ProjectFactory, PropertyAnalysisFactory, PropertyFactory

#: Exact counts per check for each organisation of the `planted` fixture.
EXPECTED = {
    "owner-org": {
        "missing_address": 4,
        "invalid_coordinates": 5,
        "unrealistic_value": 3,
        "value_per_area": 2,
        "orphaned_analysis": 2,
        "duplicate_external_id": 2,
        "postcode_out_of_state_range": 4,
        "stuck_analysis": 2,
        "organization_mismatch": 1,
    },
    "other-org": {
        "missing_address": 1,
        "invalid_coordinates": 2,
        "unrealistic_value": 1,
        "value_per_area": 1,
        "orphaned_analysis": 1,
        "duplicate_external_id": 1,
        "postcode_out_of_state_range": 1,
        "stuck_analysis": 1,
        "organization_mismatch": 1,
    },
}


def _address(n):
    return {"address": f"{n} Test St", "suburb": "Richmond", "state": "VIC", "postcode": "3121"}


def _point(lng, lat):
    return {"coordinates": {"type": "Point", "coordinates": [lng, lat]}}


class Planted:
    """Ids of the planted rows per organisation slug and check slug."""

    def __init__(self):
        self.offending: dict[str, dict[str, set[int]]] = {
            slug: {check: set() for check in checks} for slug, checks in EXPECTED.items()
        }
        self.clean: dict[str, set[int]] = {slug: set() for slug in EXPECTED}

    def add(self, org_slug, check, row):
        self.offending[org_slug][check].add(row.pk)
        return row


def plant(tenants) -> Planted:
    planted = Planted()
    a, b = tenants.owner_org, tenants.other_org
    a1, a2 = ProjectFactory(organization=a), ProjectFactory(organization=a)
    b1, b2 = ProjectFactory(organization=b), ProjectFactory(organization=b)
    now = timezone.now()

    for project in (a1, a1, a2, b1):
        planted.clean[project.organization.slug].add(PropertyFactory(project=project).pk)

    # missing_address: absent, null, empty, blank; plus one in the other organisation.
    for basic_info in (
        {"suburb": "Richmond", "state": "VIC", "postcode": "3121"},
        {"address": None, "state": "VIC", "postcode": "3121"},
        {"address": "", "state": "VIC", "postcode": "3121"},
        {"address": "   ", "state": "VIC", "postcode": "3121"},
    ):
        planted.add(
            "owner-org", "missing_address", PropertyFactory(project=a1, basic_info=basic_info)
        )
    planted.add(
        "other-org",
        "missing_address",
        PropertyFactory(project=b1, basic_info={"state": "WA", "postcode": "6000"}),
    )

    # invalid_coordinates; a property without coordinates, or with null, is not invalid.
    for spatial in (
        _point(144.9, 95),
        _point(-200, -37.8),
        _point("144.9", -37.8),
        {"coordinates": {"type": "Point", "coordinates": [144.9]}},
        {"coordinates": "144.9,-37.8"},
    ):
        planted.add(
            "owner-org",
            "invalid_coordinates",
            PropertyFactory(project=a2, spatial_attributes=spatial),
        )
    for spatial in ({}, {"coordinates": None}, _point(180, -90), _point(-180, 90)):
        planted.clean["owner-org"].add(PropertyFactory(project=a2, spatial_attributes=spatial).pk)
    for spatial in (_point(115.8, -91), _point(True, -31.9)):
        planted.add(
            "other-org",
            "invalid_coordinates",
            PropertyFactory(project=b1, spatial_attributes=spatial),
        )

    # unrealistic_value: the bounds themselves are realistic.
    for value in (999, 50_000_001, 0):
        planted.add(
            "owner-org",
            "unrealistic_value",
            PropertyFactory(project=a1, financial_metrics={"estimated_value": value}),
        )
    for metrics in ({"estimated_value": 1000}, {"estimated_value": 50_000_000}, {}):
        planted.clean["owner-org"].add(PropertyFactory(project=a1, financial_metrics=metrics).pk)
    planted.add(
        "other-org",
        "unrealistic_value",
        PropertyFactory(project=b2, financial_metrics={"estimated_value": 60_000_000.5}),
    )

    # value_per_area: the import's warning, with its default bounds (10..10,000 per m²): an
    # Abbotsford unit's $1.465M on 134 m², and an acreage sale (no valuation) under $10 per m².
    for land_area, metrics in (
        (134, {"estimated_value": 1_465_000}),
        (400_000, {"last_sale_price": 1_200_000}),
    ):
        planted.add(
            "owner-org",
            "value_per_area",
            PropertyFactory(
                project=a1, planning_controls={"land_area": land_area}, financial_metrics=metrics
            ),
        )
    for planning, metrics in (
        ({"land_area": 0}, {"estimated_value": 900_000}),  # 0: unknown, skipped
        ({"land_area": "134"}, {"estimated_value": 1_465_000}),  # not a number: not this check
        ({"land_area": 100}, {"estimated_value": 1_000_000}),  # the bound itself
        ({"land_area": 600}, {"last_sale_price": "lots"}),
    ):
        planted.clean["owner-org"].add(
            PropertyFactory(project=a1, planning_controls=planning, financial_metrics=metrics).pk
        )
    planted.add(
        "other-org",
        "value_per_area",
        PropertyFactory(
            project=b2,
            planning_controls={"land_area": 50_000},
            financial_metrics={"estimated_value": 400_000},
        ),
    )

    # orphaned_analysis: analyses of soft-deleted properties; the deleted property itself is
    # not looked at by the property checks (its address is missing on purpose).
    deleted_a = PropertyFactory(project=a1, basic_info={}, status="deleted")
    deleted_b = PropertyFactory(project=b1, basic_info={}, status="deleted")
    for _ in range(2):
        planted.add("owner-org", "orphaned_analysis", PropertyAnalysisFactory(property=deleted_a))
    planted.add("other-org", "orphaned_analysis", PropertyAnalysisFactory(property=deleted_b))
    PropertyAnalysisFactory(property=Property.objects.get(pk=min(planted.clean["owner-org"])))

    # duplicate_external_id: counted per external id, across projects, within the organisation.
    for external_id in ("DUP-1", "DUP-2"):
        for project in (a1, a2):
            planted.add(
                "owner-org",
                "duplicate_external_id",
                PropertyFactory(project=project, external_id=external_id),
            )
    for project in (b1, b2):
        planted.add(
            "other-org",
            "duplicate_external_id",
            PropertyFactory(project=project, external_id="DUP-1"),
        )
    # The same id in both organisations, or on a soft-deleted property, is no duplicate.
    planted.clean["owner-org"].add(PropertyFactory(project=a1, external_id="SHARED-1").pk)
    planted.clean["other-org"].add(PropertyFactory(project=b1, external_id="SHARED-1").pk)
    planted.clean["owner-org"].add(PropertyFactory(project=a1, external_id="ONCE-1").pk)
    PropertyFactory(project=a2, external_id="ONCE-1", status="deleted")

    # postcode_out_of_state_range, with range edges on both sides.
    for state, postcode in (("NSW", "3000"), ("VIC", "30"), ("QLD", "abcd"), ("ACT", "2619")):
        info = {**_address(state + postcode), "state": state, "postcode": postcode}
        planted.add(
            "owner-org", "postcode_out_of_state_range", PropertyFactory(project=a2, basic_info=info)
        )
    for state, postcode in (("ACT", "2600"), ("NSW", "2619"), ("NT", "0800"), ("TAS", "7999")):
        info = {**_address(state + postcode), "state": state, "postcode": postcode}
        planted.clean["owner-org"].add(PropertyFactory(project=a2, basic_info=info).pk)
    info = {**_address("WA5000"), "state": "WA", "postcode": "5000"}
    planted.add(
        "other-org", "postcode_out_of_state_range", PropertyFactory(project=b2, basic_info=info)
    )

    # stuck_analysis: running for more than a day, by started_at or (not started) created_at.
    live_a = Property.objects.get(pk=min(planted.clean["owner-org"]))
    live_b = Property.objects.get(pk=min(planted.clean["other-org"]))
    running = "running"
    planted.add(
        "owner-org",
        "stuck_analysis",
        PropertyAnalysisFactory(
            property=live_a, status=running, started_at=now - timedelta(days=2)
        ),
    )
    planted.add(
        "owner-org",
        "stuck_analysis",
        PropertyAnalysisFactory(
            property=live_a, status=running, created_at=now - timedelta(days=3)
        ),
    )
    PropertyAnalysisFactory(property=live_a, status=running, started_at=now - timedelta(hours=1))
    PropertyAnalysisFactory(property=live_a, status="completed", started_at=now - timedelta(days=5))
    planted.add(
        "other-org",
        "stuck_analysis",
        PropertyAnalysisFactory(
            property=live_b, status=running, started_at=now - timedelta(days=30)
        ),
    )

    # organization_mismatch: rows that bypassed Property.save() (raw SQL, a bad restore).
    # PostgreSQL's (project, organisation) key refuses them; it is dropped for the test's own
    # transaction, whose rollback puts it back, to plant what SQLite or a restore of an older
    # database could still hold.
    if connection.vendor == "postgresql":
        assert connection.in_atomic_block, "the key must come back with the rollback"
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks: ALTER may run
            cursor.execute(
                "ALTER TABLE properties_property DROP CONSTRAINT property_project_in_organization"
            )
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    strays = [PropertyFactory(project=b2), PropertyFactory(project=a2)]
    Property.objects.filter(pk=strays[0].pk).update(organization=a)
    Property.objects.filter(pk=strays[1].pk).update(organization=b)
    planted.add("owner-org", "organization_mismatch", strays[0])
    planted.add("other-org", "organization_mismatch", strays[1])
    return planted


@pytest.fixture
def planted(tenants):
    return plant(tenants)
