from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from .access import Scope
from .models import Organization, Profile


def profile_apply_role(*, profile: Profile) -> None:
    """Give the member exactly the group of their role, and admin access as staff."""
    user = profile.user
    role_groups = Group.objects.filter(name__in=Profile.Role.values)
    user.groups.remove(*role_groups.exclude(name=profile.role))
    group, _ = Group.objects.get_or_create(name=profile.role)
    user.groups.add(group)
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])


@transaction.atomic
def member_create(
    *,
    organization: Organization,
    username: str,
    password: str | None,
    role: str,
    full_name: str = "",
    email: str = "",
    actor=None,
) -> Profile:
    """A new login that is a member of `organization` with `role`."""
    Scope.of(actor).require("organizations.add_profile", organization=organization)
    User = get_user_model()
    user = User.objects.create_user(username=username, email=email, password=password)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return Profile.objects.create(
        user=user, organization=organization, role=role, full_name=full_name
    )


#: Work other apps do for each new or deleted organisation (integrity's daily schedule),
#: registered in their AppConfig.ready(). The services below run them in their transaction;
#: a bare model save does not, so every path that creates or deletes an organisation calls
#: these services.
OrganizationHook = Callable[[Organization], None]
_created_hooks: list[OrganizationHook] = []
_deleted_hooks: list[OrganizationHook] = []


def on_organization_created(hook: OrganizationHook) -> OrganizationHook:
    if hook not in _created_hooks:
        _created_hooks.append(hook)
    return hook


def on_organization_deleted(hook: OrganizationHook) -> OrganizationHook:
    if hook not in _deleted_hooks:
        _deleted_hooks.append(hook)
    return hook


@transaction.atomic
def organization_create(*, organization: Organization, actor=None) -> Organization:
    """Save a new organisation (built by a form or by hand) and run the apps' hooks for it.
    Only superusers and the system create organisations."""
    Scope.of(actor).require("organizations.add_organization")
    organization.save()
    for hook in _created_hooks:
        hook(organization)
    return organization


@transaction.atomic
def organization_delete(*, organization: Organization, actor=None) -> None:
    """Delete an organisation and run the apps' hooks for it (they see it with its id)."""
    Scope.of(actor).require("organizations.delete_organization")
    for hook in _deleted_hooks:
        hook(organization)
    organization.delete()
