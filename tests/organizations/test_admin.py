"""Organisation and member admin: an organisation admin manages their own members and settings."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from organizations.models import Organization, Profile
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["admin", "manager", "member", "viewer"])
def test_organisation_list_shows_only_the_users_own(client, tenants, role):
    client.force_login(getattr(tenants, role))
    page = client.get(reverse("admin:organizations_organization_changelist")).content.decode()
    assert "Owner Org" in page and "Other Org" not in page


@pytest.mark.parametrize("role", ["admin", "manager", "member", "viewer"])
def test_members_list_shows_only_own_members(client, tenants, role):
    client.force_login(getattr(tenants, role))
    page = client.get(reverse("admin:organizations_profile_changelist")).content.decode()
    assert tenants.manager.username in page
    assert tenants.outsider.username not in page


def test_other_organisation_and_its_members_are_404(client, tenants):
    client.force_login(tenants.admin)
    other_member = Profile.objects.get(user=tenants.outsider)
    for url in (
        reverse("admin:organizations_organization_change", args=[tenants.other_org.pk]),
        reverse("admin:organizations_organization_history", args=[tenants.other_org.pk]),
        reverse("admin:organizations_profile_change", args=[other_member.pk]),
    ):
        assert client.get(url).status_code == 404, url


def test_organisation_page_lists_its_members_inline(client, tenants):
    client.force_login(tenants.admin)
    page = client.get(
        reverse("admin:organizations_organization_change", args=[tenants.owner_org.pk])
    ).content.decode()
    for user in (tenants.admin, tenants.manager, tenants.member, tenants.viewer):
        assert user.username in page
    assert tenants.outsider.username not in page


def test_only_an_organisation_admin_changes_its_settings(client, tenants):
    url = reverse("admin:organizations_organization_change", args=[tenants.owner_org.pk])
    form = {
        "name": "Renamed",
        "settings": '{"alert_webhook_url": "http://127.0.0.1:9/hook"}',
        "profiles-TOTAL_FORMS": "0",
        "profiles-INITIAL_FORMS": "0",
    }
    client.force_login(tenants.manager)
    assert client.post(url, form).status_code == 403
    client.force_login(tenants.admin)
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    tenants.owner_org.refresh_from_db()
    assert tenants.owner_org.name == "Renamed"
    assert tenants.owner_org.settings["alert_webhook_url"] == "http://127.0.0.1:9/hook"
    assert tenants.owner_org.slug == "owner-org"  # members cannot change the slug


def test_organisation_admin_adds_a_member_with_a_login(client, tenants):
    client.force_login(tenants.admin)
    response = client.post(
        reverse("admin:organizations_profile_add"),
        {
            "username": "newcomer",
            "email": "new@example.com",
            "password": "a-Long-pass-phrase-42",
            "full_name": "New Comer",
            "role": "viewer",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = get_user_model().objects.get(username="newcomer")
    assert user.is_staff and user.check_password("a-Long-pass-phrase-42")
    assert user.profile.organization == tenants.owner_org
    assert list(user.groups.values_list("name", flat=True)) == ["viewer"]


@pytest.mark.parametrize("role", ["manager", "member", "viewer"])
def test_only_organisation_admins_manage_members(client, tenants, role):
    client.force_login(getattr(tenants, role))
    assert client.get(reverse("admin:organizations_profile_add")).status_code == 403


def test_changing_a_role_changes_the_permission_group(client, tenants):
    profile = tenants.viewer.profile
    client.force_login(tenants.admin)
    response = client.post(
        reverse("admin:organizations_profile_change", args=[profile.pk]),
        {"full_name": "Promoted", "role": "manager", "preferences": "{}"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    tenants.viewer.refresh_from_db()
    assert list(tenants.viewer.groups.values_list("name", flat=True)) == ["manager"]
    assert tenants.viewer.has_perm("properties.import_property")


def test_only_superusers_create_organisations(client, tenants):
    client.force_login(tenants.admin)
    assert client.get(reverse("admin:organizations_organization_add")).status_code == 403
    root = UserFactory(username="root", is_superuser=True)
    client.force_login(root)
    response = client.post(
        reverse("admin:organizations_organization_add"),
        {
            "name": "Third",
            "slug": "third",
            "settings": "{}",
            "subscription_tier": "free",
            "profiles-TOTAL_FORMS": "0",
            "profiles-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    assert Organization.objects.filter(slug="third").exists()


def _revert_form(page):
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    return {k: ("" if v is None else v) for k, v in data.items()} | {
        "profiles-TOTAL_FORMS": "0",
        "profiles-INITIAL_FORMS": "0",
    }


def test_a_revert_keeps_the_fields_the_member_may_not_edit(client, tenants):
    org = tenants.owner_org
    org.subscription_tier = "enterprise"
    org.save()
    enterprise_version = org.history.first()
    org.subscription_tier = "free"
    org.name = "Renamed later"
    org.save()

    client.force_login(tenants.admin)
    url = reverse(
        "admin:organizations_organization_simple_history",
        args=[org.pk, enterprise_version.history_id],
    )
    page = client.get(url)
    assert page.status_code == 200
    response = client.post(url, _revert_form(page))
    assert response.status_code == 302, response.content.decode()[:2000]
    org.refresh_from_db()
    assert org.name == "Owner Org"  # the reverted, editable field
    assert org.subscription_tier == "free"  # superuser-only: not reverted


def test_a_role_without_history_rights_cannot_revert(client, tenants):
    from tests.factories import ProjectFactory, PropertyFactory

    prop = PropertyFactory(project=ProjectFactory(organization=tenants.owner_org))
    first = prop.history.first()
    prop.financial_metrics = {"estimated_value": 1}
    prop.save()
    url = reverse("admin:properties_property_simple_history", args=[prop.pk, first.history_id])
    client.force_login(tenants.member)
    assert client.post(url, {}).status_code == 403
    prop.refresh_from_db()
    assert prop.financial_metrics == {"estimated_value": 1}


def test_a_webhook_that_is_not_http_is_refused_when_saved(client, tenants):
    client.force_login(tenants.admin)
    response = client.post(
        reverse("admin:organizations_organization_change", args=[tenants.owner_org.pk]),
        {
            "name": "Owner Org",
            "settings": '{"alert_webhook_url": "file:///etc/passwd"}',
            "profiles-TOTAL_FORMS": "0",
            "profiles-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "alert_webhook_url must be an http:// or https:// URL." in response.content.decode()
    tenants.owner_org.refresh_from_db()
    assert tenants.owner_org.settings == {}
