"""The WSGI entry point a server loads in each worker."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, sys
import portal.wsgi
print(gc.get_freeze_count(), 'widgets.api' in sys.modules, gc.get_threshold()[0])
"""


def test_loading_the_app_freezes_start_up_objects_and_spaces_young_collections(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    env.pop("SIGNET_TESTING", None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    frozen, views_loaded, young_threshold = result.stdout.split()[-3:]
    # Everything Django and the views made at start-up, views included, is out of the cycle collector's walk.
    assert int(frozen) > 20_000
    assert views_loaded == "True"
    # A young collection once per 20,000 allocations, not 700: not several times per batch request.
    assert int(young_threshold) == 20_000
