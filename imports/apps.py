from django.apps import AppConfig


def _running_imports(organization) -> str | None:
    """The busy check restores ask (organizations.locks): an import is writing batches."""
    from .models import ImportJob

    running = ImportJob.objects.filter(
        organization=organization, status=ImportJob.Status.IMPORTING
    ).values_list("pk", flat=True)
    if not running:
        return None
    return f"Import {', '.join(str(pk) for pk in running)} into {organization.slug} is running"


class ImportsConfig(AppConfig):
    name = "imports"

    def ready(self):
        from organizations.locks import register_busy_check

        register_busy_check(_running_imports)
