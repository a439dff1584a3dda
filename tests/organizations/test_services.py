import pytest
from django.contrib.auth.models import Group
from django.http import HttpRequest
from django.test import Client

from organizations.roles import ROLE_PERMISSIONS
from organizations.services import member_create
from organizations.tenancy import organization_for, scope_queryset
from properties.models import Project
from tests.factories import ProjectFactory, UserFactory

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
