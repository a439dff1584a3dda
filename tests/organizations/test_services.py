import pytest
from django.contrib.auth.models import Group
from django.http import HttpRequest
from django.test import Client

from organizations.access import Scope
from organizations.roles import ROLE_PERMISSIONS
from organizations.services import member_create
from organizations.tenancy import organization_for, scope_queryset
from properties.models import Project, Property
from tests.factories import ProjectFactory, PropertyFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_role_groups_hold_cumulative_permissions(tenants):
    def perms(role):
        group = Group.objects.get(name=role)
        return {
            f"{app}.{codename}"
            for app, codename in group.permissions.values_list(
                "content_type__app_label", "codename"
            )
        }

    viewer, user, manager, admin = (perms(r) for r in ("viewer", "user", "manager", "admin"))
    assert viewer < user < manager < admin
    assert all(code.split(".")[1].startswith("view_") for code in viewer)
    assert "properties.change_property" in user and "properties.add_property" not in user
    assert {
        "properties.add_property",
        "properties.delete_project",
        "properties.import_property",
        "properties.export_property",
        "properties.view_historicalproperty",
    } <= manager
    assert "organizations.change_organization" not in manager
    assert {"organizations.change_organization", "organizations.add_profile"} <= admin
    # Every permission the roles name for an installed model exists.
    installed = {
        p
        for role in ROLE_PERMISSIONS.values()
        for p in role
        if p.startswith(("organizations.", "properties."))
    }
    assert installed <= admin


def test_member_create_makes_a_staff_login_in_the_role_group(tenants):
    profile = member_create(
        organization=tenants.owner_org,
        username="fresh",
        password="pw-123-long",
        role="manager",
    )
    assert profile.user.is_staff
    assert profile.user.has_perm("properties.add_property")
    assert not profile.user.has_perm("organizations.change_organization")


def test_login_records_last_login_on_the_profile(tenants):
    assert tenants.viewer.profile.last_login is None
    # django-axes checks every login against its lockouts, which needs the request.
    assert Client().login(request=HttpRequest(), username=tenants.viewer.username, password="pw")
    tenants.viewer.profile.refresh_from_db()
    assert tenants.viewer.profile.last_login is not None


def test_organization_ids_are_the_members_own_and_every_one_for_a_superuser(
    tenants, django_assert_num_queries
):
    scope = Scope.of(tenants.viewer)
    assert scope.organization == tenants.owner_org  # the profile, read once per user
    with django_assert_num_queries(0):
        assert scope.organization_ids() == [tenants.owner_org.pk]
    assert Scope.of(tenants.outsider).organization_ids() == [tenants.other_org.pk]
    assert Scope.of(UserFactory(username="nobody")).organization_ids() == []
    root = UserFactory(username="root", is_superuser=True)
    assert sorted(Scope.of(root).organization_ids()) == sorted(
        [tenants.owner_org.pk, tenants.other_org.pk]
    )


def test_filter_in_tenant_order_gives_members_their_organisation_only(tenants):
    # The same rows as `filter`, written so an (organisation, id) index can serve the order.
    own = [ProjectFactory(organization=tenants.owner_org) for _ in range(2)]
    other = ProjectFactory(organization=tenants.other_org)
    projects = Project.objects.order_by("-organization_id", "-pk")
    assert list(Scope.of(tenants.viewer).filter_in_tenant_order(projects)) == own[::-1]
    assert list(Scope.of(tenants.outsider).filter_in_tenant_order(projects)) == [other]
    nobody = UserFactory(username="nobody")
    assert not Scope.of(nobody).filter_in_tenant_order(projects).exists()
    root = UserFactory(username="root", is_superuser=True)
    assert Scope.of(root).filter_in_tenant_order(projects).count() == 3
    # It composes with other filters and reaches the organisation through a relation too.
    named = Scope.of(tenants.outsider).filter_in_tenant_order(
        Project.objects.filter(name=own[0].name)
    )
    assert not named.exists()
    own_property = PropertyFactory(project=own[0])
    PropertyFactory(project=other)
    properties = Scope.of(tenants.viewer).filter_in_tenant_order(
        Property.objects.all(), "project__organization"
    )
    assert list(properties) == [own_property]


def test_scope_queryset_gives_members_their_organisation_only(tenants):
    own = ProjectFactory(organization=tenants.owner_org)
    other = ProjectFactory(organization=tenants.other_org)
    assert list(scope_queryset(Project.objects.all(), user=tenants.viewer)) == [own]
    assert list(scope_queryset(Project.objects.all(), user=tenants.outsider)) == [other]
    nobody = UserFactory(username="nobody")
    assert not scope_queryset(Project.objects.all(), user=nobody).exists()
    assert organization_for(nobody) is None
    root = UserFactory(username="root", is_superuser=True)
    assert scope_queryset(Project.objects.all(), user=root).count() == 2
