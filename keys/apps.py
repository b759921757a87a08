from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "keys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Refuse a malformed SIGNET_KEK at start-up, and announce a development KEK then, not on first use.
        from keys import kek

        kek.check()
