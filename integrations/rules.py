"""Matching of recipient events against the rules that react to them: webhooks and post-operations."""

import contextvars
from contextlib import contextmanager

from django.db.models import Q

from integrations.models import RuleEvent
from lists.models import SubscriptionEvent

Kind = SubscriptionEvent.Kind

# A subscription request fires nothing: the Subscribe event comes with the confirmation.
RULE_EVENTS = {
    Kind.SUBSCRIBE: RuleEvent.SUBSCRIBE,
    Kind.CONFIRM: RuleEvent.SUBSCRIBE,
    Kind.UNSUBSCRIBE: RuleEvent.UNSUBSCRIBE,
    Kind.PROFILE_CHANGE: RuleEvent.CHANGE_PROFILE,
    Kind.DELETE: RuleEvent.DELETE,
}


# Rules found per (model, account, event, list), kept while a batch runs.
_batch_cache = contextvars.ContextVar("rule_batch_cache", default=None)


@contextmanager
def cached_rules():
    """Look up each rule set once inside the block, for batches such as imports that record thousands of events.

    A rule saved while the block runs takes effect from the next batch.
    """
    token = _batch_cache.set({})
    try:
        yield
    finally:
        _batch_cache.reset(token)


def matching_rules(model, event):
    """Return the active rules of `model` (Webhook or PostOperation) that the event fires.

    A rule matches when its event is the event's kind, its sources contain
    the event's source, and its lists are empty or contain the event's list.
    """
    rule_event = RULE_EVENTS.get(event.kind)
    if rule_event is None:
        return []

    cache = _batch_cache.get()
    key = (model, event.account_id, rule_event, event.list_id)
    rules = cache.get(key) if cache is not None else None
    if rules is None:
        rules = _find_rules(model, event.account_id, rule_event, event.list_id)
        if cache is not None:
            cache[key] = rules
    # The source filter is checked here because SQLite has no JSON `contains` lookup.
    return [rule for rule in rules if event.source in rule.sources]


def _find_rules(model, account_id, rule_event, list_id):
    on_list = Q(lists__isnull=True)
    if list_id is not None:
        on_list |= Q(lists=list_id)
    return list(model.objects.filter(on_list, account_id=account_id, event=rule_event, active=True).distinct())
