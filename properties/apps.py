from django.apps import AppConfig


class PropertiesConfig(AppConfig):
    name = "properties"
    verbose_name = "Properties"

    def ready(self):
        from organizations.form_inputs import register_json_form_field
        from organizations.models import register_settings_check

        from .limits import StorableJSONFormField
        from .rules import settings_problem

        # Saving an organisation refuses rule settings the import could not use.
        register_settings_check(settings_problem)
        # Every tenant admin's JSON fields refuse, in words, what no database can store.
        register_json_form_field(StorableJSONFormField)
