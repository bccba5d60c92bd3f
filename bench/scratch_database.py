"""Django set up in this process on a throwaway database, for the benchmarks that call the code in-process.

A benchmark script calls start_django() before it imports anything that
needs the settings, then run_in_scratch_database(run, ...). The database is
a temporary SQLite file, or, when DATABASE_URL names a PostgreSQL server,
a database of its own named `mailup_sim_bench`, so a benchmark never drops
the test database of a suite running at the same time.
"""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "mailup_sim_bench"


def start_django(**environment):
    """Set the benchmark's defaults and `environment` in os.environ, then set Django up."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("MAILUP_SIM_VAR_DIR", tempfile.mkdtemp(prefix="mailup-sim-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailup_sim.settings")
    os.environ.update(environment)

    import django

    django.setup()


def run_in_scratch_database(run, *args):
    """Create the throwaway database, return run(*args), and drop the database in a finally block."""
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    connection.settings_dict["TEST"]["NAME"] = BENCH_DATABASE if connection.vendor == "postgresql" else None
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        return run(*args)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def demo_access_token(client):
    """Return an access token of the demo console's user, asked with the password grant through `client`."""
    from urllib.parse import urlencode

    from lists.demo import demo_password_grant_form

    form = urlencode(demo_password_grant_form())
    response = client.post("/Authorization/OAuth/Token", form, content_type="application/x-www-form-urlencoded")
    return response.json()["access_token"]
