"""The WSGI module that gunicorn workers load leaves the loaded application out of full garbage collections."""

import os
import subprocess
import sys

from django.conf import settings


def test_loaded_objects_are_frozen(tmp_path):
    probe = "import gc, mailup_sim.wsgi; print(gc.get_freeze_count())"
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "MAILUP_SIM_VAR_DIR": str(tmp_path)}

    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=settings.BASE_DIR, env=environment, capture_output=True, text=True, check=True
    )

    assert int(result.stdout.strip().splitlines()[-1]) > 10_000
