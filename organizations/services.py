from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

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
) -> Profile:
    User = get_user_model()
    user = User.objects.create_user(username=username, email=email, password=password)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return Profile.objects.create(
        user=user, organization=organization, role=role, full_name=full_name
    )
