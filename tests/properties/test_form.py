"""The property form: one field per attribute, validated by the import's rules, mapped to and
from the JSON groups; keys it does not show are kept; an outsider reaches none of it."""

import pytest
from django.urls import reverse

from properties.models import Property

pytestmark = pytest.mark.django_db


def form_data(prop, **changes):
    data = {
        "project": prop.project_id,
        "external_id": prop.external_id,
        "status": prop.status,
        "address": "10 Chapel Street",
        "suburb": "Richmond",
        "state": "VIC",
        "postcode": "3121",
        "description": "",
        "zoning": "GRZ1",
        "land_area": "500",
        "estimated_value": "875000",
        "last_sale_price": "",
        "last_sale_date": "",
        "latitude": "-37.82",
        "longitude": "145.0",
        "analyses-TOTAL_FORMS": "0",
        "analyses-INITIAL_FORMS": "0",
    }
    return {**data, **changes}


def change_url(prop):
    return reverse("admin:properties_property_change", args=[prop.pk])


def post(client, prop, **changes):
    return client.post(change_url(prop), form_data(prop, **changes))


def test_the_form_shows_each_attribute_in_its_field_and_the_raw_json_read_only(
    client, tenants, prop
):
    client.force_login(tenants.member)
    page = client.get(change_url(prop)).content.decode()
    assert 'name="address" value="10 Chapel Street"' in page
    assert '<option value="VIC" selected>VIC</option>' in page
    assert 'name="estimated_value" value="875,000"' in page  # money with separators
    assert 'name="latitude" value="-37.82"' in page
    assert 'id="raw-attributes"' in page and "heritage_note" in page
    assert 'name="basic_info"' not in page  # no raw JSON box to type into


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"estimated_value": "-5"}, "estimated_value", "more than 0"),
        ({"latitude": "-95", "longitude": "200"}, "latitude", "outside -90..90"),
        ({"address": "   "}, "address", "required"),
        ({"state": "WA", "postcode": "2612"}, "postcode", "2612 is not a WA postcode"),
        ({"last_sale_date": "31/2/2016"}, "last_sale_date", "is not a date"),
        ({"suburb": "Richm0nd"}, "suburb", "letters"),
    ],
)
def test_a_bad_value_is_refused_beside_its_field_and_nothing_is_saved(
    client, tenants, prop, changes, field, message
):
    client.force_login(tenants.member)
    before = Property.objects.values().get(pk=prop.pk)
    response = post(client, prop, **changes)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(message in error for error in errors[field]), errors
    assert Property.objects.values().get(pk=prop.pk) == before
    assert prop.history.count() == 1


def test_a_good_change_is_mapped_into_the_groups_and_unshown_keys_are_kept(client, tenants, prop):
    client.force_login(tenants.member)
    response = post(
        client,
        prop,
        estimated_value="$910,000",
        zoning="MUZ",
        description="Corner block.\r\nNorth facing.",
        last_sale_price="640000",
        last_sale_date="3/12/2016",
        land_area="",
        suburb="  Richmond   North ",
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    prop.refresh_from_db()
    assert prop.basic_info == {
        "address": "10 Chapel Street",
        "suburb": "Richmond North",
        "state": "VIC",
        "postcode": "3121",
        "description": "Corner block.\nNorth facing.",
        "heritage_note": "kept",
    }
    assert prop.planning_controls == {"zoning": {"primary": "MUZ", "overlay": "HO12"}}
    assert prop.financial_metrics == {
        "estimated_value": 910_000,
        "last_sale_price": 640_000,
        "last_sale_date": "2016-12-03",
        "valuer": "kept too",
    }
    assert prop.environmental_factors == {"flood": "low"}
    assert prop.spatial_attributes["coordinates"]["coordinates"] == [145, -37.82]
    assert prop.history.latest().history_user == tenants.member


def test_a_warning_saves_and_is_said(client, tenants, prop):
    tenants.owner_org.settings = {"value_per_m2_max": 1000}
    tenants.owner_org.save()
    client.force_login(tenants.member)
    response = client.post(change_url(prop), form_data(prop), follow=True)
    text = response.content.decode()
    assert "Saved with a warning: Land area (m²)" in text and "check the land area" in text
    prop.refresh_from_db()
    assert prop.planning_controls["land_area"] == 500


def test_an_outsider_can_neither_open_nor_post_the_form(client, tenants, prop):
    client.force_login(tenants.outsider)
    assert client.get(change_url(prop)).status_code == 404
    assert post(client, prop, estimated_value="1").status_code == 404
    prop.refresh_from_db()
    assert prop.financial_metrics["estimated_value"] == 875_000


def test_a_viewer_cannot_save(client, tenants, prop):
    client.force_login(tenants.viewer)
    post(client, prop, estimated_value="900000")
    prop.refresh_from_db()
    assert prop.financial_metrics["estimated_value"] == 875_000


def test_a_viewer_sees_each_attribute_read_only(client, tenants, prop):
    client.force_login(tenants.viewer)
    response = client.get(change_url(prop))
    assert response.status_code == 200
    page = response.content.decode()
    assert "10 Chapel Street" in page and "875000" in page and "GRZ1" in page
    assert 'name="estimated_value"' not in page
