"""What every admin page's header shows of the acting member."""

from .tenancy import scope_of


def acting_organization(request) -> dict:
    """The organisation the signed-in member acts for (None for a superuser without one)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"acting_organization": scope_of(request).organization}
