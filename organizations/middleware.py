"""Members see times on their organisation's clock."""

from django.utils import timezone

from .tenancy import scope_of


class OrganizationTimeZoneMiddleware:
    """Activates the acting member's organisation's time zone for the request; everyone else
    (anonymous visitors, superusers without an organisation) keeps the deployment's TIME_ZONE."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        organization = scope_of(request).organization if user and user.is_authenticated else None
        if organization is None:
            return self.get_response(request)
        with timezone.override(organization.zone):
            return self.get_response(request)
