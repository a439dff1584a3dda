"""The analysis form is validated by the property rules (`properties.rules.validate_analysis`):
each problem beside its field, nothing saved while one stands; an outsider reaches nothing."""

import pytest
from django.urls import reverse

from properties.models import PropertyAnalysis
from properties.rules import validate_analysis
from tests.factories import ProjectFactory, PropertyAnalysisFactory, PropertyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def analysis(tenants):
    prop = PropertyFactory(project=ProjectFactory(organization=tenants.owner_org))
    return PropertyAnalysisFactory(
        property=prop,
        status="completed",
        input_parameters={"discount_rate": 0.06},
        results={"net_present_value": 120_000},
    )


def form_data(analysis, **changes):
    data = {
        "property": analysis.property_id,
        "analysis_type": "financial",
        "status": "completed",
        "input_parameters": '{"discount_rate": 0.06}',
        "results": '{"net_present_value": 120000}',
        "started_at_0": "2026-11-01",
        "started_at_1": "09:00:00",
        "completed_at_0": "2026-11-01",
        "completed_at_1": "10:00:00",
        "error_message": "",
    }
    return {**data, **changes}


def post(client, analysis, **changes):
    url = reverse("admin:properties_propertyanalysis_change", args=[analysis.pk])
    return client.post(url, form_data(analysis, **changes))


def field_errors(response, field) -> str:
    return " ".join(response.context["adminform"].form.errors.get(field, []))


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"results": '{"net_present_value": NaN}'}, "results", "not a number JSON can store"),
        ({"results": '{"note": "a\\u0000b"}'}, "results", "NUL character"),
        ({"input_parameters": "[1, 2]"}, "input_parameters", "not a list or a single value"),
        ({"results": ""}, "results", "A completed analysis has results"),
        ({"status": "failed"}, "error_message", "says why it failed"),
        ({"completed_at_1": "08:00:00"}, "completed_at", "Completed before it started"),
    ],
)
def test_a_bad_analysis_is_refused_beside_its_field_and_nothing_is_saved(
    client, tenants, analysis, changes, field, message
):
    client.force_login(tenants.member)
    response = post(client, analysis, **changes)
    assert response.status_code == 200
    assert message in field_errors(response, field), response.context["adminform"].form.errors
    stored = PropertyAnalysis.objects.get(pk=analysis.pk)
    assert stored.results == {"net_present_value": 120_000}
    assert stored.input_parameters == {"discount_rate": 0.06}
    assert stored.status == "completed"


def test_a_good_change_saves_with_its_reason(client, tenants, analysis):
    client.force_login(tenants.member)
    response = post(client, analysis, results='{"net_present_value": 130000, "yield": 0.04}')
    assert response.status_code == 302, response.context["adminform"].form.errors
    analysis.refresh_from_db()
    assert analysis.results == {"net_present_value": 130_000, "yield": 0.04}
    assert analysis.history.first().history_change_reason == "edited in admin"


def test_a_pending_analysis_needs_no_results(client, tenants, analysis):
    client.force_login(tenants.member)
    response = post(
        client, analysis, status="pending", results="", completed_at_0="", completed_at_1=""
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    analysis.refresh_from_db()
    assert (analysis.status, analysis.results) == ("pending", None)


def test_the_rules_report_every_problem_at_once():
    findings = validate_analysis(
        input_parameters=[1],
        results=None,
        status="completed",
        error_message="",
    )
    assert [(f.field, f.rule) for f in findings] == [
        ("input_parameters", "plain_value"),
        ("results", "analysis_status"),
    ]
    assert all(f.is_error for f in findings)


def test_an_outsider_cannot_change_or_choose_another_organisations_analysis(
    client, tenants, analysis
):
    client.force_login(tenants.outsider)
    assert post(client, analysis, results='{"x": 1}').status_code == 404
    analysis.refresh_from_db()
    assert analysis.results == {"net_present_value": 120_000}
    # Nor attach a new analysis to this organisation's property.
    response = client.post(
        reverse("admin:properties_propertyanalysis_add"), form_data(analysis, results='{"x": 1}')
    )
    assert response.status_code == 200
    assert "property" in response.context["adminform"].form.errors
    assert PropertyAnalysis.objects.count() == 1
