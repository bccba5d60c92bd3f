"""Settings of a Celery worker that a test runs as a child process, on the parent run's database and queue."""

import os

from tests.settings import *  # noqa: F401,F403

DATABASES["default"]["NAME"] = os.environ["MAILUP_SIM_TEST_DATABASE"]  # noqa: F405
CELERY_TASK_DEFAULT_QUEUE = os.environ["MAILUP_SIM_TEST_QUEUE"]
CELERY_TASK_ALWAYS_EAGER = False
