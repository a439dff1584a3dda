"""Every history row says why it was written (issue 11, item 7): admin edits, adds, deletes
(cascades included) and reverts name the admin; writes outside a request name a command or
task; rows written before reasons were kept are shown as such, not rewritten."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from organizations.change_reasons import NOT_RECORDED
from properties.demo import DEMO_CHANGE_REASON
from properties.models import Property, PropertyAnalysis
from tests.factories import PropertyAnalysisFactory

from .test_form import form_data

pytestmark = pytest.mark.django_db


def reasons(model, pk) -> list[str]:
    return list(
        model.history.filter(id=pk)
        .order_by("history_id")
        .values_list("history_change_reason", flat=True)
    )


def test_a_row_written_outside_a_request_names_a_command_or_task(prop):
    assert reasons(Property, prop.pk) == ["added by a command or task"]
    prop.status = "archived"
    prop.save()
    assert reasons(Property, prop.pk)[-1] == "changed by a command or task"


def test_an_edit_in_the_admin_says_so(client, tenants, prop):
    client.force_login(tenants.member)
    response = client.post(
        reverse("admin:properties_property_change", args=[prop.pk]),
        form_data(prop, estimated_value="900,000"),
    )
    assert response.status_code == 302
    prop.refresh_from_db()
    assert prop.financial_metrics["estimated_value"] == 900_000
    assert reasons(Property, prop.pk)[-1] == "edited in admin"


def test_an_add_and_a_delete_in_the_admin_say_so_and_so_do_their_cascades(client, tenants, prop):
    analysis = PropertyAnalysisFactory(property=prop)
    client.force_login(tenants.manager)
    response = client.post(
        reverse("admin:properties_property_delete", args=[prop.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Property.objects.filter(pk=prop.pk).exists()
    assert reasons(Property, prop.pk)[-1] == "deleted in admin"
    # The analysis went with it (a cascade): its history row says where too.
    assert reasons(PropertyAnalysis, analysis.pk)[-1] == "deleted in admin"

    data = form_data(prop, external_id="NEW-1", address="5 Swan Street")
    response = client.post(reverse("admin:properties_property_add"), data)
    assert response.status_code == 302, response.content.decode()[:1500]
    added = Property.objects.get(external_id="NEW-1")
    assert reasons(Property, added.pk) == ["added in admin"]


def test_a_revert_names_the_version_it_went_back_to(client, tenants, prop):
    original = prop.history.get()
    client.force_login(tenants.member)
    client.post(
        reverse("admin:properties_property_change", args=[prop.pk]),
        form_data(prop, estimated_value="900000"),
    )
    client.force_login(tenants.manager)
    url = reverse("admin:properties_property_simple_history", args=[prop.pk, original.history_id])
    form = client.get(url).context["adminform"].form
    data = {
        name: ("" if form[name].value() is None else form[name].value()) for name in form.fields
    }
    data.update({"analyses-TOTAL_FORMS": "0", "analyses-INITIAL_FORMS": "0"})
    assert client.post(url, data).status_code == 302
    latest = reasons(Property, prop.pk)[-1]
    assert latest.startswith("reverted in admin to the version of ")
    assert len(latest) <= 100


def test_the_history_page_shows_every_reason_as_a_sentence(client, tenants, prop):
    # A row from before reasons were kept, and one without a user (a command's).
    prop.history.update(history_change_reason=None, history_user=None)
    client.force_login(tenants.manager)
    page = client.get(reverse("admin:properties_property_history", args=[prop.pk])).content
    page = page.decode()
    assert NOT_RECORDED in page and "a command or task" in page
    assert "<td>\n          None\n        </td>" not in page
    assert ">None<" not in page
    client.force_login(tenants.outsider)
    url = reverse("admin:properties_property_history", args=[prop.pk])
    assert client.get(url).status_code in (403, 404)


def test_demo_rows_name_the_demo():
    call_command("seed_demo", "--properties", "3", stdout=io.StringIO())
    seeded = Property.history.filter(external_id__startswith="DEMO-")
    assert set(seeded.values_list("history_change_reason", flat=True)) == {DEMO_CHANGE_REASON}
