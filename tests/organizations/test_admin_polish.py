"""What a new user meets first (issue 11): a branded header naming their organisation, the Data
health panel on the start page only, organisation rule settings refused at save with the
sentence on the field, and no related-row shortcuts on tenant forms."""

import json

import pytest
from django.urls import reverse

from organizations.models import Organization
from tests.factories import ProjectFactory, PropertyAnalysisFactory, PropertyFactory

pytestmark = pytest.mark.django_db


def test_the_header_names_the_product_and_the_members_organisation(client, tenants):
    client.force_login(tenants.viewer)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Property data platform" in page and "Django administration" not in page
    assert '<span id="site-organization"> · Owner Org</span>' in page
    assert "<title>Start page | Property data platform</title>" in page
    client.force_login(tenants.outsider)
    page = client.get(reverse("admin:index")).content.decode()
    assert "· Other Org</span>" in page and "Owner Org" not in page


def test_the_data_health_panel_is_on_the_start_page_only(client, tenants):
    client.force_login(tenants.manager)
    assert 'id="integrity-dashboard"' in client.get(reverse("admin:index")).content.decode()
    for app_label in ("properties", "imports", "integrity"):
        page = client.get(reverse("admin:app_list", args=[app_label])).content.decode()
        assert 'id="integrity-dashboard"' not in page, app_label


def settings_form(settings: dict) -> dict:
    return {
        "name": "Owner Org",
        "settings": json.dumps(settings),
        "profiles-TOTAL_FORMS": "0",
        "profiles-INITIAL_FORMS": "0",
    }


@pytest.mark.parametrize(
    ("rule_settings", "message"),
    [
        (
            {"value_per_m2_min": 20_000, "value_per_m2_max": 10_000},
            "value_per_m2_min (20,000) must not be above value_per_m2_max (10,000).",
        ),
        ({"value_per_m2_min": -1}, "value_per_m2_min must be a number not below 0, got -1."),
        ({"value_per_m2_max": "lots"}, "value_per_m2_max must be a number not below 0"),
        ({"value_per_m2_severity": "fatal"}, "value_per_m2_severity must be 'error' or"),
    ],
)
def test_bad_rule_settings_are_refused_on_the_field_and_nothing_is_saved(
    client, tenants, rule_settings, message
):
    url = reverse("admin:organizations_organization_change", args=[tenants.owner_org.pk])
    client.force_login(tenants.admin)
    response = client.post(url, settings_form(rule_settings))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors["settings"]), errors
    assert Organization.objects.get(pk=tenants.owner_org.pk).settings == {}


def test_good_rule_settings_save_and_reach_the_rules(client, tenants):
    from properties.rules import RuleSettings

    url = reverse("admin:organizations_organization_change", args=[tenants.owner_org.pk])
    client.force_login(tenants.admin)
    good = {"value_per_m2_min": 5, "value_per_m2_max": 30_000, "value_per_m2_severity": "error"}
    response = client.post(url, settings_form(good))
    assert response.status_code == 302, response.content.decode()[:1500]
    organization = Organization.objects.get(pk=tenants.owner_org.pk)
    assert RuleSettings.of(organization) == RuleSettings(5, 30_000, "error")
    client.force_login(tenants.outsider)
    assert client.post(url, settings_form({"value_per_m2_min": 1})).status_code == 404


def test_tenant_forms_have_no_related_row_shortcuts_and_keep_their_scoped_choices(client, tenants):
    own = PropertyFactory(project=ProjectFactory(organization=tenants.owner_org, name="Own"))
    analysis = PropertyAnalysisFactory(property=own)
    PropertyFactory(project=ProjectFactory(organization=tenants.other_org, name="Secret"))
    client.force_login(tenants.manager)
    for url in (
        reverse("admin:properties_property_change", args=[own.pk]),
        reverse("admin:properties_property_add"),
        reverse("admin:properties_propertyanalysis_change", args=[analysis.pk]),
    ):
        page = client.get(url).content.decode()
        assert "related-widget-wrapper-link" not in page, url
        assert "add_id_" not in page and "change_id_" not in page, url
        assert "Secret" not in page
    page = client.get(reverse("admin:properties_property_change", args=[own.pk])).content
    assert b'name="project"' in page


def test_the_integrity_report_names_the_organisation_once_and_separates_samples(client, tenants):
    from integrity.services.reports import integrity_report_create

    project = ProjectFactory(organization=tenants.owner_org)
    PropertyFactory.create_batch(3, project=project, basic_info={"address": "", "suburb": "X"})
    report = integrity_report_create(organization=tenants.owner_org, actor=None)
    client.force_login(tenants.manager)
    page = client.get(
        reverse("admin:integrity_dataintegrityreport_change", args=[report.pk])
    ).content.decode()
    content = page[page.index('id="content"') :]
    assert content.count("Owner Org") == 1
    assert '<span class="integrity-sample-separator"> · </span>' in page
