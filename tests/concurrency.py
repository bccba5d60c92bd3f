"""Helpers for tests that run two real transactions at once on PostgreSQL."""

import threading
import time

import pytest
from django.conf import settings
from django.db import connection, connections

WAIT_SECONDS = 10

postgresql_only = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="Only PostgreSQL runs two writing transactions at once.",
)


def wait_for_blocked_session():
    """Return once another session of the test database waits for a lock."""
    deadline = time.monotonic() + WAIT_SECONDS
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError(f"No session waited for a lock within {WAIT_SECONDS} seconds.")


class InThread(threading.Thread):
    """Run `target` in a thread with its own connection, and keep what it returned or raised."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self.target = target
        self.result = None
        self.error = None

    def run(self):
        try:
            self.result = self.target()
        except Exception as error:  # noqa: BLE001 - inspected by the test
            self.error = error
        finally:
            connections.close_all()
