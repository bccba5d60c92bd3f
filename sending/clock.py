"""The time the relay and the sink's ISP limits count by.

Everything that decides when a delivery may go (hourly limits, warm-up
days, rule hours, retry times) reads `now()`, so a test can move this
clock forward by hours without waiting.
"""

from django.utils import timezone

_offset = None


def now():
    """Return the current aware datetime, moved by the offset a test set."""
    if _offset is None:
        return timezone.now()
    return timezone.now() + _offset


def set_offset(offset):
    """Move the clock by a timedelta, or back to real time with None."""
    global _offset
    _offset = offset


def hour_start(moment):
    return moment.replace(minute=0, second=0, microsecond=0)
