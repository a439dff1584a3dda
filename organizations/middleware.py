"""Members see times on their organisation's clock; a query parameter no database can compare
is dropped with a sentence."""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.utils.http import escape_leading_slashes

from .tenancy import scope_of, unusable_parameters


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


class UnusableParametersMiddleware:
    """A GET whose query holds a NUL or a lone surrogate (which PostgreSQL refuses in any
    comparison, a server error in the admin's filters, Django's own and third-party admins'
    alike) is sent back without those parameters, with a sentence, as a filter that does not
    apply. Placed after the message middleware, which carries the sentence."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        unusable = unusable_parameters(request.GET) if request.method == "GET" else set()
        if not unusable:
            return self.get_response(request)
        kept = request.GET.copy()
        for name in unusable:
            kept.pop(name, None)
        messages.warning(
            request,
            f"Ignored the filter {', '.join(sorted(unusable))}: its value holds characters "
            "that cannot be searched for.",
        )
        # The path as a local one: a request for `//host/...` must not redirect off-site.
        return HttpResponseRedirect(f"{escape_leading_slashes(request.path)}?{kept.urlencode()}")
