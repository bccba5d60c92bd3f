"""Counters behind the relay's limits per source IP and ISP: messages per hour and open connections.

Every worker must see the same counts. With a Redis URL (RELAY_REDIS_URL,
which defaults to a Redis CELERY_BROKER_URL) they live in Redis, else in
the database. Both backends grant a slot only while the count is under
the limit, so concurrent workers never exceed it together.
"""

import uuid
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from sending import clock
from sending.models import RelayConnectionLease, RelayCounter

# A lease that a killed worker never released stops counting after this
# long; a connection carries at most one batch, which takes far less.
LEASE_SECONDS = 600
# An hour's counter is kept one more hour, then Redis drops it.
HOUR_KEY_SECONDS = 2 * 3600

# Grant min(wanted, limit - used) slots and return how many were granted.
TAKE_SLOTS_SCRIPT = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local granted = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used)
if granted <= 0 then return 0 end
redis.call('INCRBY', KEYS[1], granted)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return granted
"""
# Drop expired leases, then add one if fewer than the limit remain; return 1 when added.
OPEN_LEASE_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def counters():
    """Return the backend for this process's settings."""
    if settings.RELAY_REDIS_URL:
        return _redis_counters(settings.RELAY_REDIS_URL, settings.RELAY_REDIS_PREFIX)
    return DatabaseCounters()


@lru_cache(maxsize=4)
def _redis_counters(url, prefix):
    return RedisCounters(url, prefix)


class DatabaseCounters:
    def take_hourly_slots(self, isp, source_ip, hour, limit, wanted):
        """Count up to `wanted` messages in the hour starting at `hour`, staying within `limit`; return how many."""
        counter = self._counter(isp, source_ip, hour)
        while True:
            granted = min(wanted, limit - counter.count)
            if granted <= 0:
                return 0
            # Only the worker whose read is still current wins the update;
            # the others read again.
            won = RelayCounter.objects.filter(pk=counter.pk, count=counter.count).update(count=F("count") + granted)
            if won:
                return granted
            counter.refresh_from_db()

    def _counter(self, isp, source_ip, hour):
        try:
            with transaction.atomic():
                counter, _ = RelayCounter.objects.get_or_create(isp=isp, source_ip=source_ip, hour=hour)
        except IntegrityError:
            counter = RelayCounter.objects.get(isp=isp, source_ip=source_ip, hour=hour)
        return counter

    def open_connection(self, isp, source_ip, limit):
        """Take one of `limit` connection slots; return a token for close_connection, or None when all are taken."""
        now = clock.now()
        token = uuid.uuid4().hex
        RelayConnectionLease.objects.filter(isp=isp, source_ip=source_ip, expires_at__lte=now).delete()
        lease = RelayConnectionLease.objects.create(
            isp=isp, source_ip=source_ip, token=token, expires_at=now + timedelta(seconds=LEASE_SECONDS)
        )
        # Insert first, count after: two workers racing for the last slot
        # both see each other's lease, and the later one gives way.
        holders = list(
            RelayConnectionLease.objects.filter(isp=isp, source_ip=source_ip, expires_at__gt=now)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if lease.pk in holders:
            return token
        lease.delete()
        return None

    def close_connection(self, token):
        RelayConnectionLease.objects.filter(token=token).delete()


class RedisCounters:
    def __init__(self, url, prefix):
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self.take_script = self.client.register_script(TAKE_SLOTS_SCRIPT)
        self.lease_script = self.client.register_script(OPEN_LEASE_SCRIPT)

    def take_hourly_slots(self, isp, source_ip, hour, limit, wanted):
        key = f"{self.prefix}:hour:{isp}:{source_ip}:{hour:%Y%m%d%H}"
        return int(self.take_script(keys=[key], args=[wanted, limit, HOUR_KEY_SECONDS]))

    def open_connection(self, isp, source_ip, limit):
        now = clock.now().timestamp()
        token = f"{isp}|{source_ip}|{uuid.uuid4().hex}"
        args = [now, limit, now + LEASE_SECONDS, token, LEASE_SECONDS]
        if self.lease_script(keys=[self._lease_key(isp, source_ip)], args=args):
            return token
        return None

    def close_connection(self, token):
        isp, source_ip, _ = token.split("|")
        self.client.zrem(self._lease_key(isp, source_ip), token)

    def _lease_key(self, isp, source_ip):
        return f"{self.prefix}:connections:{isp}:{source_ip}"
