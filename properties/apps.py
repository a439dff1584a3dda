from django.apps import AppConfig


class PropertiesConfig(AppConfig):
    name = "properties"
    verbose_name = "Properties"

    def ready(self):
        from organizations.models import register_settings_check

        from .rules import settings_problem

        # Saving an organisation refuses rule settings the import could not use.
        register_settings_check(settings_problem)
