import pytest
from django.db import connection

from integrity.checks import CHECKS, REGISTRY, live_properties, quality_metrics
from properties.models import Property, PropertyAnalysis
from tests.factories import (
    OrganizationFactory,
    ProjectFactory,
    PropertyAnalysisFactory,
    PropertyFactory,
)

from .conftest import EXPECTED


def test_registry_has_every_check_with_a_severity():
    assert list(REGISTRY) == list(EXPECTED["owner-org"])
    assert {check.severity for check in CHECKS} == {"ERROR", "WARNING"}
    assert REGISTRY["organization_mismatch"].severity == "ERROR"
    assert REGISTRY["stuck_analysis"].severity == "WARNING"


@pytest.mark.parametrize("org_slug", ["owner-org", "other-org"])
@pytest.mark.parametrize("slug", list(EXPECTED["owner-org"]))
def test_each_check_counts_exactly_the_planted_rows_of_its_organisation(
    planted, tenants, org_slug, slug
):
    organization = tenants.owner_org if org_slug == "owner-org" else tenants.other_org
    check = REGISTRY[slug]
    assert check.count(organization) == EXPECTED[org_slug][slug]
    offending = set(check.offending(organization).values_list("pk", flat=True))
    # duplicate_external_id counts external ids; its rows are every property holding one.
    assert offending == planted.offending[org_slug][slug]
    if check.model is Property:
        assert not offending & planted.clean[org_slug]


def test_checks_never_see_another_organisations_rows(planted, tenants):
    for check in CHECKS:
        rows = check.offending(tenants.owner_org)
        foreign = set().union(*planted.offending["other-org"].values())
        assert not set(rows.values_list("pk", flat=True)) & foreign, check.slug


def test_samples_are_at_most_five_newest_offending_rows(planted, tenants):
    check = REGISTRY["invalid_coordinates"]
    samples = check.samples(tenants.owner_org)
    assert len(samples) == 5
    assert [sample["id"] for sample in samples] == sorted(
        planted.offending["owner-org"]["invalid_coordinates"], reverse=True
    )
    analysis_samples = REGISTRY["orphaned_analysis"].samples(tenants.other_org)
    assert [sample["id"] for sample in analysis_samples] == list(
        planted.offending["other-org"]["orphaned_analysis"]
    )
    assert analysis_samples[0]["label"].startswith("Financial #")


def test_a_check_count_is_one_query(planted, tenants, django_assert_num_queries):
    for check in CHECKS:
        with django_assert_num_queries(1):
            check.count(tenants.owner_org)


def test_quality_metrics_measure_completeness_of_live_properties(db):
    organization = OrganizationFactory(slug="metrics-org")
    project = ProjectFactory(organization=organization)
    PropertyFactory(
        project=project, planning_controls={"zoning": {"primary": "R1"}, "land_area": 512}
    )
    PropertyFactory(
        project=project,
        basic_info={"address": " "},
        spatial_attributes={},
        planning_controls={},
        financial_metrics={},
    )
    PropertyFactory(
        project=project,
        spatial_attributes={"coordinates": {"type": "Point", "coordinates": ["x", 1]}},
        planning_controls={"zoning": {"primary": ""}, "land_area": None},
    )
    PropertyFactory(project=project)
    PropertyFactory(project=project, status="deleted", basic_info={})
    metrics = quality_metrics(organization)
    assert metrics["property_count"] == 4
    assert metrics["analysis_count"] == 0
    assert metrics["completeness"] == {
        "address": 0.75,
        "coordinates": 0.5,
        "zoning": 0.5,
        "land_area": 0.25,
        "estimated_value": 0.75,
    }
    assert live_properties(organization).count() == 4
    empty = OrganizationFactory(slug="empty-org")
    assert quality_metrics(empty)["completeness"]["address"] is None


def test_a_property_moved_by_raw_update_is_reported_to_the_organisation_it_claims(planted, tenants):
    stray = Property.objects.get(
        pk=next(iter(planted.offending["owner-org"]["organization_mismatch"]))
    )
    assert stray.organization_id == tenants.owner_org.pk
    assert stray.project.organization_id == tenants.other_org.pk
    assert PropertyAnalysis.objects.filter(organization=tenants.other_org).exists()


def test_an_analysis_whose_property_row_is_gone_is_orphaned(tenants):
    """Foreign keys are deferred on both databases, so inside the test's transaction a raw
    DELETE can leave an analysis pointing nowhere, as a bad restore or manual SQL would."""
    analysis = PropertyAnalysisFactory(property__project__organization=tenants.owner_org)
    check = REGISTRY["orphaned_analysis"]
    assert check.count(tenants.owner_org) == 0
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM properties_property WHERE id = %s", [analysis.property_id])
    assert check.count(tenants.owner_org) == 1
    assert list(check.offending(tenants.owner_org)) == [analysis]
    assert check.count(tenants.other_org) == 0
    # Leave the database consistent for the deferred constraint check at teardown.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM properties_propertyanalysis WHERE id = %s", [analysis.pk])
