"""Settings for the test suite: the production settings with tasks run in-process.

The var directory is a fresh temporary folder, so tests never touch a
developer's database or broker files. DATABASE_URL and CELERY_BROKER_URL
still apply, which is how CI runs the suite on PostgreSQL and Redis.
"""

import os
import tempfile

os.environ.setdefault("MAILUP_SIM_VAR_DIR", tempfile.mkdtemp(prefix="mailup-sim-test-"))

from mailup_sim.settings import *  # noqa: E402,F401,F403

# Tasks run in the thread that enqueues them, right after the transaction
# commits; tests marked `worker` switch this off and run a real worker.
CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Each run gets its own PostgreSQL test database, so two runs on one server
# (two developers, or CI beside a developer) never drop each other's.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": f"test_mailup_sim_{os.getpid()}"}  # noqa: F405
    # Threads of the test process (the sink's executor, the live server) close
    # their connections after each use, so the test database can be dropped.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
else:
    # A file, not SQLite's shared in-memory database. The live server, the
    # sink and a Celery worker run in threads of the test process. For
    # in-memory databases only, Django shares one connection object among
    # threads, and that broke when a worker thread closed it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405
    # As on PostgreSQL, threads close their connections after each use.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# A queue of its own, so two runs on one Redis never take each other's tasks.
CELERY_TASK_DEFAULT_QUEUE = f"mailup-sim-test-{os.getpid()}"

# django-mailupy keeps its MailUp credentials in a model, so the real client
# needs its app installed when the tests drive it (requirements-clients.txt).
try:
    import django_mailupy  # noqa: F401
except ImportError:
    pass
else:
    INSTALLED_APPS = [*INSTALLED_APPS, "django_mailupy"]  # noqa: F405
