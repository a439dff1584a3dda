"""Flow 2: a user edits a property; a manager reads the change, old and new value, in its
history; roles below manager are not offered the history."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from properties.models import Property

from .conftest import open_from_index
from .property_form import field_error, fill_property_form, save_property_form


def change_url(prop) -> str:
    return reverse("admin:properties_property_change", args=[prop.pk])


def test_user_edit_is_saved_and_shown_with_old_and_new_value_in_the_managers_history(
    estate, log_in_as, snapshot
):
    prop = estate.properties[0]
    assert prop.financial_metrics["estimated_value"] == 875_000

    page = log_in_as(estate.user)
    open_from_index(page, "property", "Properties")
    page.get_by_role("link", name="10 Chapel Street").click()
    expect(page.locator("#content > h2")).to_contain_text("10 Chapel Street")
    fill_property_form(page, {"state": "WA", "postcode": "2612"})
    save_property_form(page)
    expect(field_error(page, "postcode")).to_contain_text("2612 is not a WA postcode")
    prop.refresh_from_db()
    assert prop.basic_info["postcode"] != "2612" and prop.history.count() == 1
    snapshot(page, "property-form-error", max_height=2600)

    fill_property_form(page, {"state": "VIC", "postcode": prop.basic_info["postcode"]})
    fill_property_form(page, {"estimated_value": 910_000, "zoning": "MUZ"})
    save_property_form(page)
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")

    prop.refresh_from_db()
    assert prop.financial_metrics["estimated_value"] == 910_000
    assert prop.planning_controls["zoning"]["primary"] == "MUZ"
    assert prop.basic_info["address"] == "10 Chapel Street"  # keys not typed are kept
    edit = prop.history.latest()
    assert edit.history_type == "~" and edit.history_user == estate.user
    assert edit.history_change_reason == "edited in admin"

    manager = log_in_as(estate.manager)
    manager.goto(change_url(prop))
    manager.get_by_role("link", name="History").click()
    changes = manager.locator("#change-history")
    expect(changes).to_contain_text("financial_metrics.estimated_value")
    expect(changes).to_contain_text("$875,000")
    expect(changes).to_contain_text("$910,000")
    expect(changes).to_contain_text("planning_controls.zoning.primary")
    expect(changes).to_contain_text("edited in admin")
    expect(changes).not_to_contain_text("None")
    snapshot(manager, "property-history")


@pytest.mark.parametrize("role", ["viewer", "user"])
def test_roles_below_manager_are_not_shown_a_history_button(estate, log_in_as, role):
    prop = estate.properties[0]
    page = log_in_as(getattr(estate, role))
    page.goto(change_url(prop))
    expect(page.locator("#content > h2")).to_contain_text("10 Chapel Street")
    history = reverse("admin:properties_property_history", args=[prop.pk])
    assert page.locator(f"a[href='{history}']").count() == 0
    assert not Property.history.filter(history_user=getattr(estate, role)).exists()
