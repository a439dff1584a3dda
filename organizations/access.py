"""The access gateway: the one place that answers "which organisations may this actor see" and
"may this actor do this here".

Every tenant read and every permission check goes through a `Scope`: admin classes, selectors,
services and commands ask it; no other module branches on `is_superuser` or compares
organisations by hand. Permissions are Django's (the role groups of `organizations.roles`), the
organisation is the member's profile's.

Failure contract:
- `Scope.get()` raises the model's `DoesNotExist` for a missing row and for another
  organisation's row alike, so nothing about another tenant leaks; the admin turns it into a 404,
  commands into a one-line error.
- `Scope.require()` raises `AccessDenied` (a `PermissionDenied`) with a sentence naming the role
  the action needs.

Commands and scheduled tasks act "as the operator" with an explicit `Scope.system()`; a service
given no actor (`actor=None`) acts with that scope too.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import F, Lookup, Model, QuerySet

from .models import Organization, Profile

_CACHE_ATTR = "_access_profile"


class AccessDenied(PermissionDenied):
    """The actor may not do this; the message is a sentence a person can act on."""


#: The lowest role that holds each permission, for refusal messages ("needs a manager").
def _lowest_role_with(permission: str) -> str | None:
    from .roles import ROLE_PERMISSIONS

    for role in ("viewer", "user", "manager", "admin"):
        if permission in ROLE_PERMISSIONS[role]:
            return role
    return None


def _profile_of(user) -> Profile | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if not hasattr(user, _CACHE_ATTR):
        profile = Profile.objects.select_related("organization").filter(user=user).first()
        setattr(user, _CACHE_ATTR, profile)
    return getattr(user, _CACHE_ATTR)


class Scope:
    """What one actor may see and do. Cheap to build: the profile is read once per user object."""

    def __init__(self, actor, *, system: bool = False):
        self.actor = actor
        self.is_system = system

    @classmethod
    def system(cls) -> Scope:
        """The operator's scope for commands and scheduled tasks: every organisation, every
        permission. Services given no actor act with it."""
        return cls(None, system=True)

    @classmethod
    def of(cls, actor) -> Scope:
        """The scope of `actor`; no actor (a command or the system) is the system scope."""
        if isinstance(actor, Scope):
            return actor
        if actor is None:
            return cls.system()
        return cls(actor)

    # --- who ------------------------------------------------------------------------------

    @property
    def profile(self) -> Profile | None:
        return None if self.is_system else _profile_of(self.actor)

    @property
    def organization(self) -> Organization | None:
        """The organisation the actor acts for, or None (the system, a superuser without a
        profile, or a user who belongs to none)."""
        profile = self.profile
        return profile.organization if profile else None

    @property
    def role(self) -> str | None:
        profile = self.profile
        return profile.role if profile else None

    @property
    def sees_all(self) -> bool:
        """The system and superusers see every organisation."""
        return self.is_system or bool(getattr(self.actor, "is_superuser", False))

    @property
    def is_member(self) -> bool:
        """May see at least one organisation."""
        return self.sees_all or self.organization is not None

    # --- reads ----------------------------------------------------------------------------

    def organizations(self) -> QuerySet[Organization]:
        """The organisations this actor may see."""
        return self.filter(Organization.objects.all(), "pk")

    def organization_ids(self) -> list[int]:
        """The ids of the organisations this actor may see; a member's own without a query."""
        if self.sees_all:
            return list(Organization.objects.values_list("pk", flat=True))
        organization = self.organization
        return [organization.pk] if organization is not None else []

    def includes(self, organization: Organization | int | None) -> bool:
        """Whether `organization` (a row or an id) is inside this scope."""
        if organization is None:
            return False
        return self.sees_all or self.belongs_to(organization)

    def belongs_to(self, organization: Organization | int | None) -> bool:
        """Whether `organization` is the actor's own (by membership, not as a superuser): some
        actions on a tenant a superuser takes only when asked to explicitly."""
        own = self.organization
        if organization is None or own is None:
            return False
        organization_id = organization if isinstance(organization, int) else organization.pk
        return own.pk == organization_id

    def filter(self, queryset: QuerySet, lookup: str = "organization") -> QuerySet:
        """Rows of `queryset` inside this scope; `lookup` leads from its model to the
        organisation (`organization`, `pk` for organisations, `project__organization`, ...)."""
        if self.sees_all:
            return queryset
        organization = self.organization
        if organization is None:
            return queryset.none()
        return queryset.filter(**{lookup: organization.pk})

    def filter_in_tenant_order(self, queryset: QuerySet, lookup: str = "organization") -> QuerySet:
        """Like `filter`, for a query ordered by (organisation, id) and read from an index on
        those columns: the organisation is compared with `= ANY(array)`, which PostgreSQL does not
        fold into a constant as it does `=`. Folded, the organisation drops out of the sort key
        and the planner may read the primary key backwards instead, filtering out every newer
        row of the other tenants first (docs/deploy.md, "Load")."""
        if self.sees_all:
            return queryset
        organization = self.organization
        if organization is None:
            return queryset.none()
        return queryset.filter(_AnyOf(F(lookup), [organization.pk]))

    def get(self, queryset: QuerySet, lookup: str = "organization", **kwargs) -> Model:
        """One row inside this scope; `DoesNotExist` for a missing row and another
        organisation's row alike."""
        return self.filter(queryset, lookup).get(**kwargs)

    # --- permissions ----------------------------------------------------------------------

    def can(self, permission: str, *, organization: Organization | int | None = None) -> bool:
        """Whether the actor holds `permission` ("app.codename"), inside `organization` when
        given (else in their own)."""
        if self.sees_all:
            return True
        if not self.is_member:
            return False
        if organization is not None and not self.includes(organization):
            return False
        return self.actor.has_perm(permission)

    def require(self, permission: str, *, organization: Organization | int | None = None) -> None:
        """Raise `AccessDenied` unless `can(permission, organization=...)`."""
        if self.can(permission, organization=organization):
            return
        if organization is not None and not self.includes(organization):
            raise AccessDenied(f"{self.actor} is not a member of that organisation.")
        raise self.refusal(permission)

    def refusal(self, permission: str) -> AccessDenied:
        """The refusal of `permission` to this actor, naming the lowest role that holds it."""
        role = _lowest_role_with(permission)
        needs = f"the {role} role or above" if role else "a superuser"
        return AccessDenied(f"This needs {needs}; {self.actor} is {self._role_phrase()}.")

    def _role_phrase(self) -> str:
        role = self.role
        return f"a {role}" if role else "not a member of any organisation"

    def __repr__(self) -> str:
        return "Scope(system)" if self.is_system else f"Scope({self.actor})"


class _AnyOf(Lookup):
    """`column = ANY(array)` on PostgreSQL; `column IN (...)` elsewhere (SQLite), where the
    planner question above does not arise."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        column, params = compiler.compile(self.lhs)
        values = [int(value) for value in self.rhs]
        if connection.vendor == "postgresql":
            array_type = self.lhs.output_field.db_type(connection)
            return f"{column} = ANY(%s::{array_type}[])", [*params, values]
        placeholders = ", ".join(["%s"] * len(values))
        return f"{column} IN ({placeholders})", [*params, *values]


def lookup_to_organization(model: type[Model]) -> str | None:
    """How to reach the organisation from `model`, for models the tenancy layer knows."""
    if model is Organization:
        return "pk"
    if model is get_user_model():
        return "profile__organization"
    field_names = {field.name for field in model._meta.get_fields()}
    if "organization" in field_names:
        return "organization"
    return None
