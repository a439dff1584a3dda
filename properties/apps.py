from django.apps import AppConfig


class PropertiesConfig(AppConfig):
    name = "properties"
    verbose_name = "Properties"

    def ready(self):
        from organizations.form_inputs import register_json_form_field

        from .limits import StorableJSONFormField

        # Every tenant admin's JSON fields refuse, in words, what no database can store.
        register_json_form_field(StorableJSONFormField)
