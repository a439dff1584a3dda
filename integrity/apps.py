from django.apps import AppConfig


class IntegrityConfig(AppConfig):
    name = "integrity"
    verbose_name = "Data integrity"

    def ready(self):
        from . import signals

        signals.connect(self)
