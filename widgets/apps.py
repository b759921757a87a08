from django.apps import AppConfig


class WidgetsConfig(AppConfig):
    name = "widgets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from widgets import signals  # noqa: F401 - registers the cache receivers
