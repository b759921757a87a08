import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

# Servers (gunicorn, runserver) announce a development key-encryption key at start-up.
from keys import kek  # noqa: E402

kek.check(announce=True)
