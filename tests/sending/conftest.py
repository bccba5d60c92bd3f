import uuid
from datetime import timedelta

import pytest

from sending import clock


@pytest.fixture(autouse=True)
def relay_counters_of_this_test(settings):
    """Give each test its own relay counters in Redis (tier 2); the database ones go with the test's rows."""
    settings.RELAY_REDIS_PREFIX = f"mailup-sim-test:{uuid.uuid4().hex}"


class Clock:
    """The relay's and the sink's clock, which a test moves forward instead of sleeping."""

    def __init__(self):
        self.offset = timedelta(0)

    def advance(self, **delta):
        self.offset += timedelta(**delta)
        clock.set_offset(self.offset)


@pytest.fixture
def relay_clock():
    controlled = Clock()
    clock.set_offset(controlled.offset)
    yield controlled
    clock.set_offset(None)
