"""The only code that changes subscription state.

Every public function runs in one transaction, records a SubscriptionEvent
for each real change, and queues mail only after the transaction commits.
Frontend views, SOAP and REST handlers, imports and tasks call these
functions and translate their results and errors into their own protocol.
"""

import functools
import hashlib
import ipaddress
import logging
import secrets
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from integrations import post_operations, rules, webhooks
from lists import login_guard
from lists.errors import (
    AccessKeyInvalid,
    AccountNotActive,
    ActivationError,
    InvalidLink,
    GroupNotFound,
    InvalidParameter,
    ListBusy,
    ListNotFound,
    LoginFailed,
    NotSubscribed,
    RecipientNotFound,
    SubscriptionBlocked,
)
from lists.models import (
    AccessKey,
    Account,
    AccountUser,
    AllowedAddress,
    Channel,
    ConsoleHost,
    Group,
    GroupMembership,
    List,
    Recipient,
    Source,
    Subscription,
    SubscriptionEvent,
    WebService,
)
from lists.validation import MAX_ID, normalize_email
from mailup_sim import sql
from sending import services as sending_services
from sending import sms_queue

# Calls that change one recipient (subscribe, confirm, unsubscribe, profile
# updates) log at DEBUG, because the APIs take hundreds of them a second
# and one INFO line each would bury the rest of the log. List, group and
# account changes stay at INFO.
logger = logging.getLogger(__name__)

Status = Subscription.Status
Kind = SubscriptionEvent.Kind

# Reason codes of unsubscriptions that only the recipient can undo: bounces
# (8, 80 to 83) and spam complaints (16, 161, 162).
BLOCKING_REASON_PREFIXES = ("8", "16")
REASON_ADMINISTRATOR = "0"
# Console ids are 32-bit, so a longer number names no account. The bound
# also keeps int() away from its 4300-digit ValueError.
CONSOLE_HOST_NAME = re.compile(r"^c(\d{1,10})\.localhost$")
CONFIRMATION_SALT = "lists.confirm-subscription"
OPTOUT_SALT = "lists.optout-link"


@dataclass(frozen=True)
class Contact:
    """The person a call is about: a normalised e-mail address, a mobile number, or both."""

    email: str | None = None
    mobile_prefix: str = ""
    mobile_number: str | None = None

    @property
    def channels(self):
        found = []
        if self.email:
            found.append(Channel.EMAIL)
        if self.mobile_number:
            found.append(Channel.SMS)
        return found


@dataclass
class SubscribeRequest:
    account: Account
    lists: list
    contact: Contact
    source: str
    confirm: bool = True
    fields: dict = field(default_factory=dict)
    group_ids: list = field(default_factory=list)
    ip: str | None = None
    # The list whose single confirmation request confirms every list of the
    # call; None sends one request per list.
    confirm_list: object = None
    from_email: str = ""
    from_name: str = ""


class SubscribeOutcome:
    DONE = "done"
    ALREADY_SUBSCRIBED = "already_subscribed"


# --- Accounts and callers --------------------------------------------------


def find_account_for_host(host):
    """Return the account whose console host name is `host`, else the default account.

    `c<console id>.localhost` is every account's own name; aliases come from
    ConsoleHost. Returns None only when no default account exists either.
    """
    name = _strip_port(host).lower().rstrip(".")
    match = CONSOLE_HOST_NAME.match(name)
    # The console's own name, its alias and the default console, in that
    # order of preference, are read in one statement. NULL matches no console id.
    own_console_id = int(match.group(1)) if match else None
    found = sql.fetch_instances(
        Account, ACCOUNT_COLUMNS, _account_for_host_sql(), [own_console_id, name, settings.DEFAULT_CONSOLE_ID]
    )
    return found[0] if found else None


ACCOUNT_COLUMNS = sql.concrete_names(Account)


@functools.cache
def _account_for_host_sql():
    accounts = sql.table(Account)
    columns = sql.select_list(Account, ACCOUNT_COLUMNS, "account")
    return (
        f"SELECT {columns} FROM ("
        f"SELECT id, 1 AS preference FROM {accounts} WHERE console_id = %s "
        f"UNION ALL SELECT account_id, 2 FROM {sql.table(ConsoleHost)} WHERE name = %s "
        f"UNION ALL SELECT id, 3 FROM {accounts} WHERE console_id = %s"
        f") candidate JOIN {accounts} account ON account.id = candidate.id "
        "ORDER BY candidate.preference LIMIT 1"
    )


def _strip_port(host):
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def console_origin(account):
    """Return the scheme, console host and port that links written for `account` use."""
    public = urlsplit(settings.PUBLIC_ORIGIN)
    port = f":{public.port}" if public.port else ""
    return f"{public.scheme}://{account.console_host}{port}"


def make_optout_hash(recipient_id, list_id, message_id):
    """Sign the three values of an unsubscribe link with the server secret."""
    value = f"{recipient_id}:{list_id}:{message_id}"
    return salted_hmac(OPTOUT_SALT, value, algorithm="sha256").hexdigest()[:40]


def check_optout_hash(recipient_id, list_id, message_id, given):
    return constant_time_compare(make_optout_hash(recipient_id, list_id, message_id), given)


def optout_url(recipient, mailing_list, message_id):
    """Return the unsubscribe link of a recipient on a list; `message_id` 0 means no message."""
    signature = make_optout_hash(recipient.pk, mailing_list.list_id, message_id)
    return (
        f"{console_origin(mailing_list.account)}/frontend/optout.aspx"
        f"?id={recipient.pk}&idList={mailing_list.list_id}&idNL={message_id}&HASH={signature}"
    )


def is_frontend_caller_allowed(account, ip):
    """Tell whether `ip` may call the Xml* frontend pages of `account`."""
    if not account.frontend_ip_restricted:
        return True
    # The field's own preparation normalizes IPv6 addresses as the stored ones are.
    ip_value = AllowedAddress._meta.get_field("ip").get_db_prep_value(ip, connection)
    return sql.fetch_value(_frontend_caller_sql(), [account.pk, WebService.Name.FRONTEND, True, ip_value]) is not None


@functools.cache
def _frontend_caller_sql():
    return (
        f"SELECT 1 FROM {sql.table(WebService)} service "
        f"JOIN {sql.table(AllowedAddress)} address ON address.web_service_id = service.id "
        "WHERE service.account_id = %s AND service.name = %s AND service.enabled = %s AND address.ip = %s LIMIT 1"
    )


# --- Recipients --------------------------------------------------------------


def find_recipient(account, contact):
    """Return the recipient matching the contact's e-mail address, else its mobile number, else None."""
    if contact.email:
        found = sql.fetch_instances(Recipient, RECIPIENT_COLUMNS, _recipient_by_email_sql(), [account.pk, contact.email])
        if found:
            return found[0]
    if contact.mobile_number:
        return Recipient.objects.filter(
            account=account, mobile_prefix=contact.mobile_prefix, mobile_number=contact.mobile_number
        ).first()
    return None


RECIPIENT_COLUMNS = sql.concrete_names(Recipient)


@functools.cache
def _recipient_by_email_sql():
    # (account, email) is unique, so at most one row matches.
    columns = sql.select_list(Recipient, RECIPIENT_COLUMNS)
    return f"SELECT {columns} FROM {sql.table(Recipient)} WHERE account_id = %s AND email = %s"


def _get_or_create_recipient(account, contact):
    recipient = find_recipient(account, contact)
    if recipient is None:
        new_recipient = Recipient(
            account=account,
            email=contact.email,
            mobile_prefix=contact.mobile_prefix if contact.mobile_number else "",
            mobile_number=contact.mobile_number,
        )
        if sql.insert(new_recipient, skip_on_conflict=True) is not None:
            return new_recipient, True
        # A concurrent call created the same recipient between our lookup
        # and the insert; use theirs.
        recipient = find_recipient(account, contact)
        if recipient is None:
            raise IntegrityError(f"Recipient of account {account.pk} conflicts with a row that cannot be found.")

    _add_missing_channels(recipient, contact)
    return recipient, False


def _add_missing_channels(recipient, contact):
    """Attach the contact's e-mail or mobile to a recipient found by the other one."""
    changed = False
    if contact.email and not recipient.email:
        if not Recipient.objects.filter(account_id=recipient.account_id, email=contact.email).exists():
            recipient.email = contact.email
            changed = True
    if contact.mobile_number and not recipient.mobile_number:
        taken = Recipient.objects.filter(
            account_id=recipient.account_id, mobile_prefix=contact.mobile_prefix, mobile_number=contact.mobile_number
        ).exists()
        if not taken:
            recipient.mobile_prefix = contact.mobile_prefix
            recipient.mobile_number = contact.mobile_number
            changed = True
    if changed:
        recipient.save(update_fields=["email", "mobile_prefix", "mobile_number", "updated_at"])


def _apply_fields(recipient, fields):
    """Store field values; return the ids whose value changed."""
    changed = []
    for field_id, value in fields.items():
        key = str(field_id)
        if recipient.fields.get(key, "") != value:
            recipient.fields[key] = value
            changed.append(field_id)
    if changed:
        recipient.save(update_fields=["fields", "updated_at"])
    return changed


def _apply_groups(recipient, lists, group_ids, replace=False):
    """Add the recipient to the groups among `group_ids` that belong to `lists`.

    Ids of other lists' groups are ignored. With `replace`, memberships in
    the lists' other groups are removed. Returns (added ids, removed ids).
    """
    if not group_ids and not replace:
        # With no group to add or remove, both queries are skipped.
        return [], []

    list_groups = set(Group.objects.filter(list__in=lists).values_list("id", flat=True))
    wanted = [group_id for group_id in group_ids if group_id in list_groups]
    current = set(
        GroupMembership.objects.filter(recipient=recipient, group_id__in=list_groups).values_list("group_id", flat=True)
    )

    added = [group_id for group_id in wanted if group_id not in current]
    GroupMembership.objects.bulk_create([GroupMembership(group_id=gid, recipient=recipient) for gid in added])

    removed = []
    if replace:
        removed = sorted(current - set(wanted))
        GroupMembership.objects.filter(recipient=recipient, group_id__in=removed).delete()
    return added, removed


def record_event(recipient, mailing_list, kind, source, channel="", reason="", details=None):
    """Record one event and dispatch it to webhooks and post-operations; bulk imports call it when a post-operation listens."""
    return _record(recipient, mailing_list, kind, source, channel, reason, details=details)


def _record(recipient, mailing_list, kind, source, channel="", reason="", message_id=None, details=None):
    # An event caused by a post-operation carries its chain, which stops loops.
    details = {**(details or {}), **post_operations.chain_details()}
    event = SubscriptionEvent(
        account_id=recipient.account_id,
        list=mailing_list,
        recipient=recipient,
        kind=kind,
        channel=channel,
        source=source,
        reason=reason,
        message_id=message_id,
        details=details,
    )
    sql.insert(event)
    webhooks.dispatch_event(event)
    post_operations.dispatch_event(event)
    return event


def is_blocked(subscription):
    return subscription.status == Status.UNSUBSCRIBED and subscription.optout_reason.startswith(
        BLOCKING_REASON_PREFIXES
    )


# --- Subscribe and confirm ---------------------------------------------------


def subscribe(request):
    """Subscribe a contact to one or more lists, as xmlSubscribe.aspx and subscribe.aspx do.

    Returns SubscribeOutcome.ALREADY_SUBSCRIBED when every channel of the
    contact is already subscribed to every list (fields and groups are still
    applied), else SubscribeOutcome.DONE. Raises SubscriptionBlocked, with no
    change made, when a bounce or complaint unsubscribed the contact from
    one of the lists, and InvalidParameter when the address and the number
    belong to two different recipients.
    """
    with transaction.atomic():
        recipient, created = _get_or_create_recipient(request.account, request.contact)
        recipient = _lock_recipient(recipient, created)
        _raise_if_contact_split(recipient, request.contact)
        subscriptions = _lock_subscriptions(recipient, request.lists, request.contact.channels, created)
        _raise_if_blocked(subscriptions.values(), recipient)

        already = all(
            subscriptions.get((mailing_list.pk, channel)) is not None
            and subscriptions[(mailing_list.pk, channel)].status == Status.SUBSCRIBED
            for mailing_list in request.lists
            for channel in request.contact.channels
        )
        changed_lists, pending = _set_subscriptions(recipient, request, subscriptions)
        _apply_profile(recipient, request, changed_lists)
        _queue_confirmations(recipient, request, pending)

    logger.debug(
        "subscribe account=%s recipient=%s lists=%s source=%s created=%s outcome=%s",
        request.account.console_id,
        recipient.pk,
        [mailing_list.list_id for mailing_list in request.lists],
        request.source,
        created,
        "already" if already else "done",
    )
    return SubscribeOutcome.ALREADY_SUBSCRIBED if already else SubscribeOutcome.DONE


def _raise_if_contact_split(recipient, contact):
    """Raise InvalidParameter unless the recipient carries the contact's address and number.

    A recipient found by one of them lacks the other when another recipient
    already has it. Subscribing it anyway would subscribe the wrong person.
    """
    contact_mobile = (contact.mobile_prefix, contact.mobile_number)
    email_differs = contact.email and recipient.email != contact.email
    mobile_differs = contact.mobile_number and (recipient.mobile_prefix, recipient.mobile_number) != contact_mobile
    if email_differs or mobile_differs:
        raise InvalidParameter(
            "Sms",
            f"The e-mail address and the mobile number belong to different recipients "
            f"(recipient {recipient.pk} has only one of them).",
        )


def _raise_if_number_of_other_recipient(account, recipient, contact):
    """Raise InvalidParameter when the contact's mobile number belongs to a recipient other than `recipient`.

    find_recipient prefers the e-mail address, so a call naming one person's
    address and another's number would otherwise act on the first person's
    SMS channel and leave the number it named alone.
    """
    if not (contact.email and contact.mobile_number):
        return
    owner = find_recipient(account, Contact(mobile_prefix=contact.mobile_prefix, mobile_number=contact.mobile_number))
    if owner is not None and owner.pk != recipient.pk:
        raise InvalidParameter(
            "Sms",
            f"The e-mail address and the mobile number belong to different recipients ({recipient.pk} and {owner.pk}).",
        )


def _lock_recipient(recipient, created):
    """Return the recipient re-read and locked for this transaction.

    A row that this transaction has just inserted is locked and current
    already, so it is returned as it is.
    """
    if created:
        return recipient
    return Recipient.objects.select_for_update().get(pk=recipient.pk)


def _lock_subscriptions(recipient, lists, channels, created=False):
    """Return the recipient's subscriptions locked, as {(list pk, channel): Subscription}.

    A recipient that this transaction has just created has none, so no query is made.
    """
    if created:
        return {}
    rows = Subscription.objects.select_for_update().filter(recipient=recipient, list__in=lists, channel__in=channels)
    return {(row.list_id, row.channel): row for row in rows}


def _raise_if_blocked(subscriptions, recipient):
    for subscription in subscriptions:
        if is_blocked(subscription):
            raise SubscriptionBlocked(
                f"Recipient {recipient.pk} was unsubscribed from list {subscription.list_id} "
                f"with reason {subscription.optout_reason} and cannot be subscribed again by this call."
            )


def _set_subscriptions(recipient, request, subscriptions):
    """Move each (list, channel) of the call to pending or subscribed.

    Returns the ids of the lists whose state changed and the subscriptions
    that need a confirmation request.
    """
    now = timezone.now()
    changed_lists = set()
    pending = []
    for mailing_list in request.lists:
        for channel in request.contact.channels:
            subscription = subscriptions.get((mailing_list.pk, channel))
            if subscription is not None and subscription.status == Status.SUBSCRIBED:
                continue

            target = Status.PENDING if request.confirm else Status.SUBSCRIBED
            was = subscription.status if subscription else None
            subscription = _write_subscription(subscription, recipient, mailing_list, channel, target, request, now)
            if target == Status.PENDING:
                pending.append(subscription)
            if was != target:
                changed_lists.add(mailing_list.pk)
                kind = Kind.SUBSCRIBE_REQUEST if target == Status.PENDING else Kind.SUBSCRIBE
                _record(recipient, mailing_list, kind, request.source, channel=channel)
    return changed_lists, pending


def _write_subscription(subscription, recipient, mailing_list, channel, status, request, now):
    if subscription is None:
        subscription = Subscription(recipient=recipient, list=mailing_list, channel=channel)
    subscription.status = status
    subscription.source = request.source
    subscription.requested_at = now
    subscription.request_ip = request.ip
    if status == Status.SUBSCRIBED:
        subscription.optin_at = now
    # A pending subscription is no longer opted out either, so it keeps no
    # opt-out date or reason from an earlier unsubscription.
    subscription.optout_at = None
    subscription.optout_reason = ""
    subscription.optout_message_id = None
    if subscription.pk is None:
        sql.insert(subscription)
    else:
        subscription.save()
    return subscription


def _apply_profile(recipient, request, changed_lists):
    """Apply fields and groups; record a profile change on lists whose state did not change."""
    changed_fields = _apply_fields(recipient, request.fields)
    added_groups, _removed = _apply_groups(recipient, request.lists, request.group_ids)
    if not changed_fields and not added_groups:
        return

    details = {"fields": changed_fields, "groups_added": added_groups}
    for mailing_list in request.lists:
        if mailing_list.pk not in changed_lists:
            _record(recipient, mailing_list, Kind.PROFILE_CHANGE, request.source, details=details)


def _queue_confirmations(recipient, request, pending, sending=None):
    """Queue one confirmation request per list, or one for all lists when a confirm list is set.

    The request goes by e-mail. A recipient with only a mobile number gets
    it by SMS, at once, even when an import keeps its e-mail requests in a
    confirmation sending.
    """
    if not pending or not (recipient.email or recipient.mobile_number):
        return

    batches = _confirmation_batches(request, pending)
    now = timezone.now()
    for mailing_list, subscriptions in batches.values():
        token = make_confirmation_token(subscriptions, mailing_list.confirmation_link_hours)
        if recipient.email:
            sending_services.queue_confirmation_request(
                recipient, mailing_list, token, from_email=request.from_email, from_name=request.from_name, sending=sending
            )
        else:
            sending_services.send_sms_confirmation_request(recipient, mailing_list, token)
        _mark_confirmation_sent([subscription.pk for subscription in subscriptions], now)


def _confirmation_batches(request, pending):
    """Group pending subscriptions as {list pk: (list whose request carries them, subscriptions)}."""
    if request.confirm_list is not None:
        return {request.confirm_list.pk: (request.confirm_list, pending)}
    batches = {}
    for subscription in pending:
        batches.setdefault(subscription.list_id, (subscription.list, []))[1].append(subscription)
    return batches


def _mark_confirmation_sent(subscription_ids, now):
    # As QuerySet.update(), this leaves updated_at alone.
    sent_at = sql.prepare_value(Subscription, "confirmation_sent_at", now)
    with connection.cursor() as cursor:
        cursor.execute(_mark_confirmation_sent_sql(len(subscription_ids)), [sent_at, *subscription_ids])


@functools.cache
def _mark_confirmation_sent_sql(count):
    placeholders = ", ".join(["%s"] * count)
    return f"UPDATE {sql.table(Subscription)} SET confirmation_sent_at = %s WHERE id IN ({placeholders})"


def make_confirmation_token(subscriptions, valid_hours):
    expires = int(time.time()) + valid_hours * 3600
    payload = {"s": sorted(subscription.pk for subscription in subscriptions), "e": expires}
    return signing.dumps(payload, salt=CONFIRMATION_SALT, compress=True)


def renew_confirmation_token(token, valid_hours):
    """Return `token` signed again with a validity of `valid_hours` from now, or None when it is not ours.

    A request held back in a confirmation sending is sent when that sending
    starts, maybe days later; its link is valid from then.
    """
    try:
        payload = signing.loads(token, salt=CONFIRMATION_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), list):
        return None
    payload["e"] = int(time.time()) + valid_hours * 3600
    return signing.dumps(payload, salt=CONFIRMATION_SALT, compress=True)


def read_confirmation_token(token):
    """Return the subscription ids a confirmation token names, or raise InvalidLink."""
    try:
        payload = signing.loads(token, salt=CONFIRMATION_SALT)
    except signing.BadSignature:
        raise InvalidLink("The confirmation link is malformed or was altered.") from None

    ids = payload.get("s") if isinstance(payload, dict) else None
    expires = payload.get("e") if isinstance(payload, dict) else None
    if not isinstance(ids, list) or not isinstance(expires, int):
        raise InvalidLink("The confirmation link is malformed.")
    if expires < time.time():
        raise InvalidLink("The confirmation link has expired.")
    return ids


def confirm_subscriptions(token, ip=None):
    """Turn the pending subscriptions a confirmation link names into subscribed ones.

    Returns the lists now subscribed (including ones confirmed before).
    Raises InvalidLink when the token is bad or expired, or when none of its
    subscriptions is pending or subscribed any more.
    """
    ids = read_confirmation_token(token)
    with transaction.atomic():
        subscriptions = list(
            Subscription.objects.select_for_update().filter(pk__in=ids).select_related("list", "recipient")
        )
        live = [s for s in subscriptions if s.status in (Status.PENDING, Status.SUBSCRIBED)]
        if not live:
            raise InvalidLink("The subscriptions of this confirmation link no longer exist or were cancelled.")

        now = timezone.now()
        welcomed = set()
        for subscription in live:
            if subscription.status == Status.SUBSCRIBED:
                continue
            subscription.status = Status.SUBSCRIBED
            subscription.optin_at = now
            subscription.source = Source.RECIPIENT
            subscription.save(update_fields=["status", "optin_at", "source", "updated_at"])
            _record(subscription.recipient, subscription.list, Kind.CONFIRM, Source.RECIPIENT, channel=subscription.channel)
            if subscription.list.send_welcome and subscription.recipient.email and subscription.list_id not in welcomed:
                welcomed.add(subscription.list_id)
                sending_services.queue_welcome(subscription.recipient, subscription.list)

    logger.debug("confirm subscriptions=%s ip=%s", [s.pk for s in live], ip)
    return list(dict.fromkeys(s.list for s in live))


# --- Unsubscribe, update, check ----------------------------------------------


def unsubscribe(account, mailing_list, contact, source, reason=REASON_ADMINISTRATOR, message_id=None):
    """Unsubscribe the contact's channels from a list.

    Raises RecipientNotFound for an unknown contact and NotSubscribed when
    no channel of the call was subscribed or pending on the list.
    """
    with transaction.atomic():
        recipient = find_recipient(account, contact)
        if recipient is None:
            raise RecipientNotFound(f"No recipient with this address or number in account {account.console_id}.")
        _raise_if_number_of_other_recipient(account, recipient, contact)

        subscriptions = _lock_subscriptions(recipient, [mailing_list], contact.channels).values()
        active = [s for s in subscriptions if s.status != Status.UNSUBSCRIBED]
        if not active:
            raise NotSubscribed(f"Recipient {recipient.pk} is not subscribed to list {mailing_list.list_id}.")

        for subscription in active:
            _write_optout(subscription, reason, message_id)
            _record(recipient, mailing_list, Kind.UNSUBSCRIBE, source, subscription.channel, reason, message_id)
        if mailing_list.send_unsubscribe_confirmation and recipient.email:
            if any(s.channel == Channel.EMAIL for s in active):
                sending_services.queue_unsubscribe_confirmation(recipient, mailing_list)

    logger.debug(
        "unsubscribe account=%s list=%s recipient=%s source=%s reason=%s",
        account.console_id,
        mailing_list.list_id,
        recipient.pk,
        source,
        reason,
    )


def unsubscribe_recipient(recipient_id, mailing_list, source, reason, message_id=None):
    """Unsubscribe the e-mail channel of a recipient known by id, as unsubscribe links do.

    Returns False, changing nothing, when the recipient was not subscribed
    or pending on the list; raises RecipientNotFound for an unknown id.
    """
    recipient = Recipient.objects.filter(pk=recipient_id, account_id=mailing_list.account_id).first()
    if recipient is None or not recipient.email:
        raise RecipientNotFound(f"No recipient {recipient_id} with an e-mail address on list {mailing_list.list_id}.")

    try:
        unsubscribe(mailing_list.account, mailing_list, Contact(email=recipient.email), source, reason, message_id)
    except NotSubscribed:
        return False
    return True


def unsubscribe_for_report(recipient, lists, source, reason, message_id=None, details=None):
    """Unsubscribe a recipient's e-mail channel from `lists` because of a bounce or complaint report.

    `lists` is None for every list of the recipient's account. The source
    is Bounce or FBL, so webhooks can tell these events apart. Returns the
    lists whose subscription changed; a list where the address was already
    unsubscribed is left as it is, so a report read twice changes nothing.
    """
    with transaction.atomic():
        recipient = Recipient.objects.select_for_update().get(pk=recipient.pk)
        subscriptions = Subscription.objects.select_for_update().filter(recipient=recipient, channel=Channel.EMAIL)
        if lists is not None:
            subscriptions = subscriptions.filter(list__in=lists)
        changed = []
        for subscription in subscriptions.exclude(status=Status.UNSUBSCRIBED).select_related("list"):
            _write_optout(subscription, reason, message_id)
            _record(recipient, subscription.list, Kind.UNSUBSCRIBE, source, Channel.EMAIL, reason, message_id, details)
            changed.append(subscription.list)

    logger.info(
        "unsubscribe_for_report recipient=%s source=%s reason=%s lists=%s",
        recipient.pk,
        source,
        reason,
        [mailing_list.pk for mailing_list in changed],
    )
    return changed


def _write_optout(subscription, reason, message_id):
    subscription.status = Status.UNSUBSCRIBED
    subscription.optout_at = timezone.now()
    subscription.optout_reason = reason
    subscription.optout_message_id = message_id
    subscription.save(update_fields=["status", "optout_at", "optout_reason", "optout_message_id", "updated_at"])


def update_profile(account, mailing_list, contact, fields, group_ids, replace_groups, source):
    """Update fields and groups of a recipient who is on the list in any state.

    Returns True when something changed. Raises RecipientNotFound when the
    contact has no subscription on the list.
    """
    with transaction.atomic():
        recipient = find_recipient(account, contact)
        on_list = recipient is not None and Subscription.objects.filter(recipient=recipient, list=mailing_list).exists()
        if not on_list:
            raise RecipientNotFound(f"The recipient is not in list {mailing_list.list_id}.")
        _raise_if_number_of_other_recipient(account, recipient, contact)

        recipient = Recipient.objects.select_for_update().get(pk=recipient.pk)
        changed_fields = _apply_fields(recipient, fields)
        added, removed = _apply_groups(recipient, [mailing_list], group_ids, replace=replace_groups)
        changed = bool(changed_fields or added or removed)
        if changed:
            details = {"fields": changed_fields, "groups_added": added, "groups_removed": removed}
            _record(recipient, mailing_list, Kind.PROFILE_CHANGE, source, details=details)

    logger.debug(
        "update_profile account=%s list=%s recipient=%s changed=%s",
        account.console_id,
        mailing_list.list_id,
        recipient.pk,
        changed,
    )
    return changed


def subscription_status(account, mailing_list, contact):
    """Return the status of the contact's first channel on the list, or None when it is not there."""
    recipient = find_recipient(account, contact)
    if recipient is None or not contact.channels:
        return None
    subscription = Subscription.objects.filter(
        recipient=recipient, list=mailing_list, channel=contact.channels[0]
    ).first()
    return subscription.status if subscription else None


# --- Web-service activation --------------------------------------------------


ACTIVATION_ACCOUNT_STATUS_CODES = {
    Account.Status.SUSPENDED: -1003,
    Account.Status.INACTIVE: -1004,
    Account.Status.EXPIRED: -1005,
}
WEB_SERVICE_NAMES = {
    "frontend": WebService.Name.FRONTEND,
    "wsmailupimport": WebService.Name.IMPORT,
    "ws_mailupimport": WebService.Name.IMPORT,
}


def activate_web_service(username, password, ws_name, ip):
    """Activate a web service for the account of `username` and register the caller's IP.

    Returns the (account, WebService) pair. Raises ActivationError with
    MailUp's ReturnCode: -1001 unknown user, -1002 wrong password,
    -1003/-1004/-1005 account not active, -1006 unknown or disabled service,
    -1008 caller already registered, -1010 caller IP not usable.
    """
    account = _check_ws_credentials(username, password, client_ip=ip, api="frontend")

    service_name = WEB_SERVICE_NAMES.get(ws_name.strip().lower())
    if service_name is None:
        raise ActivationError(-1006, f"Unknown web service {ws_name[:40]!r}; use FrontEnd or WSMailUpImport.")
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise ActivationError(-1010, f"Cannot register caller address {ip!r}.") from None

    with transaction.atomic():
        service, _created = WebService.objects.select_for_update().get_or_create(account=account, name=service_name)
        if not service.enabled:
            raise ActivationError(-1006, f"{service_name} is not enabled for account {account.console_id}.")
        _address, added = service.allowed_addresses.get_or_create(ip=ip)
        if not added and service.active:
            raise ActivationError(-1008, f"{service_name} is already active for {ip}.")
        if not service.active:
            service.active = True
            service.activated_at = timezone.now()
            service.save(update_fields=["active", "activated_at"])

    logger.info("activate_web_service account=%s service=%s ip=%s", account.console_id, service_name, ip)
    return account, service


def authenticate_import_user(username, password, client_ip=None):
    """Return the account of a WSMailUpImport caller, or raise ActivationError with MailUp's ReturnCode.

    -1013 missing user or password, -1001 unknown user, -1002 wrong
    password, -1003/-1004/-1005 account not active, -1006 service not
    enabled, -1007 service not activated.
    """
    if not username or not password:
        raise ActivationError(-1013, "The Authentication header needs User and Password.")
    account = _check_ws_credentials(username, password, client_ip=client_ip, api="wsmailupimport")

    service = WebService.objects.filter(account=account, name=WebService.Name.IMPORT).first()
    if service is None or not service.enabled:
        raise ActivationError(-1006, f"WSMailUpImport is not enabled for account {account.console_id}.")
    if not service.active:
        raise ActivationError(-1007, f"WSMailUpImport is not activated for account {account.console_id}.")
    return account


def _check_ws_credentials(username, password, client_ip=None, api="frontend"):
    """Return the active account of a web-service user, or raise ActivationError (-1001 to -1005).

    With `client_ip`, failures count towards the panel login's lockout, and
    a user locked out from that address gets -1002 before any check.
    """
    name = username.strip().lower()
    if client_ip is not None and login_guard.is_locked_out(name, client_ip):
        raise ActivationError(-1002, login_guard.lockout_message(name))

    account = _account_for_ws_user(username)
    valid = account is not None and account.check_ws_password(password)
    if client_ip is not None:
        if valid:
            login_guard.record_success(name, client_ip)
        else:
            login_guard.record_failure(name, client_ip, api)
    if account is None:
        raise ActivationError(-1001, f"No account has the web-service user {username[:40]!r}.")
    if not valid:
        raise ActivationError(-1002, f"Wrong password for {account.ws_username}.")
    if account.status in ACTIVATION_ACCOUNT_STATUS_CODES:
        raise ActivationError(ACTIVATION_ACCOUNT_STATUS_CODES[account.status], f"Account is {account.status}.")
    return account


def _account_for_ws_user(username):
    name = username.strip().lower()
    if len(name) < 2 or name[0] != "a" or not (name[1:].isascii() and name[1:].isdigit()) or len(name) > 11:
        return None
    return Account.objects.filter(console_id=int(name[1:])).first()


# --- Lists and groups --------------------------------------------------------

# List settings that callers may set when they create or update a list.
LIST_SETTINGS = ("name", "description", "sender_name", "sender_email", "reply_to", "language")
# Settings a new list copies from a model list, besides LIST_SETTINGS.
LIST_COPIED_SETTINGS = (
    "default_prefix",
    "confirmation_link_hours",
    "send_welcome",
    "send_unsubscribe_confirmation",
)
LIST_COPIED_TEXTS = (
    "confirmation_subject",
    "confirmation_html",
    "welcome_subject",
    "welcome_html",
    "unsubscribe_subject",
    "unsubscribe_html",
)
LIST_NAME_MAX_LENGTH = 200


def find_list(account, list_id):
    """Return the list `list_id` of the account; raises ListNotFound."""
    found = next(iter(fetch_lists(account, [list_id])), None)
    if found is None:
        raise ListNotFound(f"List {list_id} does not exist in console {account.console_id}.")
    return found


def fetch_lists(account, list_ids):
    """Return the account's lists whose list_id is in `list_ids`, in no particular order, with `account` set.

    Ids outside 1 to MAX_ID name no list and are skipped, as the ORM does,
    because SQLite cannot bind integers of more than 64 bits.
    """
    valid_ids = sorted({list_id for list_id in list_ids if 0 < list_id <= MAX_ID})
    if not valid_ids:
        return []
    found = sql.fetch_instances(List, LIST_COLUMNS, _lists_by_id_sql(len(valid_ids)), [account.pk, *valid_ids])
    for mailing_list in found:
        mailing_list.account = account
    return found


LIST_COLUMNS = sql.concrete_names(List)


@functools.cache
def _lists_by_id_sql(count):
    placeholders = ", ".join(["%s"] * count)
    columns = sql.select_list(List, LIST_COLUMNS)
    return f"SELECT {columns} FROM {sql.table(List)} WHERE account_id = %s AND list_id IN ({placeholders})"


def find_group(account, group_id, mailing_list=None):
    """Return group `group_id` of the account, and of `mailing_list` when given; raises GroupNotFound."""
    groups = Group.objects.filter(pk=group_id, list__account=account).select_related("list")
    if mailing_list is not None:
        groups = groups.filter(list=mailing_list)
    found = groups.first() if 0 < group_id <= 2**63 - 1 else None
    if found is None:
        where = f"list {mailing_list.list_id}" if mailing_list is not None else f"console {account.console_id}"
        raise GroupNotFound(f"Group {group_id} does not exist in {where}.")
    return found


def find_groups(mailing_list, group_ids):
    """Return the groups of `mailing_list` with `group_ids`, in that order, from one query.

    Raises GroupNotFound for the first id that is not a group of the list.
    """
    in_range = [group_id for group_id in group_ids if 0 < group_id <= 2**63 - 1]
    groups = mailing_list.groups.filter(pk__in=in_range).select_related("list") if in_range else []
    found = {group.pk: group for group in groups}
    for group_id in group_ids:
        if group_id not in found:
            raise GroupNotFound(f"Group {group_id} does not exist in list {mailing_list.list_id}.")
    return [found[group_id] for group_id in group_ids]


def _clean_list_settings(values):
    """Validate the LIST_SETTINGS in `values` and return them; raises InvalidParameter naming the setting."""
    unknown = set(values) - set(LIST_SETTINGS)
    if unknown:
        raise InvalidParameter(sorted(unknown)[0], f"Unknown list setting {sorted(unknown)[0]!r}.")

    cleaned = {}
    for name, raw in values.items():
        value = str(raw).strip()
        if name == "name" and not value:
            raise InvalidParameter(name, "The list name is missing.")
        if name in ("sender_email", "reply_to") and (value or name == "sender_email"):
            value = normalize_email(value)
        if name == "language" and value.lower() not in ("it", "en"):
            raise InvalidParameter(name, f"Unknown list language {value[:20]!r}; use it or en.")
        if name in ("name", "sender_name"):
            value = value[:LIST_NAME_MAX_LENGTH]
        cleaned[name] = value.lower() if name == "language" else value
    return cleaned


def create_list_like(account, name, settings_from=None, copy_texts=False, values=None, auto_id=""):
    """Create a list in the account and return it.

    The new list takes its sender, language and opt-in settings from
    `settings_from` (a List), or else from the account's first list, and
    `values` (LIST_SETTINGS names) override them. `copy_texts` also copies
    the custom confirmation, welcome and unsubscribe texts. `auto_id` is
    the caller's key of SOAP CreateList, stored for find_lists_by_auto_id.
    Its list id is one more than the highest in the account. Raises
    InvalidParameter for a missing name, a bad setting or an `auto_id`
    longer than AUTO_ID_MAX_LENGTH.
    """
    cleaned = _clean_list_settings({**(values or {}), "name": name})
    cleaned["auto_id"] = _clean_auto_id(auto_id)
    with transaction.atomic():
        Account.objects.select_for_update().filter(pk=account.pk).first()
        model = settings_from or account.lists.order_by("list_id").first()
        fields = _list_defaults(account, model, copy_texts)
        fields.update(cleaned)
        if "sender_email" not in fields:
            raise InvalidParameter("sender_email", "The new list needs a sender address; the console has no list to copy it from.")
        highest = account.lists.aggregate(highest=Max("list_id"))["highest"] or 0
        created = List.objects.create(account=account, list_id=highest + 1, **fields)

    logger.info("create_list account=%s list=%s", account.console_id, created.list_id)
    return created


AUTO_ID_MAX_LENGTH = List._meta.get_field("auto_id").max_length


def _clean_auto_id(auto_id):
    auto_id = auto_id.strip()
    if len(auto_id) > AUTO_ID_MAX_LENGTH:
        raise InvalidParameter("autoId", f"autoId is longer than {AUTO_ID_MAX_LENGTH} characters.")
    return auto_id


def find_lists_by_auto_id(account, auto_id):
    """Return the account's lists that CreateList stored with `auto_id`, in list id order.

    The key is compared exactly, after stripping spaces, and is not unique,
    so every list created with it is returned. Raises InvalidParameter for
    an empty or too long key and ListNotFound when no list has it.
    """
    auto_id = _clean_auto_id(auto_id)
    if not auto_id:
        raise InvalidParameter("autoId", "Parameter 'autoId' is missing.")
    found = list(account.lists.filter(auto_id=auto_id).order_by("list_id"))
    if not found:
        raise ListNotFound(f"No list of console {account.console_id} was created with autoId {auto_id[:40]!r}.")
    return found


def _list_defaults(account, model, copy_texts):
    if model is None:
        return {"language": account.language, "sender_name": account.name}
    names = ("description", "sender_name", "sender_email", "reply_to", "language", *LIST_COPIED_SETTINGS)
    if copy_texts:
        names = (*names, *LIST_COPIED_TEXTS)
    return {name: getattr(model, name) for name in names}


def update_list_settings(mailing_list, values):
    """Change LIST_SETTINGS of a list and return the names changed; raises InvalidParameter."""
    cleaned = _clean_list_settings(values)
    changed = [name for name, value in cleaned.items() if getattr(mailing_list, name) != value]
    for name in changed:
        setattr(mailing_list, name, cleaned[name])
    if changed:
        mailing_list.save(update_fields=changed)
    logger.info("update_list list=%s changed=%s", mailing_list.pk, changed)
    return changed


def update_group(group, name=None, notes=None):
    """Rename a group or change its notes; None leaves a value as it is. Raises InvalidParameter for an empty name."""
    if name is not None:
        if not name.strip():
            raise InvalidParameter("groupName", "The group name is missing.")
        group.name = name.strip()[:200]
    if notes is not None:
        group.notes = notes
    group.save(update_fields=["name", "notes"])
    logger.info("update_group group=%s", group.pk)
    return group


def delete_group(group, delete_members=False):
    """Delete a group; with `delete_members`, also remove its members from the group's list.

    Removing a member deletes its subscriptions to the list and its other
    groups there, and records a delete event. Returns how many members
    were removed.
    """
    mailing_list = group.list
    with transaction.atomic():
        members = list(Recipient.objects.filter(group_memberships__group=group).order_by("pk"))
        if delete_members:
            Subscription.objects.filter(list=mailing_list, recipient__in=members).delete()
            GroupMembership.objects.filter(group__list=mailing_list, recipient__in=members).delete()
            for recipient in members:
                _record(recipient, mailing_list, Kind.DELETE, Source.API, details={"group_deleted": group.pk})
        group_id = group.pk
        sms_queue.withdraw_group_entries(group)
        sending_services.stop_sendings_of_group(group)
        group.delete()

    removed = len(members) if delete_members else 0
    logger.info("delete_group list=%s group=%s members_removed=%s", mailing_list.pk, group_id, removed)
    return removed


# --- SOAP access keys (MailupSend, MailupManage, MailupReport) ---------------

# MailUp's accessKey lasts 60 minutes from issue, and use does not extend it.
ACCESS_KEY_LIFETIME = timedelta(minutes=60)
# Expired keys are deleted this long after expiry, when the next key is issued.
ACCESS_KEY_RETENTION = timedelta(days=1)
API_USER_NAME = re.compile(r"^([am])([0-9]{1,10})$", re.IGNORECASE)


def authenticate_api_user(username, password, console_id=None, client_ip=None, api="soap"):
    """Return the account of a web-service user (`a1234`) or console user (`m1234`) whose password matches.

    `console_id`, when given, must be the account's console id. Raises
    LoginFailed for an unknown user, a wrong password or another console
    id, and AccountNotActive for a suspended, inactive or expired account.
    With `client_ip`, failures count towards the panel login's lockout, and
    a user locked out from that address gets LoginFailed before any check.
    `api` names the caller in the lockout records.
    """
    name = username.strip()
    if client_ip is not None and login_guard.is_locked_out(name.lower(), client_ip):
        raise LoginFailed(login_guard.lockout_message(name))

    try:
        account = _account_of_api_user(name, password)
    except LoginFailed:
        if client_ip is not None:
            login_guard.record_failure(name.lower(), client_ip, api)
        raise
    if client_ip is not None:
        login_guard.record_success(name.lower(), client_ip)

    if console_id is not None and console_id != account.console_id:
        raise LoginFailed(f"User {name} does not belong to console {console_id}.")
    if account.status != Account.Status.ACTIVE:
        raise AccountNotActive(f"Account {account.console_id} is {account.status}.")
    return account


def _account_of_api_user(name, password):
    match = API_USER_NAME.match(name)
    account = Account.objects.filter(console_id=int(match.group(2))).first() if match else None
    if account is None:
        raise LoginFailed(f"Unknown user {name[:40]!r}; use a<console id> or m<console id>.")

    if match.group(1).lower() == "a":
        valid = account.check_ws_password(password)
    else:
        member = account.members.select_related("user").filter(user__username=account.console_username).first()
        valid = member is not None and member.user.is_active and member.user.check_password(password)
    if not valid:
        raise LoginFailed(f"Wrong password for user {name}.")
    return account


def _access_key_digest(key):
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def open_access_key(account, username):
    """Issue a new accessKey for `account` and return it; only its digest is stored."""
    key = secrets.token_urlsafe(32)
    now = timezone.now()
    AccessKey.objects.filter(expires_at__lt=now - ACCESS_KEY_RETENTION).delete()
    AccessKey.objects.create(
        account=account,
        digest=_access_key_digest(key),
        username=username.strip()[:150],
        created_at=now,
        expires_at=now + ACCESS_KEY_LIFETIME,
    )
    logger.info("access key issued account=%s user=%s", account.console_id, username.strip()[:40])
    return key


def account_for_access_key(key):
    """Return the account of a valid accessKey.

    Raises AccessKeyInvalid when the key is unknown, expired or logged out,
    and AccountNotActive when its account was suspended since the login.
    """
    return _valid_access_key(key).account


def user_id_for_access_key(key):
    """Return the id of the user who opened a valid accessKey, as user_id_for_name numbers it."""
    found = _valid_access_key(key)
    return user_id_for_name(found.account, found.username)


def _valid_access_key(key):
    found = (
        AccessKey.objects.select_related("account")
        .filter(digest=_access_key_digest(key or ""), logged_out_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if found is None:
        raise AccessKeyInvalid("The accessKey is unknown, expired or logged out; call Login or LoginFromId again.")
    if found.account.status != Account.Status.ACTIVE:
        raise AccountNotActive(f"Account {found.account.console_id} is {found.account.status}.")
    return found


def close_access_key(key):
    """End an accessKey at once (Logout); raises AccessKeyInvalid when it was not valid."""
    closed = AccessKey.objects.filter(
        digest=_access_key_digest(key or ""), logged_out_at__isnull=True, expires_at__gt=timezone.now()
    ).update(logged_out_at=timezone.now())
    if not closed:
        raise AccessKeyInvalid("The accessKey is unknown, expired or already logged out.")


# --- Account users, credits and user hashes ------------------------------------
#
# A user id is what MailUp's panel would show: the console id for the
# web-service user a<id>, and the user's own id for a control-panel user
# (the console user m<id> and any other member of the account).

USER_HASH_SALT = "lists.services.user_hash"


def user_id_for_name(account, username):
    """Return the id of the account's user `username`, or None when the account has no such user."""
    name = username.strip().lower()
    if name == account.ws_username:
        return account.console_id
    return AccountUser.objects.filter(account=account, user__username__iexact=name).values_list("user_id", flat=True).first()


def is_account_user(account, user_id):
    """Tell whether `user_id` is the id of one of the account's users, as user_id_for_name numbers them."""
    if user_id == account.console_id:
        return True
    return 0 < user_id <= MAX_ID and AccountUser.objects.filter(account=account, user_id=user_id).exists()


def make_user_hash(account, user_id):
    """Return the hash of SOAP GetUserAccess: an HMAC of the console id and the user id keyed with SECRET_KEY.

    It is valid only for that user of that account, does not expire, and
    changes when SECRET_KEY does.
    """
    return salted_hmac(USER_HASH_SALT, f"{account.console_id}:{user_id}", algorithm="sha256").hexdigest()


def check_user_hash(account, user_id, given):
    """Tell whether `given` is make_user_hash of that account and user, compared in constant time."""
    return constant_time_compare(make_user_hash(account, user_id), given.strip())


class Credits(NamedTuple):
    total: int
    by_list: dict  # list_id → credits of that list


def account_credits(account):
    """Return the account's credits in total and by list id.

    mailup-sim sells nothing, so every count is 0. REST
    Authentication/Details and SOAP GetCredits and GetCreditsLists read them here.
    """
    list_ids = account.lists.order_by("list_id").values_list("list_id", flat=True)
    return Credits(total=0, by_list={list_id: 0 for list_id in list_ids})


# --- REST API v1.1 -----------------------------------------------------------
#
# MailUp's REST calls fire no webhooks. They record source API like the
# frontend pages, and their events carry REST_EVENT_DETAILS so that
# webhooks can tell them apart and skip them.

REST_EVENT_DETAILS = {"interface": "rest"}


def add_recipient(account, mailing_list, contact, fields, group_ids=(), confirm=False, name=""):
    """Add one recipient to a list as `POST …/Recipient` does, and return it.

    A contact new to the list becomes pending (with a confirmation request)
    when `confirm` is set, else subscribed. A contact already on the list
    keeps its status, whatever it is, and gets the fields and groups, and
    `name` unless it is empty. Raises InvalidParameter when the address and
    the number belong to two different recipients.
    """
    _raise_if_two_recipients(account, contact)
    with transaction.atomic():
        recipient, created = _get_or_create_recipient(account, contact)
        recipient = _lock_recipient(recipient, created)
        subscriptions = _lock_subscriptions(recipient, [mailing_list], contact.channels, created)

        request = SubscribeRequest(
            account=account, lists=[mailing_list], contact=contact, source=Source.API, confirm=confirm
        )
        pending = []
        now = timezone.now()
        for channel in contact.channels:
            if (mailing_list.pk, channel) in subscriptions:
                continue
            target = Status.PENDING if confirm else Status.SUBSCRIBED
            subscription = _write_subscription(None, recipient, mailing_list, channel, target, request, now)
            kind = Kind.SUBSCRIBE_REQUEST if target == Status.PENDING else Kind.SUBSCRIBE
            _record(recipient, mailing_list, kind, Source.API, channel=channel, details=REST_EVENT_DETAILS)
            if target == Status.PENDING:
                pending.append(subscription)

        _apply_name(recipient, name)
        _apply_rest_profile(recipient, mailing_list, fields, group_ids)
        _queue_confirmations(recipient, request, pending)

    logger.debug(
        "add_recipient account=%s list=%s recipient=%s confirm=%s",
        account.console_id,
        mailing_list.list_id,
        recipient.pk,
        confirm,
    )
    return recipient


def _raise_if_two_recipients(account, contact):
    if not (contact.email and contact.mobile_number):
        return
    by_email = find_recipient(account, Contact(email=contact.email))
    by_mobile = find_recipient(
        account, Contact(mobile_prefix=contact.mobile_prefix, mobile_number=contact.mobile_number)
    )
    if by_email is not None and by_mobile is not None and by_email.pk != by_mobile.pk:
        raise InvalidParameter(
            "MobileNumber",
            f"The e-mail address belongs to recipient {by_email.pk} and the mobile number to recipient {by_mobile.pk}.",
        )


def _apply_rest_profile(recipient, mailing_list, fields, group_ids):
    changed_fields = _apply_fields(recipient, fields)
    added_groups, _removed = _apply_groups(recipient, [mailing_list], list(group_ids))
    if changed_fields or added_groups:
        details = {"fields": changed_fields, "groups_added": added_groups, **REST_EVENT_DETAILS}
        _record(recipient, mailing_list, Kind.PROFILE_CHANGE, Source.API, details=details)


def find_account_recipient(account, recipient_id):
    """Return the recipient `recipient_id` of the account, or raise RecipientNotFound."""
    recipient = Recipient.objects.filter(account=account, pk=recipient_id).first()
    if recipient is None:
        raise RecipientNotFound(f"No recipient {recipient_id} in account {account.console_id}.")
    return recipient


def unsubscribe_by_id(mailing_list, recipient_id):
    """Unsubscribe the e-mail channel of a recipient from a list, by administrator action.

    Returns False, changing nothing, when the recipient was not subscribed
    or pending on the list. Raises RecipientNotFound for an unknown id.
    """
    recipient = find_account_recipient(mailing_list.account, recipient_id)
    with transaction.atomic():
        subscriptions = _lock_subscriptions(recipient, [mailing_list], [Channel.EMAIL]).values()
        active = [s for s in subscriptions if s.status != Status.UNSUBSCRIBED]
        for subscription in active:
            _write_optout(subscription, REASON_ADMINISTRATOR, None)
            _record(
                recipient,
                mailing_list,
                Kind.UNSUBSCRIBE,
                Source.API,
                subscription.channel,
                REASON_ADMINISTRATOR,
                details=REST_EVENT_DETAILS,
            )

    logger.info("unsubscribe_by_id list=%s recipient=%s changed=%s", mailing_list.pk, recipient.pk, bool(active))
    return bool(active)


def remove_from_group(group, recipient_id, source=Source.API):
    """Take a recipient out of a group; return False when it was not a member."""
    recipient = find_account_recipient(group.list.account, recipient_id)
    with transaction.atomic():
        deleted, _ = GroupMembership.objects.filter(group=group, recipient=recipient).delete()
        if deleted:
            details = _event_details(source, groups_removed=[group.pk])
            _record(recipient, group.list, Kind.PROFILE_CHANGE, source, details=details)

    logger.info("remove_from_group group=%s recipient=%s removed=%s", group.pk, recipient.pk, bool(deleted))
    return bool(deleted)


def remove_from_list(mailing_list, recipient_id):
    """Delete a recipient's subscriptions to a list and its memberships in the list's groups.

    The recipient stays in the account. Returns False when it was not on
    the list. Raises RecipientNotFound for an unknown id.
    """
    recipient = find_account_recipient(mailing_list.account, recipient_id)
    with transaction.atomic():
        deleted, _ = Subscription.objects.filter(recipient=recipient, list=mailing_list).delete()
        GroupMembership.objects.filter(recipient=recipient, group__list=mailing_list).delete()
        if deleted:
            _record(recipient, mailing_list, Kind.DELETE, Source.API, details=REST_EVENT_DETAILS)

    logger.info("remove_from_list list=%s recipient=%s removed=%s", mailing_list.pk, recipient.pk, bool(deleted))
    return bool(deleted)


def _event_details(source, **details):
    """Return event details, marked as REST calls when `source` is API (the REST handlers' default)."""
    if source == Source.API:
        details.update(REST_EVENT_DETAILS)
    return details


def update_recipient(account, recipient, contact, fields, name=""):
    """Change the address, mobile number, name and fields of a recipient; return it.

    Parts of `contact` that are empty are kept, and so is the name when
    `name` is empty. Raises InvalidParameter when the new address or number
    belongs to another recipient.
    """
    with transaction.atomic():
        recipient = Recipient.objects.select_for_update().get(pk=recipient.pk)
        changed = _change_contact(account, recipient, contact)
        if _apply_name(recipient, name):
            changed.append("name")
        changed_fields = _apply_fields(recipient, fields)
        if changed or changed_fields:
            details = {"fields": changed_fields, "contact": changed, **REST_EVENT_DETAILS}
            _record(recipient, None, Kind.PROFILE_CHANGE, Source.API, details=details)

    logger.debug("update_recipient account=%s recipient=%s", account.console_id, recipient.pk)
    return recipient


def _apply_name(recipient, name):
    """Store a non-empty `name` on the recipient; return whether it changed.

    An empty name keeps the stored one, because clients such as mailupy
    send `Name` empty with every update.
    """
    if not name or name == recipient.name:
        return False
    recipient.name = name
    Recipient.objects.filter(pk=recipient.pk).update(name=name, updated_at=timezone.now())
    return True


def _change_contact(account, recipient, contact):
    """Apply a new address or mobile number; return the names of what changed."""
    others = Recipient.objects.filter(account=account).exclude(pk=recipient.pk)
    changed = []
    if contact.email and contact.email != recipient.email:
        if others.filter(email=contact.email).exists():
            raise InvalidParameter("Email", f"Another recipient already has the address {contact.email}.")
        recipient.email = contact.email
        changed.append("email")
    new_mobile = (contact.mobile_prefix, contact.mobile_number)
    if contact.mobile_number and new_mobile != (recipient.mobile_prefix, recipient.mobile_number):
        if others.filter(mobile_prefix=contact.mobile_prefix, mobile_number=contact.mobile_number).exists():
            raise InvalidParameter("MobileNumber", "Another recipient already has this mobile number.")
        recipient.mobile_prefix, recipient.mobile_number = new_mobile
        changed.append("mobile")
    if changed:
        recipient.save(update_fields=["email", "mobile_prefix", "mobile_number", "updated_at"])
    return changed


def create_group(mailing_list, name, notes=""):
    """Create a group in a list and return it; raises InvalidParameter for an empty name."""
    name = name.strip()
    if not name:
        raise InvalidParameter("Name", "The group name is missing.")
    group = Group.objects.create(list=mailing_list, name=name[:200], notes=notes)
    logger.info("create_group list=%s group=%s", mailing_list.pk, group.pk)
    return group


def remove_from_all_lists(account, recipient_id):
    """Delete every subscription and group membership of a recipient; the recipient stays in the account.

    Returns the number of subscriptions deleted. Raises RecipientNotFound for an unknown id.
    """
    recipient = find_account_recipient(account, recipient_id)
    with transaction.atomic():
        lists = {subscription.list for subscription in recipient.subscriptions.select_related("list")}
        deleted, _ = Subscription.objects.filter(recipient=recipient).delete()
        GroupMembership.objects.filter(recipient=recipient).delete()
        for mailing_list in lists:
            _record(recipient, mailing_list, Kind.DELETE, Source.API, details=REST_EVENT_DETAILS)

    logger.info("remove_from_all_lists account=%s recipient=%s deleted=%s", account.console_id, recipient.pk, deleted)
    return deleted


def force_subscribe(mailing_list, recipient_id, source=Source.API):
    """Subscribe a known recipient's e-mail channel to a list at once, without confirmation.

    Returns False, changing nothing, when it is already subscribed. Raises
    RecipientNotFound for an unknown id or a recipient without an address,
    and SubscriptionBlocked when a bounce or complaint unsubscribed it.
    """
    recipient = find_account_recipient(mailing_list.account, recipient_id)
    if not recipient.email:
        raise RecipientNotFound(f"Recipient {recipient.pk} has no e-mail address to subscribe.")

    with transaction.atomic():
        recipient = Recipient.objects.select_for_update().get(pk=recipient.pk)
        subscriptions = _lock_subscriptions(recipient, [mailing_list], [Channel.EMAIL])
        _raise_if_blocked(subscriptions.values(), recipient)
        subscription = subscriptions.get((mailing_list.pk, Channel.EMAIL))
        if subscription is not None and subscription.status == Status.SUBSCRIBED:
            return False

        request = SubscribeRequest(
            account=mailing_list.account,
            lists=[mailing_list],
            contact=Contact(email=recipient.email),
            source=source,
            confirm=False,
        )
        now = timezone.now()
        _write_subscription(subscription, recipient, mailing_list, Channel.EMAIL, Status.SUBSCRIBED, request, now)
        _record(recipient, mailing_list, Kind.SUBSCRIBE, source, channel=Channel.EMAIL, details=_event_details(source))

    logger.info("force_subscribe list=%s recipient=%s", mailing_list.pk, recipient.pk)
    return True


def add_to_group(group, recipient_id, source=Source.API):
    """Put a recipient of the account into a group; return False when it was a member already."""
    recipient = find_account_recipient(group.list.account, recipient_id)
    with transaction.atomic():
        _membership, created = GroupMembership.objects.get_or_create(group=group, recipient=recipient)
        if created:
            details = _event_details(source, groups_added=[group.pk])
            _record(recipient, group.list, Kind.PROFILE_CHANGE, source, details=details)

    logger.info("add_to_group group=%s recipient=%s added=%s", group.pk, recipient.pk, created)
    return created


# --- Bulk imports ------------------------------------------------------------
#
# Bulk imports (FTP files, SOAP WSMailUpImport, REST bulk recipients) record
# source Import and carry BULK_IMPORT_EVENT_DETAILS, so that webhooks can
# skip them: MailUp fires no webhooks for bulk imports. Post-operations whose
# sources include Import still run. The rules are here, and lists.bulk_import
# reads and writes whole batches with set-based SQL.

BULK_IMPORT_EVENT_DETAILS = {"interface": "bulk_import"}
REASON_IMPORTED_UNSUBSCRIBED = "4"
NEW = "new"


@dataclass(frozen=True)
class ImportRow:
    """One recipient of a bulk import; `status` None applies the import's flags (or the default rule)."""

    contact: Contact
    fields: dict = field(default_factory=dict)
    group_ids: tuple = ()
    status: str | None = None


@dataclass(frozen=True)
class ImportOptions:
    """The status flags and settings of one bulk import, with MailUp's names in the comments.

    `channels` are the channels whose subscriptions the import changes
    (importType 1, 2 or 3). `group_ids` are added to every row's groups
    (idGroups), and `replace_groups` (replaceGroups, removeFromPrevGroups)
    removes each recipient from the list's other groups.
    """

    confirm_email: bool = False  # ConfirmEmail: pending, with a confirmation request
    # The confirmation sending that keeps the requests of a REST import. None sends them at once.
    confirmation_sending_id: int | None = None
    as_pending: bool = False  # asPending
    as_opt_out: bool = False  # asOptOut, importType=asOptout
    force_opt_in: bool = False  # forceOptIn, importType=asOptin
    replace_groups: bool = False
    channels: tuple = (Channel.EMAIL, Channel.SMS)
    group_ids: tuple = ()


@dataclass(frozen=True)
class Transition:
    """What an import does to one channel in one state: the target status (None keeps it) and whether to send a confirmation request."""

    target: str | None
    request: bool = False


KEEP = Transition(None)


def import_transitions(options, row_status=None):
    """Return {current status or NEW: Transition} for one row.

    A row's own status (the `status` column of a file) wins over the flags.
    Otherwise the flags follow MailUp's matrix: with no flag, new recipients
    become subscribed and existing ones keep their status. A transition
    towards subscribed or pending from an unsubscription by a bounce or a
    complaint is rejected later, by the caller, whatever the flags say.
    """
    if row_status is not None:
        return _row_status_transitions(row_status)

    unsubscribe = Transition(Status.UNSUBSCRIBED)
    request_confirmation = Transition(Status.PENDING, request=True)
    if options.as_opt_out:
        new = unsubscribe
    elif options.confirm_email:
        new = request_confirmation
    elif options.as_pending:
        new = Transition(Status.PENDING)
    else:
        new = Transition(Status.SUBSCRIBED)

    subscribed = pending = unsubscribed = KEEP
    if options.as_opt_out:
        subscribed = unsubscribe
        pending = unsubscribe if options.as_pending else KEEP
    elif options.confirm_email:
        # The request goes to subscribed and pending recipients alike.
        subscribed = pending = request_confirmation
    elif options.as_pending:
        pending = Transition(Status.SUBSCRIBED)

    if options.force_opt_in and not options.as_opt_out:
        unsubscribed = request_confirmation if options.confirm_email else Transition(Status.SUBSCRIBED)
    return {NEW: new, Status.SUBSCRIBED: subscribed, Status.PENDING: pending, Status.UNSUBSCRIBED: unsubscribed}


def _row_status_transitions(row_status):
    if row_status == Status.SUBSCRIBED:
        target = Transition(Status.SUBSCRIBED)
        return {NEW: target, Status.SUBSCRIBED: KEEP, Status.PENDING: target, Status.UNSUBSCRIBED: target}
    if row_status == Status.PENDING:
        # A subscribed recipient stays subscribed: the request would only
        # ask them to confirm what they already did.
        target = Transition(Status.PENDING, request=True)
        return {NEW: target, Status.SUBSCRIBED: KEEP, Status.PENDING: KEEP, Status.UNSUBSCRIBED: target}
    target = Transition(Status.UNSUBSCRIBED)
    return {NEW: target, Status.SUBSCRIBED: target, Status.PENDING: target, Status.UNSUBSCRIBED: KEEP}


class ImportRowResult(NamedTuple):
    """The outcome of importing one row: `outcome` is created, updated, unchanged or rejected.

    `new_channels` lists the channels subscribed to the list for the first
    time, `existing_channels` those the recipient already had on the list,
    and `unsubscribed_channels` those that end unsubscribed. A named tuple
    rather than a dataclass, because an import makes one per row and a
    tuple is several times cheaper to create.
    """

    outcome: str
    reason: str = ""
    recipient_id: int | None = None
    new_channels: tuple = ()
    existing_channels: tuple = ()
    unsubscribed_channels: tuple = ()


def import_batch(mailing_list, rows, options=ImportOptions()):
    """Import rows into a list in one transaction; return one ImportRowResult per row, in order.

    Reads and writes the whole batch with a few set-based statements
    (lists.bulk_import). A row is rejected, with nothing written for it,
    when its address and number belong to two recipients, when none of its
    channels is imported, or when it would subscribe again a recipient that
    a bounce or complaint unsubscribed. Raises bulk_import.ConcurrentChange
    when another transaction created one of the same recipients meanwhile;
    the caller retries the batch.
    """
    from lists import bulk_import

    with transaction.atomic():
        return bulk_import.import_batch(mailing_list, rows, options)


def import_rows(mailing_list, rows):
    """Import rows with the default rule (no status flags); see import_batch."""
    return import_batch(mailing_list, rows)


def find_recipient_ids(account, contacts):
    """Return the ids of the account's recipients that the contacts name, by e-mail address or mobile number."""
    from lists import bulk_import

    emails = sorted({contact.email for contact in contacts if contact.email})
    numbers = sorted({contact.mobile_number for contact in contacts if contact.mobile_number})
    mobiles = {(contact.mobile_prefix, contact.mobile_number) for contact in contacts if contact.mobile_number}
    found = set()
    for recipient in bulk_import.store_for_connection().find_recipients(account.pk, emails, numbers, lock=False):
        if recipient.email in emails or (recipient.mobile_prefix, recipient.mobile_number) in mobiles:
            found.add(recipient.id)
    return found


def queue_import_confirmations(mailing_list, pending_by_recipient, sending_id=None):
    """Send one confirmation request per recipient for the subscriptions an import made pending.

    `pending_by_recipient` maps a recipient id to its Subscription rows.
    Called inside the import's transaction, so the mail leaves after commit.
    With `sending_id`, the requests wait in that confirmation sending
    until it is started, unless it has started already.
    """
    sending = sending_services.lock_confirmation_sending(sending_id) if sending_id else None
    recipients = Recipient.objects.in_bulk(list(pending_by_recipient))
    request = SubscribeRequest(account=mailing_list.account, lists=[mailing_list], contact=Contact(), source=Source.IMPORT)
    for recipient_id, subscriptions in pending_by_recipient.items():
        _queue_confirmations(recipients[recipient_id], request, subscriptions, sending)


def unsubscribe_absent(mailing_list, present_recipient_ids, batch_size=500):
    """Unsubscribe, by administrator action, every subscribed or pending recipient of the list not in the set.

    This is what a full import file does to the recipients it no longer
    contains. Returns the ids of the recipients unsubscribed.
    """
    active = Subscription.objects.filter(list=mailing_list, status__in=[Status.SUBSCRIBED, Status.PENDING])
    absent = [pk for pk, recipient_id in active.values_list("pk", "recipient_id") if recipient_id not in present_recipient_ids]

    unsubscribed = []
    for start in range(0, len(absent), batch_size):
        with transaction.atomic(), rules.cached_rules():
            batch = Subscription.objects.select_for_update().filter(
                pk__in=absent[start : start + batch_size], status__in=[Status.SUBSCRIBED, Status.PENDING]
            )
            for subscription in batch.select_related("recipient"):
                _write_optout(subscription, REASON_ADMINISTRATOR, None)
                _record(
                    subscription.recipient,
                    mailing_list,
                    Kind.UNSUBSCRIBE,
                    Source.IMPORT,
                    subscription.channel,
                    REASON_ADMINISTRATOR,
                    details=BULK_IMPORT_EVENT_DETAILS,
                )
                unsubscribed.append(subscription.recipient_id)

    logger.info("unsubscribe_absent list=%s unsubscribed=%s", mailing_list.pk, len(unsubscribed))
    return list(dict.fromkeys(unsubscribed))


# --- Lists and groups (control panel) ---------------------------------------


def create_list(account, values, group_names=()):
    """Create a list with the account's next list id, and its groups; return it.

    `values` maps List field names to values that a form has validated.
    """
    with transaction.atomic():
        # Locking the account row serialises list ids between two panels.
        Account.objects.select_for_update().filter(pk=account.pk).exists()
        last_id = account.lists.aggregate(last=Max("list_id"))["last"] or 0
        mailing_list = List.objects.create(account=account, list_id=last_id + 1, **values)
        for name in group_names:
            create_group(mailing_list, name)

    logger.info("create_list account=%s list=%s", account.console_id, mailing_list.list_id)
    return mailing_list


def update_list(mailing_list, values):
    """Change the settings of a list; `values` maps List field names to validated values."""
    with transaction.atomic():
        for name, value in values.items():
            setattr(mailing_list, name, value)
        mailing_list.save(update_fields=list(values))
    logger.info("update_list list=%s fields=%s", mailing_list.pk, sorted(values))


def delete_list(mailing_list):
    """Delete a list with its groups, subscriptions, messages and sendings; its recipients stay in the account.

    Raises ListBusy while a sending of the list is queued, being prepared or
    being sent, because its worker would keep writing delivery rows that the
    delete removes. A scheduled or paused sending is deleted with the list.
    """
    list_pk, list_id = mailing_list.pk, mailing_list.list_id
    busy = ListBusy(f"List {list_id} has a sending in progress; stop it or wait until it is done, then delete the list.")
    try:
        with transaction.atomic():
            if sending_services.lock_active_sendings(mailing_list):
                raise busy
            # Subscription events have no foreign key constraint. Imports and
            # subscribe calls lock the subscriptions they read, so deleting the
            # list's subscriptions first waits for them to commit. The delete below
            # then also sets the list of their new events to NULL.
            Subscription.objects.filter(list=mailing_list).delete()
            mailing_list.delete()
            # PostgreSQL checks the deferred foreign keys now rather than at COMMIT, so a
            # delivery row that a worker added meanwhile becomes ListBusy here.
            if connection.vendor == "postgresql":
                connection.check_constraints()
    except IntegrityError:
        raise busy from None
    logger.info("delete_list list=%s list_id=%s", list_pk, list_id)


# --- ListSecret of the transactional SMS API ----------------------------------


def create_sms_list_secret(mailing_list):
    """Give the list a ListSecret (a new GUID) unless it has one; return the list's secret.

    An existing secret is kept, so rotating one takes a remove first.
    """
    with transaction.atomic():
        locked = List.objects.select_for_update().get(pk=mailing_list.pk)
        created = not locked.sms_list_secret
        if created:
            locked.sms_list_secret = str(uuid.uuid4())
            locked.save(update_fields=["sms_list_secret"])

    mailing_list.sms_list_secret = locked.sms_list_secret
    if created:
        logger.info("sms list secret created account=%s list=%s", mailing_list.account.console_id, mailing_list.list_id)
    return locked.sms_list_secret


def remove_sms_list_secret(mailing_list):
    """Remove the list's ListSecret, which turns transactional SMS off for it; return whether it had one."""
    removed = List.objects.filter(pk=mailing_list.pk).exclude(sms_list_secret="").update(sms_list_secret="")
    mailing_list.sms_list_secret = ""
    if removed:
        logger.info("sms list secret removed account=%s list=%s", mailing_list.account.console_id, mailing_list.list_id)
    return bool(removed)


def move_to_group(recipient_id, from_group, to_group, source=Source.CONSOLE):
    """Move a recipient from one group to another group of the same list.

    Returns False, changing nothing, when the recipient is not in
    `from_group`. Raises InvalidParameter when the groups belong to two
    lists, and RecipientNotFound for an unknown id.
    """
    if from_group.list_id != to_group.list_id:
        raise InvalidParameter("Group", f"Groups {from_group.pk} and {to_group.pk} belong to different lists.")
    recipient = find_account_recipient(from_group.list.account, recipient_id)

    with transaction.atomic():
        deleted, _ = GroupMembership.objects.filter(group=from_group, recipient=recipient).delete()
        if not deleted:
            return False
        GroupMembership.objects.get_or_create(group=to_group, recipient=recipient)
        details = _event_details(source, groups_removed=[from_group.pk], groups_added=[to_group.pk])
        _record(recipient, from_group.list, Kind.PROFILE_CHANGE, source, details=details)

    logger.info("move_to_group recipient=%s from=%s to=%s", recipient.pk, from_group.pk, to_group.pk)
    return True
MESSAGE_ACTIVITY_KINDS = {Kind.OPEN, Kind.CLICK}


def record_message_activity(recipient, mailing_list, kind, message_id, details):
    """Record an open or a click of a campaign message as an event of the recipient.

    No webhook fires for these kinds. Raises ValueError for any other kind.
    """
    if kind not in MESSAGE_ACTIVITY_KINDS:
        raise ValueError(f"record_message_activity records opens and clicks, not {kind!r}.")
    return _record(recipient, mailing_list, kind, Source.RECIPIENT, Channel.EMAIL, message_id=message_id, details=details)


def find_or_create_recipient(account, email):
    """Return the account's recipient with this normalised address, creating one without subscriptions if needed.

    Transactional mail uses it: its recipients need no subscription, but
    deliveries and statistics name a recipient.
    """
    recipient, _created = _get_or_create_recipient(account, Contact(email=email))
    return recipient
