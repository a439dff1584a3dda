"""Refused requests: the admin's own page saying which role a page needs, and one log line.

Django's admin and simple-history raise a bare `PermissionDenied` for pages a role may not open;
`permission_denied` (the project's `handler403`) turns any refusal into a sentence, from the
`AccessDenied` message when there is one, else from the permission the admin URL stands for.
"""

from __future__ import annotations

from django.contrib import admin
from django.shortcuts import render

from .access import AccessDenied
from .tenancy import scope_of

GENERIC_REFUSAL = "Your role does not allow this page or action."

#: What each admin URL suffix asks for, read (GET) and write (POST).
_ADMIN_URL_PERMISSIONS = {
    "changelist": ("view", "view"),
    "change": ("view", "change"),
    "add": ("add", "add"),
    "delete": ("delete", "delete"),
    "history": ("view_history", "view_history"),
    "simple_history": ("view_history", "change_history"),
    "import": ("import", "import"),
    "export": ("export", "export"),
}


def permission_denied(request, exception=None):
    """The 403 page, styled like the rest of the admin."""
    context = {
        **admin.site.each_context(request),
        "title": "You cannot open this page",
        "refusal": refusal_sentence(request, exception),
    }
    return render(request, "403.html", context, status=403)


def refusal_sentence(request, exception=None) -> str:
    """Why the request was refused, as a sentence naming the role it needs."""
    if isinstance(exception, AccessDenied) and str(exception):
        return str(exception)
    permission = _permission_for(request)
    if permission is None or not getattr(request, "user", None):
        return str(exception) if exception and str(exception) else GENERIC_REFUSAL
    scope = scope_of(request)
    if scope.can(permission):
        # The role holds the permission; something about this row or moment refused it.
        return str(exception) if exception and str(exception) else GENERIC_REFUSAL
    return str(scope.refusal(permission))


def _permission_for(request) -> str | None:
    match = getattr(request, "resolver_match", None)
    if match is None or match.namespace != admin.site.name or not match.url_name:
        return None
    for model in admin.site._registry:
        opts = model._meta
        prefix = f"{opts.app_label}_{opts.model_name}_"
        if not match.url_name.startswith(prefix):
            continue
        verbs = _ADMIN_URL_PERMISSIONS.get(match.url_name.removeprefix(prefix))
        if verbs is None:
            return None
        verb = verbs[request.method == "POST"]
        if verb.endswith("_history"):
            return f"{opts.app_label}.{verb.removesuffix('_history')}_historical{opts.model_name}"
        return f"{opts.app_label}.{verb}_{opts.model_name}"
    return None
