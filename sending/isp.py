"""Recognition of the mailbox provider (ISP) behind a recipient address.

An Isp row matches a recipient by its domain or, failing that, by the MX
hosts the built-in DNS zone gives for the domain, so a company domain
hosted by a provider is routed as that provider.
"""

import threading
import time
from fnmatch import fnmatchcase

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from sending import dns_zone
from sending.models import Isp

# Key stored on deliveries whose domain no Isp matches.
OTHER = "other"
# Other processes load a changed Isp row after this many seconds. This
# process reloads at once, because the signal handler below clears the cache.
CACHE_SECONDS = 30

_cache = {"isps": None, "loaded_at": 0.0, "domains": {}}
_lock = threading.Lock()


def domain_of(address):
    return address.rpartition("@")[2].strip().rstrip(".").lower()


def isp_for(address):
    """Return the key of the Isp that `address` belongs to, or OTHER."""
    domain = domain_of(address)
    with _lock:
        isps = _isps()
        known = _cache["domains"].get(domain)
    if known is not None:
        return known

    key = _match(isps, domain)
    with _lock:
        _cache["domains"][domain] = key
    return key


def _isps():
    stale = time.monotonic() - _cache["loaded_at"] > CACHE_SECONDS
    if stale or _cache["isps"] is None:
        _cache["isps"] = list(Isp.objects.order_by("key").values_list("key", "domains", "mx_hosts"))
        _cache["loaded_at"] = time.monotonic()
        _cache["domains"] = {}
    return _cache["isps"]


def _match(isps, domain):
    for key, domains, _mx_patterns in isps:
        if any(fnmatchcase(domain, pattern.lower()) for pattern in domains):
            return key

    hosts = dns_zone.resolve_mx(domain) if domain else []
    for key, _domains, mx_patterns in isps:
        if any(fnmatchcase(host, pattern.lower()) for host in hosts for pattern in mx_patterns):
            return key
    return OTHER


@receiver([post_save, post_delete], sender=Isp)
def _forget_isps(**kwargs):
    with _lock:
        _cache["isps"] = None
