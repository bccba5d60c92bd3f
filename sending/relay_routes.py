"""Which addresses and limits the relay uses for an ISP at a given time, from the IspRule rows.

A batch loads the rules once into a RouteTable and asks it per ISP.
Recipients that no rule covers leave from SENDING_SOURCE_IPS without
limits.
"""

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Prefetch
from django.utils import timezone

from sending.models import IspRule, SourceIp

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


@dataclass(frozen=True)
class Route:
    """The source addresses and the limits per address for the deliveries to one ISP."""

    isp: str
    addresses: tuple
    rule_id: int | None = None
    max_per_hour: int | None = None
    max_connections: int | None = None
    max_per_connection: int | None = None


class RouteTable:
    """The rules in force at `moment`, loaded once."""

    def __init__(self, moment):
        self.moment = moment
        self.local = timezone.localtime(moment)
        active_addresses = Prefetch("pool__addresses", queryset=SourceIp.objects.filter(active=True))
        rules = IspRule.objects.filter(active=True).select_related("isp", "warmup").prefetch_related(active_addresses)
        self.rules = [rule for rule in rules if rule_applies(rule, self.local)]

    def route(self, isp):
        """Return the Route for deliveries to the ISP whose key is `isp`."""
        own = [rule for rule in self.rules if rule.isp is not None and rule.isp.key == isp]
        general = [rule for rule in self.rules if rule.isp is None]
        for rule in own + general:
            addresses = tuple(address.address for address in rule.pool.addresses.all())
            if addresses:
                return self._from_rule(rule, isp, addresses)
        return Route(isp=isp, addresses=default_pool())

    def _from_rule(self, rule, isp, addresses):
        return Route(
            isp=isp,
            addresses=addresses,
            rule_id=rule.pk,
            max_per_hour=hourly_limit(rule, self.local.date()),
            max_connections=rule.max_connections,
            max_per_connection=rule.max_per_connection,
        )


def rule_applies(rule, local):
    """Return whether `rule`'s dates, weekdays and hours contain the local datetime `local`."""
    today = local.date()
    if rule.valid_from and today < rule.valid_from:
        return False
    if rule.valid_until and today > rule.valid_until:
        return False
    if rule.weekdays and local.isoweekday() not in rule.weekdays:
        return False
    return hour_in_window(local.hour, rule.hour_from, rule.hour_until)


def hour_in_window(hour, start, end):
    """Return whether `hour` is in [start, end), a window that may pass midnight; an open end means 24."""
    start = 0 if start is None else start
    end = 24 if end is None else end
    if start <= end:
        return start <= hour < end
    return hour >= start or hour < end


def hourly_limit(rule, today):
    """Return the messages per hour per address that `rule` allows on `today`, or None for no limit."""
    limits = [rule.max_per_hour]
    if rule.warmup is not None and rule.warmup_started_on is not None:
        limits.append(rule.warmup.hourly_limit_on((today - rule.warmup_started_on).days))
    limits = [limit for limit in limits if limit is not None]
    return min(limits) if limits else None


def default_pool():
    return _checked_pool(tuple(settings.SENDING_SOURCE_IPS))


@lru_cache(maxsize=8)
def _checked_pool(addresses):
    """Return the pool unchanged, or raise ImproperlyConfigured when it is empty or has a foreign address.

    0.0.0.0 lets the operating system choose, which a container needs when
    the sink runs in another container.
    """
    if not addresses:
        raise ImproperlyConfigured("SENDING_SOURCE_IPS is empty; set at least one address in 127.0.0.0/8.")
    for address in addresses:
        if not is_allowed_source(address, allow_any=True):
            raise ImproperlyConfigured(
                f"SENDING_SOURCE_IPS contains {address!r}; use addresses in 127.0.0.0/8, or 0.0.0.0."
            )
    return addresses


def is_allowed_source(address, allow_any=False):
    """Return whether `address` is an IPv4 address in 127.0.0.0/8 (or 0.0.0.0 with `allow_any`)."""
    if allow_any and address == "0.0.0.0":
        return True
    try:
        return ipaddress.ip_address(address) in LOOPBACK
    except ValueError:
        return False
