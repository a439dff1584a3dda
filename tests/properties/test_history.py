"""Audit history: who changed what, per key inside the JSON groups, for managers only."""

import pytest
from django.urls import reverse

from properties.history import json_key_changes
from tests.factories import ProjectFactory, PropertyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def edited_property(tenants, client):
    project = ProjectFactory(organization=tenants.owner_org)
    prop = PropertyFactory(
        project=project,
        financial_metrics={"estimated_value": 800000, "last_sale_price": 700000},
        planning_controls={"zoning": {"primary": "GRZ1"}, "land_area": 500},
    )
    # Edit through the admin so the history middleware records the acting user.
    client.force_login(tenants.member)
    response = client.post(
        reverse("admin:properties_property_change", args=[prop.pk]),
        {
            "project": project.pk,
            "external_id": prop.external_id,
            "status": "active",
            "address": "1 Chapel St",
            "suburb": "Richmond",
            "state": "VIC",
            "postcode": "3121",
            "zoning": "NRZ1",
            "land_area": "500",
            "estimated_value": "850000",
            "last_sale_price": "700000",
            "analyses-TOTAL_FORMS": "0",
            "analyses-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    client.logout()
    return prop


def test_json_key_changes_lists_each_changed_key():
    changes = json_key_changes(
        "financial_metrics",
        {"estimated_value": 800000, "same": 1, "gone": "x"},
        {"estimated_value": 850000, "same": 1, "added": {"deep": True}},
    )
    as_tuples = [(change["field"], change["old"], change["new"]) for change in changes]
    assert as_tuples[1:] == [
        ("financial_metrics.estimated_value", 800000, 850000),
        ("financial_metrics.gone", "x", as_tuples[0][1]),
    ]
    assert as_tuples[0][0] == "financial_metrics.added.deep" and as_tuples[0][2] is True


def test_edit_records_the_acting_user(edited_property, tenants):
    latest = edited_property.history.first()
    assert latest.history_type == "~"
    assert latest.history_user == tenants.member


def test_history_page_shows_per_key_changes_to_a_manager(client, tenants, edited_property):
    client.force_login(tenants.manager)
    response = client.get(reverse("admin:properties_property_history", args=[edited_property.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "financial_metrics.estimated_value:</strong>" in page
    assert "$800,000" in page and "$850,000" in page  # money as the admin shows it
    assert "planning_controls.zoning.primary:</strong>" in page
    # Unchanged keys and the always-changing timestamp are not listed as changes.
    assert "financial_metrics.last_sale_price" not in page
    assert "planning_controls.land_area" not in page
    assert "Updated at" not in page
    assert tenants.member.username in page


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_users_and_viewers_cannot_see_history(client, tenants, edited_property, role):
    client.force_login(getattr(tenants, role))
    url = reverse("admin:properties_property_history", args=[edited_property.pk])
    assert client.get(url).status_code == 403


def test_outsider_cannot_see_history_or_a_version(client, tenants, edited_property):
    client.force_login(tenants.outsider)
    url = reverse("admin:properties_property_history", args=[edited_property.pk])
    assert client.get(url).status_code == 404
    version = edited_property.history.last()
    version_url = reverse(
        "admin:properties_property_simple_history",
        args=[edited_property.pk, version.history_id],
    )
    assert client.get(version_url).status_code == 404


def test_outsider_cannot_see_history_of_a_deleted_property(client, tenants, edited_property):
    pk = edited_property.pk
    edited_property.analyses.all().delete()
    edited_property.delete()
    client.force_login(tenants.outsider)
    assert client.get(reverse("admin:properties_property_history", args=[pk])).status_code == 404
    client.force_login(tenants.manager)
    assert client.get(reverse("admin:properties_property_history", args=[pk])).status_code == 200


def test_manager_reverts_to_an_earlier_version(client, tenants, edited_property):
    original = edited_property.history.last()
    client.force_login(tenants.manager)
    url = reverse(
        "admin:properties_property_simple_history",
        args=[edited_property.pk, original.history_id],
    )
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.update({"analyses-TOTAL_FORMS": "0", "analyses-INITIAL_FORMS": "0"})
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    edited_property.refresh_from_db()
    assert edited_property.financial_metrics["estimated_value"] == 800000
    assert edited_property.history.first().history_user == tenants.manager
