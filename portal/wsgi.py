import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

# Servers (gunicorn, runserver) announce a development key-encryption key at start-up.
from keys import kek  # noqa: E402

kek.check(announce=True)

# Load the URL conf (and with it every view module) now, then move everything start-up made out
# of the cycle collector's reach: those objects live as long as the process, and each full
# collection walked all ~100,000 of them (tens of ms on a 2-core VM: about 20 us per token
# verified in a batch, and a latency spike for whichever request triggered it). Objects made
# by requests are collected as before. gunicorn loads this module in each worker, after the fork.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018 - imports the views
gc.collect()  # start-up garbage is freed, not frozen
gc.freeze()
# A young-generation collection ran every 700 allocations: about 7 times per 100-token batch, each
# walking every young object for cycles that the request path does not make. 20,000 lets a batch
# finish first; cycles are still collected.
gc.set_threshold(20_000, 10, 10)
