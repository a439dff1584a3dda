"""/healthz and /readyz for load balancers and orchestrators: no login, no data."""

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import checks


@never_cache
@require_GET
def healthz(request):
    """The process is up and answering requests."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """Database, task broker and storage reachable and every migration applied; 503 otherwise."""
    answers = checks.readiness()
    ready = all(answer == "ok" for answer in answers.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": answers},
        status=200 if ready else 503,
    )
