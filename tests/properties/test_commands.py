import io

import pytest
from django.core.management import call_command

from organizations.models import Organization, Profile
from properties.models import Property, PropertyAnalysis

pytestmark = pytest.mark.django_db

# (state, postcode range) pairs and rough state bounding boxes (lat, lng) for sanity checks.
STATE_BOXES = {
    "VIC": ((-39.2, -33.9), (140.9, 150.0)),
    "NSW": ((-37.6, -28.1), (140.9, 153.7)),
    "QLD": ((-29.2, -10.6), (137.9, 153.6)),
    "SA": ((-38.1, -25.9), (129.0, 141.0)),
    "WA": ((-35.2, -13.7), (112.9, 129.0)),
    "TAS": ((-43.7, -39.5), (143.8, 148.5)),
    "NT": ((-26.0, -10.9), (129.0, 138.0)),
    "ACT": ((-35.95, -35.1), (148.7, 149.4)),
}


def _run(*args):
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_seed_demo_creates_two_organisations_with_a_login_per_role():
    output = _run("--properties", "60")
    assert Organization.objects.count() == 2
    for org in Organization.objects.all():
        roles = set(Profile.objects.filter(organization=org).values_list("role", flat=True))
        assert roles == {"admin", "manager", "user", "viewer"}
        assert Property.objects.filter(organization=org).count() == 60
        assert org.projects.count() >= 2
    assert output.count("login org=") == 8
    assert "password=" in output
    assert "properties_created=120" in output
    assert PropertyAnalysis.objects.exists()


def test_seed_demo_properties_are_realistic():
    _run("--properties", "40")
    for prop in Property.objects.all():
        info = prop.basic_info
        assert info["state"] in STATE_BOXES
        assert len(info["postcode"]) == 4 and info["postcode"].isdigit()
        lng, lat = prop.spatial_attributes["coordinates"]["coordinates"]
        (lat_min, lat_max), (lng_min, lng_max) = STATE_BOXES[info["state"]]
        assert lat_min <= lat <= lat_max and lng_min <= lng <= lng_max, info
        assert isinstance(prop.financial_metrics["estimated_value"], int)
        # A project's properties lie in the states its description names.
        assert info["state"] in prop.project.description
        assert prop.history.count() == 1


def test_seed_demo_twice_changes_nothing():
    _run("--properties", "30")
    counts = (Property.objects.count(), Property.history.count(), PropertyAnalysis.objects.count())
    output = _run("--properties", "30")
    assert "properties_created=0" in output and "analyses_created=0" in output
    assert (
        Property.objects.count(),
        Property.history.count(),
        PropertyAnalysis.objects.count(),
    ) == counts


def test_seed_demo_if_empty_leaves_existing_data_alone(tenants):
    output = _run("--if-empty")
    assert "skipped=existing-data" in output
    assert not Property.objects.exists()


def test_demo_organisations_do_not_see_each_other(client):
    _run("--properties", "10")
    harbour_manager = Profile.objects.get(user__username="harbour-manager").user
    client.force_login(harbour_manager)
    page = client.get("/admin/properties/property/").content.decode()
    assert "Victorian Portfolio" in page and "Sydney &amp; Canberra Growth" in page
    assert "Queensland" not in page and "Western &amp; Southern Holdings" not in page
