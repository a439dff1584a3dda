"""Migrations run backwards and forwards on a real database with data in it."""

import pytest
from django.db import connection

from tests.factories import latest_migrations, migrate_to

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("properties", "0001_initial"), ("organizations", "0001_initial")]
AFTER = [("properties", "0002_property_analysis")]

# financial_metrics as legacy rows held them, including the shapes the seed's rollback loses.
LEGACY_METRICS = {
    "completed": {
        "estimated_value": 850000,
        "input_parameters": {"discount_rate": 0.065, "years": 10},
        "results": {"npv": 120000, "irr": 0.081},
        "calculated_at": "2024-03-01T10:15:00Z",
    },
    "pending_with_inputs": {
        "estimated_value": 640000,
        "input_parameters": {"discount_rate": 0.07},
    },
    "null_results": {
        "input_parameters": {"discount_rate": 0.05},
        "results": None,
        "calculated_at": "2024-04-02",
    },
    "untouched": {"estimated_value": 910000, "last_sale_price": 700000},
    "empty": {},
}


@pytest.fixture
def legacy_properties():
    """Properties written with the schema of properties 0001, before analyses existed."""
    apps = migrate_to(BEFORE)
    Organization = apps.get_model("organizations", "Organization")
    Project = apps.get_model("properties", "Project")
    Property = apps.get_model("properties", "Property")
    org = Organization.objects.create(name="Legacy", slug="legacy")
    other = Organization.objects.create(name="Other", slug="other")
    project = Project.objects.create(organization=org, name="Legacy project")
    other_project = Project.objects.create(organization=other, name="Other project")
    ids = {}
    for key, metrics in LEGACY_METRICS.items():
        ids[key] = Property.objects.create(
            project=project, organization=org, external_id=key, financial_metrics=metrics
        ).pk
    ids["other"] = Property.objects.create(
        project=other_project,
        organization=other,
        external_id="other",
        financial_metrics=LEGACY_METRICS["pending_with_inputs"],
    ).pk
    yield ids
    migrate_to(latest_migrations())


def test_forward_moves_financial_results_into_one_analysis_per_property(legacy_properties):
    apps = migrate_to(AFTER)
    Property = apps.get_model("properties", "Property")
    PropertyAnalysis = apps.get_model("properties", "PropertyAnalysis")

    completed = PropertyAnalysis.objects.get(property_id=legacy_properties["completed"])
    assert completed.analysis_type == "financial"
    assert completed.status == "completed"
    assert completed.results == {"npv": 120000, "irr": 0.081}
    assert completed.input_parameters == {"discount_rate": 0.065, "years": 10}
    assert completed.completed_at.isoformat() == "2024-03-01T10:15:00+00:00"

    pending = PropertyAnalysis.objects.get(property_id=legacy_properties["pending_with_inputs"])
    assert pending.status == "pending"
    assert pending.input_parameters == {"discount_rate": 0.07}
    assert pending.results is None and pending.completed_at is None

    null_results = PropertyAnalysis.objects.get(property_id=legacy_properties["null_results"])
    assert null_results.status == "pending"

    # Properties without any of the moved keys get no analysis.
    assert not PropertyAnalysis.objects.filter(
        property_id__in=[legacy_properties["untouched"], legacy_properties["empty"]]
    ).exists()
    # The analysis belongs to the property's organisation.
    other = PropertyAnalysis.objects.get(property_id=legacy_properties["other"])
    assert (
        other.organization_id == Property.objects.get(pk=legacy_properties["other"]).organization_id
    )

    # The moved keys are gone from financial_metrics; everything else stays.
    metrics = dict(Property.objects.values_list("external_id", "financial_metrics"))
    assert metrics["completed"] == {"estimated_value": 850000}
    assert metrics["pending_with_inputs"] == {"estimated_value": 640000}
    assert metrics["null_results"] == {}
    assert metrics["untouched"] == LEGACY_METRICS["untouched"]


def test_backward_restores_exactly_what_was_there_pending_analyses_included(legacy_properties):
    migrate_to(AFTER)
    apps = migrate_to(BEFORE)
    Property = apps.get_model("properties", "Property")
    metrics = dict(Property.objects.values_list("external_id", "financial_metrics"))
    for key, original in LEGACY_METRICS.items():
        assert metrics[key] == original, key
    assert metrics["other"] == LEGACY_METRICS["pending_with_inputs"]


def test_backward_carries_edits_made_to_migrated_analyses(legacy_properties):
    apps = migrate_to(AFTER)
    PropertyAnalysis = apps.get_model("properties", "PropertyAnalysis")
    pending = PropertyAnalysis.objects.get(property_id=legacy_properties["pending_with_inputs"])
    pending.results = {"npv": 5}
    pending.save()

    apps = migrate_to(BEFORE)
    Property = apps.get_model("properties", "Property")
    restored = Property.objects.get(pk=legacy_properties["pending_with_inputs"]).financial_metrics
    assert restored == {**LEGACY_METRICS["pending_with_inputs"], "results": {"npv": 5}}


def test_every_app_migrates_to_zero_and_back_up():
    leaves = latest_migrations()
    apps_with_migrations = sorted({app for app, _ in leaves})
    migrate_to([(app, None) for app in apps_with_migrations])
    tables = set(connection.introspection.table_names())
    assert "properties_property" not in tables
    assert "organizations_organization" not in tables

    apps = migrate_to(leaves)
    tables = set(connection.introspection.table_names())
    assert {"properties_property", "properties_propertyanalysis"} <= tables
    Group = apps.get_model("auth", "Group")
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "admin",
        "manager",
        "user",
        "viewer",
    }
