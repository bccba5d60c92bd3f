"""Matching of recipient events against the rules that react to them: webhooks and post-operations."""

import contextvars
import functools
from contextlib import contextmanager

from django.db.models import Prefetch

from integrations.models import RuleEvent
from lists.models import List, SubscriptionEvent
from mailup_sim import sql

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
    """Return the account's active rules for `rule_event` that fire on events of list `list_id`.

    An event of no list (`list_id` None) fires only rules without lists.
    Most events fire no rule, so a statement written once per process first
    checks that one exists. The rules are then found with a plain query,
    which costs Django less to build than a join on the lists, and their
    lists are read only when some rule exists.
    """
    if sql.fetch_value(_any_rule_sql(model), [account_id, rule_event, True]) is None:
        return []
    rules = model.objects.filter(account_id=account_id, event=rule_event, active=True)
    found = rules.prefetch_related(Prefetch("lists", queryset=List.objects.only("pk")))
    return [rule for rule in found if _listens_on(rule, list_id)]


@functools.cache
def _any_rule_sql(model):
    return f"SELECT 1 FROM {sql.table(model)} WHERE account_id = %s AND event = %s AND active = %s LIMIT 1"


def _listens_on(rule, list_id):
    """Tell whether a rule fires on events of `list_id`; a rule without lists fires on every list."""
    list_ids = {mailing_list.pk for mailing_list in rule.lists.all()}
    return not list_ids or list_id in list_ids
