"""Hostile changelist parameters: every value is an answer in words, never a server error, and
an outsider's filter never reaches another organisation's rows."""

from urllib.parse import quote

import pytest
from django.urls import reverse

from properties.models import Property
from tests.factories import PropertyFactory

pytestmark = pytest.mark.django_db

#: Each changelist's filters, search and paging parameters.
CHANGELISTS = {
    "admin:properties_property_changelist": [
        "project__id__exact",
        "state",
        "zoning",
        "integrity_check",
        "q",
        "p",
    ],
    "admin:properties_propertyanalysis_changelist": ["status", "integrity_check", "q"],
    "admin:properties_project_changelist": ["status", "q"],
    "admin:imports_importjob_changelist": ["project__id__exact", "status", "q", "o"],
    "admin:backups_backupexecution_changelist": ["status", "started_at__gte", "q"],
    "admin:backups_restoreexecution_changelist": ["status", "dry_run__exact"],
}
HOSTILE_VALUES = ["abc", "1\x00", "1e400", "9" * 5000, "\ud800"]


@pytest.mark.parametrize("changelist", sorted(CHANGELISTS))
def test_hostile_filter_values_are_no_server_error(client, tenants, changelist):
    PropertyFactory(project__organization=tenants.owner_org)
    before = list(Property.objects.values_list("pk", "basic_info"))
    client.force_login(tenants.manager)
    client.raise_request_exception = False
    url = reverse(changelist)

    for parameter in CHANGELISTS[changelist]:
        for value in HOSTILE_VALUES:
            # Percent-encoded by hand: a lone surrogate arrives as its raw UTF-8 bytes.
            query = f"{parameter}={quote(value, errors='surrogatepass')}"
            response = client.get(f"{url}?{query}", follow=True)
            assert response.status_code == 200, (parameter, value, response.status_code)

    assert list(Property.objects.values_list("pk", "basic_info")) == before


def test_a_nul_in_a_filter_is_ignored_with_a_sentence(client, tenants):
    client.force_login(tenants.manager)

    response = client.get(
        reverse("admin:properties_property_changelist"), {"state": "VIC\x00"}, follow=True
    )

    assert "Ignored the filter state" in response.content.decode()


def test_a_project_filter_that_is_no_id_says_so(client, tenants):
    PropertyFactory(project__organization=tenants.owner_org)
    client.force_login(tenants.manager)

    response = client.get(
        reverse("admin:properties_property_changelist"), {"project__id__exact": "abc"}
    )

    assert response.status_code == 200
    assert "is not a project id" in response.content.decode()


def test_an_outsiders_project_filter_shows_none_of_the_owners_rows(client, tenants):
    owned = PropertyFactory(project__organization=tenants.owner_org, external_id="OWNED-1")
    client.force_login(tenants.outsider)

    response = client.get(
        reverse("admin:properties_property_changelist"),
        {"project__id__exact": str(owned.project_id)},
    )

    assert response.status_code == 200
    assert "OWNED-1" not in response.content.decode()
