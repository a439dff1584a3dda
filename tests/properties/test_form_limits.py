"""The property form under hostile JSON: every value that cannot be stored is a field error in
words, and the property is unchanged."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from properties.models import Property
from tests.factories import PropertyFactory

pytestmark = pytest.mark.django_db

HOSTILE_JSON = {
    "nul": '{"address": "1 Nul\\u0000 St"}',
    "overflow": '{"land_area": 1e400}',
    "nan": '{"land_area": NaN}',
    "digits": '{"land_area": ' + "9" * 5000 + "}",
    "deep": '{"a": ' + "[" * 5000 + "]" * 5000 + "}",
    "surrogate": '{"address": "\\ud800 St"}',
    "list": '["1 Chapel St"]',
    "nul_key": '{"addr\\u0000ess": "1 Chapel St"}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_JSON))
def test_the_json_form_field_refuses_in_words(name):
    field = Property._meta.get_field("basic_info").formfield()

    with pytest.raises(ValidationError) as refusal:
        field.clean(HOSTILE_JSON[name])

    message = " ".join(refusal.value.messages)
    assert "Error" not in message and "Exceeds the limit" not in message, message


def test_the_property_admin_form_answers_hostile_json_without_a_server_error(client, tenants):
    owned = PropertyFactory(project__organization=tenants.owner_org)
    before = Property.objects.filter(pk=owned.pk).values().get()
    client.force_login(tenants.manager)
    client.raise_request_exception = False
    url = reverse("admin:properties_property_change", args=[owned.pk])

    for name, value in HOSTILE_JSON.items():
        form = {
            "project": owned.project_id,
            "external_id": owned.external_id,
            "status": owned.status,
            "basic_info": value,
            "planning_controls": "{}",
            "environmental_factors": "{}",
            "financial_metrics": "{}",
            "spatial_attributes": "{}",
            "analyses-TOTAL_FORMS": "0",
            "analyses-INITIAL_FORMS": "0",
        }
        response = client.post(url, form)
        assert response.status_code == 200, (name, response.status_code)
        assert "errornote" in response.content.decode(), name

    assert Property.objects.filter(pk=owned.pk).values().get() == before
    client.force_login(tenants.outsider)
    assert client.post(url, {"basic_info": "{}"}).status_code in (302, 403, 404)


def test_model_validation_refuses_what_the_form_would(tenants):
    owned = PropertyFactory(project__organization=tenants.owner_org)
    owned.basic_info = {"address": "1 Nul\x00 St"}

    with pytest.raises(ValidationError, match="NUL"):
        owned.full_clean()
