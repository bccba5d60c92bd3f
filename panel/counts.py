"""Counts over whole lists for the panel's pages: subscriptions by status and recipients in a target.

One grouped query over the (list, channel, status) index counts every list
of a page at once. Counting a list of 100,000 subscriptions still reads
100,000 index entries, so a count of CACHE_FROM_SUBSCRIPTIONS or more is
kept in Django's cache for COUNT_CACHE_SECONDS: the figures shown may lag
that long behind the list. Smaller counts are made on every request and
are always exact.
"""

from django.core.cache import cache
from django.db.models import Count

from lists.models import Channel, Subscription

COUNT_CACHE_SECONDS = 30
# Below this many subscriptions a count takes a few milliseconds (an estimate
# scaled down from bench/panel.py on 100,000), not worth a stale figure.
CACHE_FROM_SUBSCRIPTIONS = 10_000


def _cache_key(list_pk):
    return f"panel:subscription-counts:{list_pk}"


def subscription_counts(list_pks):
    """Return {list pk: {status: count}} for the e-mail channel of each list; a list without subscriptions maps to {}."""
    list_pks = list(list_pks)
    cached = cache.get_many([_cache_key(pk) for pk in list_pks])
    counts = {pk: cached[_cache_key(pk)] for pk in list_pks if _cache_key(pk) in cached}
    missing = [pk for pk in list_pks if pk not in counts]
    if not missing:
        return counts

    fresh = {pk: {} for pk in missing}
    rows = (
        Subscription.objects.filter(list_id__in=missing, channel=Channel.EMAIL)
        .values_list("list_id", "status")
        .annotate(total=Count("pk"))
        .order_by()
    )
    for list_pk, status, total in rows:
        fresh[list_pk][status] = total
    large = {_cache_key(pk): value for pk, value in fresh.items() if sum(value.values()) >= CACHE_FROM_SUBSCRIPTIONS}
    cache.set_many(large, COUNT_CACHE_SECONDS)
    return counts | fresh



def cached_count(key, count):
    """Return `count()`, reusing a result of CACHE_FROM_SUBSCRIPTIONS or more stored under `key` in the last COUNT_CACHE_SECONDS."""
    cache_key = f"panel:count:{key}"
    total = cache.get(cache_key)
    if total is None:
        total = count()
        if total >= CACHE_FROM_SUBSCRIPTIONS:
            cache.set(cache_key, total, COUNT_CACHE_SECONDS)
    return total


def cached_value(key, compute, large):
    """Return `compute()`, reusing the value stored under `key` in the last COUNT_CACHE_SECONDS when `large` is true."""
    if not large:
        return compute()
    cache_key = f"panel:value:{key}"
    value = cache.get(cache_key)
    if value is None:
        value = compute()
        cache.set(cache_key, value, COUNT_CACHE_SECONDS)
    return value
