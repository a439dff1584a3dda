from django import template

from organizations.access import Scope

from ..selectors import dashboard_rows

register = template.Library()


@register.inclusion_tag("admin/integrity/dashboard.html", takes_context=True)
def integrity_dashboard(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not Scope.of(user).can("integrity.view_dataintegrityreport"):
        return {"rows": None}
    return {"rows": dashboard_rows(user=user)}
