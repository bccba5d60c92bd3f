"""Validation and storage of webhook and post-operation settings, for the admin API and the control panel.

Each function takes plain JSON-like values, checks every field, and either
saves the whole rule in one transaction or raises ConfigurationError naming
the first invalid field, with nothing written.
"""

import logging
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from integrations.models import PostOperation, RuleEvent, Webhook
from lists.models import Source
from lists.validation import CONTROL_CHARACTERS, MAX_ID

logger = logging.getLogger(__name__)

MAX_PARAMETERS = 50
MAX_TEMPLATE_CHARS = 2000
MAX_KEY_CHARS = Webhook._meta.get_field("encryption_key").max_length
URL_VALIDATOR = URLValidator(schemes=["http", "https"])


class ConfigurationError(ValueError):
    """An invalid setting; `field` names it and the message states what is accepted."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- Webhooks ----------------------------------------------------------------


def save_webhook(account, data, webhook=None):
    """Create a webhook of the account from `data`, or update `webhook` with the keys `data` contains.

    Keys: event, sources, lists, method, url, parameters, encryption_key,
    active. A new webhook needs event, sources and url. Returns the webhook.
    """
    creating = webhook is None
    webhook = webhook or Webhook(account=account)
    _require(data, ("event", "sources", "url") if creating else ())
    _apply_rule_fields(webhook, data)
    if "method" in data:
        webhook.method = _read_choice(data, "method", Webhook.Method.values)
    if "url" in data:
        webhook.url = _read_url(data)
    if "parameters" in data:
        webhook.parameters = _read_parameters(data)
    if "encryption_key" in data:
        webhook.encryption_key = _read_string(data, "encryption_key", MAX_KEY_CHARS)
    lists = _read_lists(account, data, "lists")

    with transaction.atomic():
        webhook.save()
        if lists is not None:
            webhook.lists.set(lists)
    logger.info("webhook saved account=%s webhook=%s created=%s", account.console_id, webhook.pk, creating)
    return webhook


def describe_webhook(webhook):
    """Return the JSON shape of a webhook; the encryption key is reported as set or not, never shown."""
    return {
        **_describe_rule(webhook),
        "method": webhook.method,
        "url": webhook.url,
        "parameters": webhook.parameters,
        "encrypted": bool(webhook.encryption_key),
    }


# --- Post-operations ---------------------------------------------------------


def save_post_operation(account, data, post_operation=None):
    """Create a post-operation of the account from `data`, or update one with the keys `data` contains.

    Keys: event, sources, lists, subscribe_to, unsubscribe_from (list ids),
    active. A new post-operation needs event, sources and at least one
    target list. Returns the post-operation.
    """
    creating = post_operation is None
    post_operation = post_operation or PostOperation(account=account)
    _require(data, ("event", "sources") if creating else ())
    _apply_rule_fields(post_operation, data)
    lists = _read_lists(account, data, "lists")
    subscribe_to = _read_lists(account, data, "subscribe_to")
    unsubscribe_from = _read_lists(account, data, "unsubscribe_from")
    _check_has_action(post_operation, creating, subscribe_to, unsubscribe_from)

    with transaction.atomic():
        post_operation.save()
        for name, value in (("lists", lists), ("subscribe_to", subscribe_to), ("unsubscribe_from", unsubscribe_from)):
            if value is not None:
                getattr(post_operation, name).set(value)
    logger.info(
        "post-operation saved account=%s post_operation=%s created=%s", account.console_id, post_operation.pk, creating
    )
    return post_operation


def _check_has_action(post_operation, creating, subscribe_to, unsubscribe_from):
    if not creating:
        subscribe_to = post_operation.subscribe_to.all() if subscribe_to is None else subscribe_to
        unsubscribe_from = post_operation.unsubscribe_from.all() if unsubscribe_from is None else unsubscribe_from
    if not subscribe_to and not unsubscribe_from:
        raise ConfigurationError("subscribe_to", "give at least one list id in subscribe_to or unsubscribe_from.")


def describe_post_operation(post_operation):
    return {
        **_describe_rule(post_operation),
        "subscribe_to": sorted(post_operation.subscribe_to.values_list("list_id", flat=True)),
        "unsubscribe_from": sorted(post_operation.unsubscribe_from.values_list("list_id", flat=True)),
    }


# --- Shared fields -----------------------------------------------------------


def _apply_rule_fields(rule, data):
    if "event" in data:
        rule.event = _read_choice(data, "event", RuleEvent.values)
    if "sources" in data:
        rule.sources = _read_sources(data)
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise ConfigurationError("active", "must be true or false.")
        rule.active = data["active"]


def _describe_rule(rule):
    return {
        "id": rule.pk,
        "event": rule.event,
        "sources": rule.sources,
        "lists": sorted(rule.lists.values_list("list_id", flat=True)),
        "active": rule.active,
        "created_at": rule.created_at.isoformat(),
    }


def _require(data, names):
    for name in names:
        if name not in data:
            raise ConfigurationError(name, "is required.")


def _read_choice(data, name, choices):
    value = data[name]
    if value not in choices:
        raise ConfigurationError(name, f"must be one of {', '.join(choices)}; got {value!r}.")
    return value


def _read_sources(data):
    sources = data["sources"]
    if not isinstance(sources, list) or not sources:
        raise ConfigurationError("sources", f"must be a non-empty list of {', '.join(Source.values)}.")
    for source in sources:
        if source not in Source.values:
            raise ConfigurationError("sources", f"must contain only {', '.join(Source.values)}; got {source!r}.")
    return list(dict.fromkeys(sources))


def _read_lists(account, data, name):
    """Return the account's lists named by the ids in data[name], or None when the key is absent."""
    if name not in data:
        return None
    ids = data[name]
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ConfigurationError(name, "must be a list of list ids (integers).")
    # No list id exceeds MAX_ID, and past 2**63 a number would overflow SQLite's integer binding.
    if not all(1 <= list_id <= MAX_ID for list_id in ids):
        raise ConfigurationError(name, f"must contain list ids from 1 to {MAX_ID}.")
    lists = list(account.lists.filter(list_id__in=ids))
    missing = set(ids) - {mailing_list.list_id for mailing_list in lists}
    if missing:
        raise ConfigurationError(name, f"list {min(missing)} not found in account {account.console_id}.")
    return lists


def _read_url(data):
    url = data["url"]
    max_length = Webhook._meta.get_field("url").max_length
    if not isinstance(url, str) or len(url) > max_length:
        raise ConfigurationError("url", f"must be an http or https URL of at most {max_length} characters.")
    # URLValidator rejects tabs and line breaks but lets other control
    # characters through in the path. PostgreSQL cannot store NUL, and no
    # HTTP request line may carry a control character.
    if CONTROL_CHARACTERS.search(url):
        raise ConfigurationError("url", f"must not contain control characters; got {url!r}.")
    try:
        URL_VALIDATOR(url)
        # URLValidator accepts any number of digits as the port; urlsplit() raises above 65535.
        urlsplit(url).port
    except (ValidationError, ValueError):
        raise ConfigurationError("url", f"must be an http or https URL; got {url!r}.") from None
    return url


def _read_parameters(data):
    parameters = data["parameters"]
    if not isinstance(parameters, list) or len(parameters) > MAX_PARAMETERS:
        raise ConfigurationError("parameters", f"must be a list of at most {MAX_PARAMETERS} [name, template] pairs.")
    for pair in parameters:
        valid = (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(part, str) and "\x00" not in part for part in pair)
            and pair[0].strip()
            and len(pair[1]) <= MAX_TEMPLATE_CHARS
        )
        if not valid:
            raise ConfigurationError(
                "parameters",
                f"each entry must be [name, template] with a non-empty name, at most {MAX_TEMPLATE_CHARS} "
                f"characters of template and no NUL character; got {pair!r}.",
            )
    return [list(pair) for pair in parameters]


def _read_string(data, name, max_length):
    value = data[name]
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        raise ConfigurationError(name, f"must be a string of at most {max_length} characters, without NUL.")
    return value
