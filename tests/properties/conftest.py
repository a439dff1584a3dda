import pytest

from tests.factories import ProjectFactory, PropertyFactory


@pytest.fixture
def prop(tenants):
    """A property of the owner organisation with every group filled, and keys the form does
    not show (kept on save)."""
    project = ProjectFactory(organization=tenants.owner_org)
    return PropertyFactory(
        project=project,
        external_id="P-1",
        basic_info={
            "address": "10 Chapel Street",
            "suburb": "Richmond",
            "state": "VIC",
            "postcode": "3121",
            "heritage_note": "kept",
        },
        planning_controls={"zoning": {"primary": "GRZ1", "overlay": "HO12"}, "land_area": 500},
        financial_metrics={"estimated_value": 875_000, "valuer": "kept too"},
        environmental_factors={"flood": "low"},
        spatial_attributes={"coordinates": {"type": "Point", "coordinates": [145.0, -37.82]}},
    )
