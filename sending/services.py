"""Queueing and delivery records of system mail and campaigns.

A SystemMail row is written inside the caller's transaction and the
delivery task is enqueued only after that transaction commits, so a mail
exists exactly when the change that caused it exists. Campaigns follow the
same rule: a Sending and its Delivery rows exist before anything is sent,
and every attempt's outcome is written back to its Delivery.
"""

import logging
import mimetypes
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from functools import reduce
from operator import and_, or_

import css_inline

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.db.models import Case, Count, Exists, F, OuterRef, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.text import get_valid_filename
from django.utils.translation import gettext

from lists.models import Channel, GroupMembership, Recipient, Source, Subscription, SubscriptionEvent
from lists.validation import NAME_LINE_BREAKS, SINGLE_LINE_CONTROL_CHARACTERS
from mailup_sim import sql
from sending import campaign_rendering, clock, filters, outbox, relay_routes, tracking
from sending.errors import (
    AttachmentNotFound,
    InvalidAttachment,
    InvalidMessage,
    MessageNotFound,
    SendingNotFound,
    SendingStateError,
)
from sending.html_text import html_to_text
from sending.merge_tags import field_values, merge
from sending.models import (
    Attachment,
    Delivery,
    DeliveryAttempt,
    DeliveryEvent,
    Image,
    IpPool,
    IspRule,
    Message,
    SavedFilter,
    Sending,
    SinkMessage,
    SinkRule,
    SinkSms,
    SmsMessage,
    SmsSending,
    SourceIp,
    SystemMail,
    Tag,
    TrackedLink,
    WarmupSchedule,
)

logger = logging.getLogger(__name__)

Kind = SystemMail.Kind
Status = SystemMail.Status

# Temporary failures are retried after 1, 2, 4, ... 64 minutes: eight
# attempts spread over about two hours, then the mail is marked failed.
MAX_ATTEMPTS = 8
# A mail claimed this long ago by a worker that never reported back is
# assumed lost with that worker and is queued again.
CLAIM_TIMEOUT = timedelta(minutes=10)
# A queued mail whose task has not started after this long was probably
# lost by the broker, so the sweep enqueues it again.
QUEUE_GRACE = timedelta(minutes=1)


def queue_confirmation_request(recipient, mailing_list, token, from_email="", from_name="", sending=None):
    """Queue a confirmation request, or hold it in `sending` (a locked confirmation sending) until that starts."""
    held = sending is not None and sending.status in CONFIRMATION_WAITING
    return _queue(
        Kind.CONFIRMATION_REQUEST, recipient, mailing_list, {"token": token}, from_email, from_name, sending, held
    )


# The campaign code of each list's SMS message that carries confirmation
# requests, so that GetSMS and the statistics count them apart.
SMS_CONFIRMATION_CODE = "Confirmation request"


def send_sms_confirmation_request(recipient, mailing_list, token):
    """Text a recipient who has no e-mail address the link that confirms its pending subscriptions; return the SmsSending.

    The SMS goes to the sink in the caller's transaction, so a rollback
    takes it back with the subscription.
    """
    from lists import services as lists_services

    url = f"{lists_services.console_origin(mailing_list.account)}/frontend/confirm.aspx?code={token}"
    with translation.override(mailing_list.language):
        text = gettext("Confirm your subscription to %(list)s: %(url)s") % {"list": mailing_list.name, "url": url}
    message = sms_campaign_message(mailing_list, SMS_CONFIRMATION_CODE, text)
    # The text is final, so a list name such as "Club [campo1]" is not filled with the recipient's fields.
    return _deliver_sms(message, [recipient], None, text=text, merge_fields=False)


def queue_welcome(recipient, mailing_list):
    return _queue(Kind.WELCOME, recipient, mailing_list, {})


def queue_unsubscribe_confirmation(recipient, mailing_list):
    return _queue(Kind.UNSUBSCRIBE_CONFIRMATION, recipient, mailing_list, {})


def queue_trial_activation(to_email, language, context):
    """Store the mail that carries a trial console's activation link, which is sent after the caller's commit.

    `context` contains what the template shows: `name`, `email`,
    `activation_url` and `valid_hours`. The platform sends it, so it has no account, list or recipient.
    """
    mail = SystemMail(kind=Kind.TRIAL_ACTIVATION, to_email=to_email, language=language, context=context)
    sql.insert(mail)
    transaction.on_commit(lambda: outbox.publish_after_commit(mail.pk), robust=True)
    return mail


def _queue(kind, recipient, mailing_list, context, from_email="", from_name="", sending=None, held=False):
    mail = SystemMail(
        account_id=mailing_list.account_id,
        list=mailing_list,
        recipient=recipient,
        kind=kind,
        to_email=recipient.email,
        from_email=from_email,
        from_name=from_name,
        language=mailing_list.language,
        context=context,
        sending=sending,
        status=Status.HELD if held else Status.QUEUED,
    )
    sql.insert(mail)
    if not held:
        # The row is the outbox entry; the publisher enqueues its task in a batch, off the request thread.
        transaction.on_commit(lambda: outbox.publish_after_commit(mail.pk), robust=True)
    return mail


def _enqueue(mail_id, countdown=None):
    from sending.tasks import deliver_system_mail

    deliver_system_mail.apply_async((mail_id,), countdown=countdown)


def claim_system_mail(mail_id):
    """Mark a queued or deferred mail as being sent and return it.

    Returns None when another worker claimed it first or it is already final.
    """
    claimed = SystemMail.objects.filter(pk=mail_id, status__in=[Status.QUEUED, Status.DEFERRED]).update(
        status=Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    return SystemMail.objects.select_related("account", "list", "recipient").get(pk=mail_id)


def record_sent(mail, message_id, source_ip):
    SystemMail.objects.filter(pk=mail.pk, status=Status.SENDING).update(
        status=Status.SENT, sent_at=timezone.now(), message_id=message_id, source_ip=source_ip, last_error=""
    )
    logger.info("system mail sent mail=%s kind=%s list=%s message_id=%s", mail.pk, mail.kind, mail.list_id, message_id)


def record_failure(mail, error, permanent):
    """Defer the mail for another attempt, or mark it failed when the failure is permanent or attempts ran out."""
    if permanent or mail.attempts >= MAX_ATTEMPTS:
        SystemMail.objects.filter(pk=mail.pk).update(status=Status.FAILED, last_error=error[:2000])
        logger.warning("system mail failed mail=%s attempts=%s error=%s", mail.pk, mail.attempts, error)
        return

    delay = timedelta(minutes=2 ** (mail.attempts - 1))
    SystemMail.objects.filter(pk=mail.pk).update(
        status=Status.DEFERRED, next_attempt_at=timezone.now() + delay, last_error=error[:2000]
    )
    logger.info("system mail deferred mail=%s attempts=%s retry_in=%s error=%s", mail.pk, mail.attempts, delay, error)


def requeue_stalled_mail():
    """Enqueue every mail that is due but has no task: lost by the broker, due for retry, or left by a dead worker.

    Returns how many were enqueued. Enqueuing twice is harmless because a
    task sends only the mails it manages to claim.
    """
    now = timezone.now()
    SystemMail.objects.filter(status=Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT).update(
        status=Status.DEFERRED, next_attempt_at=now
    )
    due = SystemMail.objects.filter(
        Q(status=Status.QUEUED, created_at__lt=now - QUEUE_GRACE)
        | Q(status=Status.DEFERRED, next_attempt_at__lte=now)
    ).values_list("pk", flat=True)[:1000]

    ids = list(due)
    for mail_id in ids:
        _enqueue(mail_id)
    if ids:
        logger.info("requeued %s stalled system mails", len(ids))
    return len(ids)


# --- Campaigns: messages, sendings and deliveries ----------------------------

# How many due deliveries one sweep enqueues at most; the next sweep, a
# minute later, takes the rest.
SWEEP_LIMIT = 20_000

SendingStatus = Sending.Status
DeliveryStatus = Delivery.Status
PENDING_DELIVERY = [DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED]
# Deliveries of these sendings are neither claimed nor swept.
HALTED = [SendingStatus.PAUSED, SendingStatus.CANCELLED]
STOPPED_ERROR = "The sending was stopped before this delivery was attempted."


def create_message(mailing_list, subject, html="", text="", preheader="", tags=(), tracking=True, **options):
    """Store a newsletter of a list; a missing text part is generated from the HTML.

    `options` sets the other Message columns by name (note, embed,
    is_confirmation, use_dynamic_fields, tracking_params,
    tracking_protocols, fields). Tag names that the list lacks are added to it.
    """
    with transaction.atomic():
        message = Message.objects.create(
            list=mailing_list,
            subject=subject,
            html=html,
            text=text or html_to_text(html),
            preheader=preheader,
            tags=_ensure_tags(mailing_list, tags),
            tracking=tracking,
            **options,
        )
    logger.info("message created message=%s list=%s", message.pk, mailing_list.list_id)
    return message


def inline_css(html):
    """Return `html` with its <style> rules moved into style attributes, as mail clients need.

    @media rules stay in a <style> element, because they cannot be inlined
    and mobile layouts depend on them. Linked stylesheets are never
    fetched, because the platform reaches no outside host.
    """
    if not html.strip():
        return html
    inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)
    return inliner.inline(html)


def update_message(message, tags=None, **changes):
    """Change MESSAGE_COLUMNS of a message and return it.

    New HTML without a new text part regenerates the text part, because
    the old one would no longer match. `tags`, when given, replaces the
    message's tag names. Raises InvalidMessage for an unknown column or an
    empty subject.
    """
    unknown = set(changes) - MESSAGE_COLUMNS
    if unknown:
        raise InvalidMessage(f"Unknown message properties: {', '.join(sorted(unknown))}.")
    if "subject" in changes and not str(changes["subject"]).strip():
        raise InvalidMessage("The message subject is missing.")
    if "html" in changes and not changes.get("text"):
        changes["text"] = html_to_text(changes["html"])

    with transaction.atomic():
        for name, value in changes.items():
            setattr(message, name, value)
        if tags is not None:
            changes["tags"] = message.tags = _ensure_tags(message.list, tags)
        message.save(update_fields=[*changes, "updated_at"])
    logger.info("message updated message=%s fields=%s", message.pk, sorted(changes))
    return message


def find_message(mailing_list, message_id):
    """Return message `message_id` of a list; raises MessageNotFound."""
    found = mailing_list.messages.filter(pk=message_id).first() if 0 < message_id <= 2**63 - 1 else None
    if found is None:
        raise MessageNotFound(f"Message {message_id} does not exist in list {mailing_list.list_id}.")
    return found


def find_template(account, template_id):
    """Return template `template_id` of the account; raises MessageNotFound."""
    found = account.templates.filter(pk=template_id).first() if 0 < template_id <= 2**63 - 1 else None
    if found is None:
        raise MessageNotFound(f"Template {template_id} does not exist in console {account.console_id}.")
    return found


def find_sending(account, sending_id):
    """Return sending `sending_id` of one of the account's lists; raises SendingNotFound."""
    found = None
    if 0 < sending_id <= 2**63 - 1:
        found = Sending.objects.filter(pk=sending_id, list__account=account).select_related("message").first()
    if found is None:
        raise SendingNotFound(f"Delivery {sending_id} does not exist in console {account.console_id}.")
    return found


def subscribed_recipients_by_email(mailing_list, emails):
    """Return the recipients of the list's account with these lower-case addresses; unknown ones are left out."""
    return list(Recipient.objects.filter(account_id=mailing_list.account_id, email__in=list(emails)))


# The panel shows times in TIME_ZONE and Python's datetime ends at 9999-12-31,
# so a later start would make every page that lists the sending fail.
LATEST_SCHEDULE = datetime(9999, 12, 30, tzinfo=dt_timezone.utc)


def check_schedule(scheduled_at):
    """Return the start of a sending: `scheduled_at` when it is in the future, None (at once) for a past or missing time.

    A past time, such as .NET's DateTime.MinValue that some clients send for
    "no date", is not stored, because its UTC value may fall before year 1.
    Raises ValueError for a time at or after LATEST_SCHEDULE.
    """
    if scheduled_at is None or scheduled_at <= timezone.now():
        return None
    return check_schedule_limit(scheduled_at)


def check_schedule_limit(when):
    """Return `when`, or raise ValueError when it is at or after LATEST_SCHEDULE."""
    if when >= LATEST_SCHEDULE:
        raise ValueError(f"The start time {when.isoformat()} is too late; it must be before 9999-12-30 UTC.")
    return when


def lock_active_sendings(mailing_list):
    """Lock the list's queued, preparing and sending sendings until the transaction ends; return whether any exist."""
    active = [SendingStatus.QUEUED, SendingStatus.PREPARING, SendingStatus.SENDING]
    return bool(list(Sending.objects.select_for_update().filter(list=mailing_list, status__in=active).values_list("pk", flat=True)))


def queue_sending(
    message,
    groups=(),
    excluded_groups=(),
    recipients=(),
    filters=(),
    scheduled_at=None,
    from_email="",
    from_name="",
    filters_match=SavedFilter.Match.ALL,
):
    """Create a sending of `message` and start it now, or at `scheduled_at` when that is in the future.

    `groups` narrows the list to their members, `excluded_groups` removes
    theirs, `filters` (SavedFilter rows) keeps only the recipients that
    match every one of them, or any of them when `filters_match` is "any",
    and `recipients` (Recipient rows) replaces the target with those
    people. Recipients without a subscribed e-mail subscription to the
    list are skipped in every case. `from_email` and `from_name` replace
    the list's sender. Raises ValueError for a group or filter of another
    list, an unknown `filters_match`, a `from_name` with a line break or
    other control character, or a `scheduled_at` that check_schedule rejects.
    """
    _check_target_list(message.list, groups, excluded_groups, filters)
    _check_filters_match(filters_match)
    _check_sender_name(from_name)
    scheduled_at = check_schedule(scheduled_at)

    later = scheduled_at is not None
    with transaction.atomic():
        sending = Sending.objects.create(
            message=message,
            list_id=message.list_id,
            status=SendingStatus.SCHEDULED if later else SendingStatus.QUEUED,
            scheduled_at=scheduled_at,
            from_email=from_email,
            from_name=from_name,
            filters_match=filters_match,
        )
        sending.groups.set(groups)
        sending.excluded_groups.set(excluded_groups)
        sending.recipients.set(recipients)
        sending.filters.set(filters)
        if not later:
            transaction.on_commit(lambda: _enqueue_fan_out(sending.pk), robust=True)

    logger.info("sending queued sending=%s message=%s scheduled_at=%s", sending.pk, message.pk, scheduled_at)
    return sending


def _check_target_list(mailing_list, groups, excluded_groups, filters):
    for group in [*groups, *excluded_groups]:
        if group.list_id != mailing_list.pk:
            raise ValueError(f"Group {group.pk} does not belong to list {mailing_list.list_id}.")
    for saved_filter in filters:
        if saved_filter.list_id != mailing_list.pk:
            raise ValueError(f"Filter {saved_filter.pk} does not belong to list {mailing_list.list_id}.")


def _check_sender_name(from_name):
    # The name becomes the From header of every delivery: a line break would
    # make the campaign fail to build, and PostgreSQL cannot store NUL.
    if SINGLE_LINE_CONTROL_CHARACTERS.search(from_name) or NAME_LINE_BREAKS.search(from_name):
        raise ValueError(f"The sender name {from_name[:80]!r} must be one line without control characters.")


def _check_filters_match(filters_match):
    if filters_match not in SavedFilter.Match.values:
        raise ValueError(f"filters_match must be one of {', '.join(SavedFilter.Match.values)}; got {filters_match!r}.")


def find_saved_filters(mailing_list, filter_ids):
    """Return the saved filters of a list with these ids, in the given order; raises ValueError naming an unknown id."""
    found = {saved_filter.pk: saved_filter for saved_filter in SavedFilter.objects.filter(list=mailing_list, pk__in=filter_ids)}
    for filter_id in filter_ids:
        if filter_id not in found:
            raise ValueError(f"Filter {filter_id} does not exist in list {mailing_list.list_id}.")
    return [found[filter_id] for filter_id in dict.fromkeys(filter_ids)]


def _enqueue_fan_out(sending_id):
    from sending.tasks import prepare_sending

    prepare_sending.delay(sending_id)


def enqueue_deliveries(delivery_ids):
    """Hand the deliveries to delivery tasks in batches of SENDING_BATCH_SIZE."""
    from sending.tasks import deliver_batch

    size = settings.SENDING_BATCH_SIZE
    for start in range(0, len(delivery_ids), size):
        deliver_batch.delay(delivery_ids[start : start + size])


def claim_sending(sending_id):
    """Take the fan-out of a queued sending, or of one whose fan-out worker died; return it or None."""
    now = timezone.now()
    stale = Q(status=SendingStatus.PREPARING, claimed_at__lt=now - CLAIM_TIMEOUT)
    claimed = Sending.objects.filter(Q(status=SendingStatus.QUEUED) | stale, pk=sending_id).update(
        status=SendingStatus.PREPARING, claimed_at=now, started_at=Coalesce(F("started_at"), Value(now))
    )
    if not claimed:
        return None
    return Sending.objects.select_related("message", "list").get(pk=sending_id)


def target_recipients(sending):
    """Return a queryset of the recipients a sending reaches: subscribed by e-mail and inside its target."""
    return recipients_in_target(
        sending.list_id,
        group_ids=list(sending.groups.values_list("pk", flat=True)),
        excluded_group_ids=list(sending.excluded_groups.values_list("pk", flat=True)),
        saved_filters=list(sending.filters.all()),
        recipient_ids=sending.recipients.values("pk") if sending.recipients.exists() else None,
        filters_match=sending.filters_match,
    )


def count_target_recipients(
    mailing_list, groups=(), excluded_groups=(), filters=(), recipients=(), filters_match=SavedFilter.Match.ALL
):
    """Count the recipients a sending to this target would reach now, as `queue_sending` defines the target.

    Raises ValueError for a group or filter of another list or an unknown
    `filters_match`, as queue_sending does.
    """
    _check_target_list(mailing_list, groups, excluded_groups, filters)
    _check_filters_match(filters_match)
    recipients = list(recipients)
    return recipients_in_target(
        mailing_list.pk,
        group_ids=[group.pk for group in groups],
        excluded_group_ids=[group.pk for group in excluded_groups],
        recipient_ids=[recipient.pk for recipient in recipients] if recipients else None,
        saved_filters=list(filters),
        filters_match=filters_match,
    ).count()


def recipients_in_target(
    list_id, group_ids=(), excluded_group_ids=(), recipient_ids=None, saved_filters=(), filters_match="all"
):
    """Return a queryset of the list's recipients subscribed by e-mail, narrowed as a sending's target is.

    `group_ids` keeps members of any of those groups, `excluded_group_ids`
    drops members of any of those, `saved_filters` (SavedFilter rows) keeps
    those matching every one, or any one when `filters_match` is "any",
    and `recipient_ids` (ids or a subquery), when not None, keeps only
    those recipients. The panel counts this before a sending exists.
    """
    subscribed = Subscription.objects.filter(
        list_id=list_id, channel=Channel.EMAIL, status=Subscription.Status.SUBSCRIBED
    ).values("recipient_id")
    recipients = Recipient.objects.filter(pk__in=subscribed, email__isnull=False)

    if group_ids:
        recipients = recipients.filter(pk__in=GroupMembership.objects.filter(group_id__in=group_ids).values("recipient_id"))
    if excluded_group_ids:
        recipients = recipients.exclude(
            pk__in=GroupMembership.objects.filter(group_id__in=excluded_group_ids).values("recipient_id")
        )
    if saved_filters:
        recipients = filters.alias_fields(recipients, saved_filters)
        queries = [filters.filter_query(saved_filter) for saved_filter in saved_filters]
        combine = or_ if filters_match == SavedFilter.Match.ANY else and_
        recipients = recipients.filter(reduce(combine, queries))
    if recipient_ids is not None:
        recipients = recipients.filter(pk__in=recipient_ids)
    return recipients


# --- Saved filters -------------------------------------------------------------


def filter_recipients(saved_filter):
    """Return a queryset of the recipients of the filter's list, in any subscription state, that match it."""
    on_list = Subscription.objects.filter(list_id=saved_filter.list_id, channel=Channel.EMAIL).values("recipient_id")
    recipients = filters.alias_fields(Recipient.objects.filter(pk__in=on_list), [saved_filter])
    return recipients.filter(filters.filter_query(saved_filter))


def save_filter(mailing_list, name, conditions, match=SavedFilter.Match.ALL, saved_filter=None):
    """Create a saved filter of a list, or replace the name and conditions of `saved_filter`.

    Raises filters.FilterError naming the first invalid condition, and
    ValueError for an empty or duplicate name or an unknown `match`.
    """
    if saved_filter is not None and saved_filter.list_id != mailing_list.pk:
        raise ValueError(f"Filter {saved_filter.pk} does not belong to list {mailing_list.list_id}.")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValueError("name must be between 1 and 200 characters.")
    if match not in SavedFilter.Match.values:
        raise ValueError(f"match must be one of {', '.join(SavedFilter.Match.values)}.")
    field_names = {
        field_name.lower(): field_id
        for field_id, field_name in mailing_list.account.field_definitions.values_list("field_id", "name")
    }
    cleaned = filters.clean_conditions(conditions, field_names)

    with transaction.atomic():
        duplicates = SavedFilter.objects.filter(list=mailing_list, name=name)
        if saved_filter is not None:
            duplicates = duplicates.exclude(pk=saved_filter.pk)
        if duplicates.exists():
            raise ValueError(f"List {mailing_list.list_id} already has a filter named {name!r}.")
        saved_filter = saved_filter or SavedFilter(list=mailing_list)
        saved_filter.name = name
        saved_filter.match = match
        saved_filter.conditions = cleaned
        saved_filter.save()

    logger.info("saved filter stored filter=%s list=%s conditions=%s", saved_filter.pk, mailing_list.list_id, len(cleaned))
    return saved_filter


def delete_filter(saved_filter):
    """Delete a saved filter; raise ValueError while a sending that has not finished targets it.

    Such a sending reads its filters when it starts and when it resumes, and
    without this one it would reach more recipients than it was set up for.
    """
    finished = (SendingStatus.DONE, SendingStatus.CANCELLED)
    with transaction.atomic():
        waiting = saved_filter.sendings.exclude(status__in=finished).values_list("pk", flat=True)
        if waiting:
            raise ValueError(f"Sending {waiting[0]} has not finished and targets filter {saved_filter.name!r}.")
        saved_filter.delete()
    logger.info("saved filter deleted filter=%s list=%s", saved_filter.pk, saved_filter.list_id)


def fan_out(sending):
    """Create the deliveries of a claimed sending in batches and enqueue each batch after it commits.

    Safe to run again after a crash: the unique (sending, recipient) pair
    keeps every recipient to one delivery, and a delivery task only sends
    what it claims. Returns the number of deliveries the sending has, or
    for a confirmation sending the number of requests it released.
    """
    if sending.kind == Sending.Kind.CONFIRMATION:
        return release_confirmations(sending)

    recipients = target_recipients(sending).order_by("pk")
    last_id = 0
    while True:
        batch = list(recipients.filter(pk__gt=last_id).values_list("pk", "email")[: settings.SENDING_BATCH_SIZE])
        if not batch:
            break
        last_id = batch[-1][0]
        with transaction.atomic():
            # A sending stopped during its fan-out gets no more deliveries,
            # which would stay queued for good.
            if Sending.objects.filter(pk=sending.pk, status=SendingStatus.CANCELLED).exists():
                logger.info("fan-out ended by a stop sending=%s", sending.pk)
                return sending.deliveries.count()
            Delivery.objects.bulk_create(
                [Delivery(sending=sending, recipient_id=pk, to_email=email) for pk, email in batch],
                ignore_conflicts=True,
            )
            ids = list(
                Delivery.objects.filter(
                    sending=sending, recipient_id__in=[pk for pk, _email in batch], status=DeliveryStatus.QUEUED
                ).values_list("pk", flat=True)
            )
            transaction.on_commit(lambda ids=ids: enqueue_deliveries(ids), robust=True)

    total = sending.deliveries.count()
    Sending.objects.filter(pk=sending.pk, status=SendingStatus.PREPARING).update(
        status=SendingStatus.SENDING, prepared_at=timezone.now()
    )
    logger.info("sending prepared sending=%s deliveries=%s", sending.pk, total)
    finish_sending_if_done(sending.pk)
    return total


# --- Confirmation sendings: the confirmation requests of a REST import --------

# A confirmation sending in these states keeps new requests back.
CONFIRMATION_WAITING = [SendingStatus.PAUSED, SendingStatus.SCHEDULED]
CONFIRMATION_SUBJECT = "Confirmation request"


def create_confirmation_sending(mailing_list):
    """Create and return a paused sending to keep the confirmation requests of one import.

    Its message is the list's confirmation message (IsConfirmation), made
    on first use, because every sending names a message. Starting the
    sending (start_sending_now, or a due schedule) sends the requests.
    """
    message = Message.objects.filter(list=mailing_list, is_confirmation=True).order_by("pk").first()
    if message is None:
        message = create_message(mailing_list, CONFIRMATION_SUBJECT, is_confirmation=True, tracking=False)
    sending = Sending.objects.create(
        message=message, list=mailing_list, kind=Sending.Kind.CONFIRMATION, status=SendingStatus.PAUSED
    )
    logger.info("confirmation sending created sending=%s list=%s", sending.pk, mailing_list.pk)
    return sending


def lock_confirmation_sending(sending_id):
    """Lock and return a confirmation sending for the rest of the transaction, or None when it was deleted."""
    return Sending.objects.select_for_update().filter(pk=sending_id, kind=Sending.Kind.CONFIRMATION).first()


def release_confirmations(sending):
    """Queue every request held in a claimed confirmation sending and mark it done. Return how many were released.

    Requests an import adds after this are queued at once, because the
    sending is no longer waiting.
    """
    with transaction.atomic():
        lock_confirmation_sending(sending.pk)
        held = SystemMail.objects.filter(sending=sending, status=Status.HELD)
        _renew_held_links(held)
        mail_ids = list(held.values_list("pk", flat=True))
        held.update(status=Status.QUEUED)
        now = timezone.now()
        Sending.objects.filter(pk=sending.pk).update(status=SendingStatus.DONE, prepared_at=now, finished_at=now)
        transaction.on_commit(lambda: _publish_all(mail_ids), robust=True)

    logger.info("confirmation sending released sending=%s requests=%s", sending.pk, len(mail_ids))
    return len(mail_ids)


def _renew_held_links(held):
    """Start the validity of each held request's confirmation link now, when it is about to be sent."""
    from lists import services as lists_services

    renewed = []
    for mail in held.select_related("list").only("pk", "context", "list__confirmation_link_hours").iterator():
        token = lists_services.renew_confirmation_token(mail.context.get("token", ""), mail.list.confirmation_link_hours)
        if token is not None:
            mail.context = {**mail.context, "token": token}
            renewed.append(mail)
    SystemMail.objects.bulk_update(renewed, ["context"], batch_size=500)


def _publish_all(mail_ids):
    for mail_id in mail_ids:
        outbox.publish_after_commit(mail_id)


def claim_deliveries(delivery_ids):
    """Mark the due deliveries among `delivery_ids` as being sent and return them with their recipients.

    Rows that another worker holds, that are final, or whose retry time has
    not come are left alone, so running a batch twice sends nothing twice.
    """
    now = clock.now()
    due = Q(status=DeliveryStatus.QUEUED) | Q(status=DeliveryStatus.DEFERRED, next_attempt_at__lte=now)
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(due, pk__in=delivery_ids)
            .exclude(sending__status__in=HALTED)
            .values_list("pk", flat=True)
        )
        Delivery.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.SENDING,
            claimed_at=now,
            attempts=F("attempts") + 1,
            first_attempt_at=Coalesce(F("first_attempt_at"), Value(now)),
        )
    return list(Delivery.objects.filter(pk__in=ids).select_related("recipient").order_by("pk"))


def still_subscribed(deliveries):
    """Return the ids of the deliveries that may still be sent.

    Those are the deliveries of transactional sendings, and the campaign
    deliveries whose recipient is still subscribed to the list by e-mail.
    """
    by_sending = {}
    for delivery in deliveries:
        by_sending.setdefault(delivery.sending_id, []).append(delivery)

    allowed = set()
    transactional = set(
        Sending.objects.filter(pk__in=by_sending, kind=Sending.Kind.TRANSACTIONAL).values_list("pk", flat=True)
    )
    for sending_id, items in by_sending.items():
        if sending_id in transactional:
            # Transactional mail goes to whoever the caller named.
            allowed.update(item.pk for item in items)
            continue
        subscribed = set(
            Subscription.objects.filter(
                list__sendings=sending_id,
                channel=Channel.EMAIL,
                status=Subscription.Status.SUBSCRIBED,
                recipient_id__in=[item.recipient_id for item in items],
            ).values_list("recipient_id", flat=True)
        )
        allowed.update(item.pk for item in items if item.recipient_id in subscribed)
    return allowed


@dataclass
class AttemptResult:
    """The outcome of one try at a delivery: delivered when `error` is empty."""

    delivery: Delivery
    source_ip: str | None = None
    isp: str = ""
    message_id: str = ""
    error: str = ""
    permanent: bool = False
    smtp_code: int | None = None
    duration_ms: int | None = None


def record_delivered(delivery, message_id, source_ip, duration_ms=None, isp=""):
    """Mark a delivery delivered from `source_ip`, routed as `isp`, and log the attempt."""
    record_attempts([AttemptResult(delivery, source_ip, isp, message_id=message_id, duration_ms=duration_ms)])


def record_delivery_failure(delivery, error, permanent, source_ip=None, smtp_code=None, duration_ms=None, isp=""):
    """Defer the delivery for another attempt, or mark it failed when the failure is permanent or attempts ran out."""
    record_attempts(
        [AttemptResult(delivery, source_ip, isp, "", error, permanent, smtp_code, duration_ms)]
    )


# Delivery fields that recording a successful attempt writes.
DELIVERED_FIELDS = ["status", "delivered_at", "message_id", "source_ip", "isp", "smtp_code", "last_error"]


def record_attempts(results):
    """Write the outcomes of several attempts to their deliveries and the attempt log in one transaction.

    A delivery that is no longer being sent (the sweep took it back from
    a worker it thought dead) keeps its state, and no attempt is logged.
    """
    with transaction.atomic():
        attempts = _apply_delivered([result for result in results if not result.error])
        for result in results:
            attempt = _apply_failure(result) if result.error else None
            if attempt is not None:
                attempts.append(attempt)
        DeliveryAttempt.objects.bulk_create(attempts)


def _apply_delivered(results):
    """Mark delivered the deliveries of `results` that are still being sent; return their attempt rows.

    One UPDATE for the whole batch, because one per delivery was the
    largest cost of recording. The rows are locked first, so the sweep
    cannot take one back between the check and the write.
    """
    ids = [result.delivery.pk for result in results]
    sending = set(
        Delivery.objects.select_for_update().filter(pk__in=ids, status=DeliveryStatus.SENDING).values_list("pk", flat=True)
    )
    kept = [result for result in results if result.delivery.pk in sending]
    now = timezone.now()
    for result in kept:
        delivery = result.delivery
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.message_id = result.message_id
        delivery.source_ip = result.source_ip
        delivery.isp = result.isp
        delivery.smtp_code = 250
        delivery.last_error = ""
    _write_delivered([result.delivery for result in kept])
    return [_attempt_row(result, DeliveryAttempt.Outcome.DELIVERED, 250) for result in kept]


def _write_delivered(deliveries):
    """Write the DELIVERED_FIELDS of `deliveries` with one prepared UPDATE, run once per row.

    Django's bulk_update builds a CASE expression with one branch per row
    for every field, and building it took more than half of a worker's CPU
    time in bench/send.py (profiled with py-spy on a 2-core machine).
    """
    if not deliveries:
        return
    fields = [Delivery._meta.get_field(name) for name in DELIVERED_FIELDS]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {quote(Delivery._meta.db_table)} SET {assignments} WHERE {quote(Delivery._meta.pk.column)} = %s"
    rows = [
        [field.get_db_prep_save(getattr(delivery, field.attname), connection) for field in fields] + [delivery.pk]
        for delivery in deliveries
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _apply_failure(result):
    delivery = result.delivery
    # Temporary failures are retried after each of SENDING_RETRY_DELAYS in
    # turn (about four hours in all by default), then the delivery fails.
    retry_delays = settings.SENDING_RETRY_DELAYS
    final = result.permanent or delivery.attempts > len(retry_delays)
    values = {"last_error": result.error[:2000], "source_ip": result.source_ip, "smtp_code": result.smtp_code, "isp": result.isp}
    if final:
        values["status"] = DeliveryStatus.FAILED
    else:
        delay = timedelta(seconds=retry_delays[delivery.attempts - 1])
        values.update(status=DeliveryStatus.DEFERRED, next_attempt_at=clock.now() + delay)

    logger.info(
        "delivery %s delivery=%s sending=%s attempts=%s error=%s",
        "failed" if final else "deferred",
        delivery.pk,
        delivery.sending_id,
        delivery.attempts,
        result.error,
    )
    if not Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(**values):
        return None
    if result.permanent and result.smtp_code and result.smtp_code >= 500:
        # Imported here because the inbound package imports lists.services, which imports this module.
        from sending.inbound import processing

        processing.apply_smtp_rejection(delivery, result.smtp_code, result.error)
    outcome = DeliveryAttempt.Outcome.FAILED if final else DeliveryAttempt.Outcome.DEFERRED
    return _attempt_row(result, outcome, result.smtp_code)


def postpone_deliveries(deliveries, until, reason):
    """Put claimed deliveries back until `until` without spending a retry, because the relay's limits held them.

    Nothing was sent, so no attempt is logged and the claim's attempt count is taken back.
    """
    ids = [delivery.pk for delivery in deliveries]
    Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.DEFERRED, next_attempt_at=until, attempts=F("attempts") - 1, last_error=reason[:2000]
    )
    logger.info("deliveries postponed count=%s until=%s reason=%s", len(ids), until, reason)


def _attempt_row(result, outcome, smtp_code):
    return DeliveryAttempt(
        delivery=result.delivery,
        number=result.delivery.attempts,
        outcome=outcome,
        source_ip=result.source_ip,
        isp=result.isp,
        smtp_code=smtp_code,
        response=result.error[:500],
        duration_ms=result.duration_ms,
    )


def finish_sending_if_done(sending_id):
    """Mark a prepared sending done once none of its deliveries waits for an attempt."""
    if Delivery.objects.filter(sending_id=sending_id, status__in=PENDING_DELIVERY).exists():
        return False
    return bool(
        Sending.objects.filter(pk=sending_id, status=SendingStatus.SENDING).update(
            status=SendingStatus.DONE, finished_at=timezone.now()
        )
    )


def sweep_sendings():
    """Restart what a lost task, a dead worker or the clock left waiting; return how many tasks were enqueued.

    Starts scheduled sendings that are due, takes over fan-outs and
    deliveries whose worker stopped reporting, and enqueues deliveries that
    are queued without a task or due for a retry. Enqueuing twice is
    harmless because tasks act only on what they claim.
    """
    now = timezone.now()
    Sending.objects.filter(status=SendingStatus.SCHEDULED, scheduled_at__lte=now).update(status=SendingStatus.QUEUED)
    fan_outs = list(
        Sending.objects.filter(
            Q(status=SendingStatus.QUEUED, created_at__lt=now - QUEUE_GRACE)
            | Q(status=SendingStatus.QUEUED, scheduled_at__lte=now)
            | Q(status=SendingStatus.PREPARING, claimed_at__lt=now - CLAIM_TIMEOUT)
        ).values_list("pk", flat=True)
    )
    for sending_id in fan_outs:
        _enqueue_fan_out(sending_id)

    # Deliveries are claimed and retried on the relay's clock.
    relay_now = clock.now()
    claim_timeout = timedelta(seconds=settings.SENDING_CLAIM_TIMEOUT_SECONDS)
    Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=relay_now - claim_timeout).update(
        status=DeliveryStatus.DEFERRED, next_attempt_at=relay_now
    )
    due = list(
        Delivery.objects.filter(
            Q(status=DeliveryStatus.QUEUED, created_at__lt=now - QUEUE_GRACE)
            | Q(status=DeliveryStatus.DEFERRED, next_attempt_at__lte=relay_now)
        )
        .exclude(sending__status__in=HALTED)
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    enqueue_deliveries(due)

    for sending_id in Sending.objects.filter(status=SendingStatus.SENDING).values_list("pk", flat=True):
        finish_sending_if_done(sending_id)
    if fan_outs or due:
        logger.info("sweep enqueued sendings=%s deliveries=%s", len(fan_outs), len(due))
    return len(fan_outs) + len(due)


# --- Attachments -----------------------------------------------------------------

CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")
UNSAFE_FILENAME_CHARACTERS = re.compile(r"[\x00-\x1f\x7f/\\]")
# MailUp's help centre ("Can I attach files to an e-mail message?") allows up
# to 5 files per message, so slots run from 1 to 5.
MESSAGE_ATTACHMENT_SLOTS = 5


def add_attachment(message, filename, content, content_type="", slot=None):
    """Store a file in a slot of `message` and send it with every delivery of the message.

    `slot` is 1 to MESSAGE_ATTACHMENT_SLOTS; a file already there is
    replaced in the same transaction. Without `slot` the file takes the
    lowest free slot. The name loses any folder part and control
    characters, and a missing or malformed content type is guessed from
    the name. Raises InvalidAttachment (a ValueError) naming the field at
    fault: an empty name, a slot out of range or no free slot, or a file
    or message total over ATTACHMENT_MAX_BYTES or MESSAGE_ATTACHMENTS_MAX_BYTES.
    """
    try:
        clean_name = clean_filename(filename)
    except ValueError:
        raise InvalidAttachment(
            "filename", f"The file name {str(filename)[:40]!r} is empty without folders and control characters."
        ) from None
    if slot is not None:
        check_attachment_slot(slot)
    if len(content) > settings.ATTACHMENT_MAX_BYTES:
        raise InvalidAttachment(
            "content",
            f"Attachment {clean_name!r} has {len(content)} bytes; the limit is {settings.ATTACHMENT_MAX_BYTES}.",
        )
    content_type = (content_type or "").strip().lower()
    if not CONTENT_TYPE.match(content_type):
        content_type = guess_content_type(clean_name)

    with transaction.atomic():
        # Locking the message serializes concurrent uploads, so the total and the slots stay consistent.
        Message.objects.select_for_update().filter(pk=message.pk).first()
        stored = {attachment.slot: attachment for attachment in message.attachments.all()}
        slot = slot if slot is not None else _free_attachment_slot(message, stored)
        replaced = stored.pop(slot, None)
        _check_message_total(message, sum(attachment.size for attachment in stored.values()) + len(content))

        replaced_id = replaced.pk if replaced is not None else None
        if replaced is not None:
            _delete_attachment_row(replaced)
        attachment = Attachment(
            message=message, slot=slot, filename=clean_name, content_type=content_type, size=len(content)
        )
        attachment.file.save(_storage_filename(clean_name), ContentFile(content), save=False)
        attachment.save()

    logger.info(
        "attachment stored attachment=%s message=%s slot=%s bytes=%s replaced=%s",
        attachment.pk,
        message.pk,
        slot,
        len(content),
        replaced_id,
    )
    return attachment


def _storage_filename(filename):
    """Return a name for the stored file of `filename`, which the mail keeps as given.

    Django's storage keeps only letters, digits, `-`, `_` and `.`, and raises
    SuspiciousFileOperation when nothing is left of a name such as `???`.
    """
    try:
        return get_valid_filename(filename)
    except SuspiciousFileOperation:
        return "attachment"


def check_attachment_slot(slot):
    """Raise InvalidAttachment unless `slot` is an integer from 1 to MESSAGE_ATTACHMENT_SLOTS."""
    if isinstance(slot, bool) or not isinstance(slot, int) or not 1 <= slot <= MESSAGE_ATTACHMENT_SLOTS:
        raise InvalidAttachment(
            "slot", f"The attachment slot must be 1 to {MESSAGE_ATTACHMENT_SLOTS}, not {slot!r:.20}."
        )


def _free_attachment_slot(message, stored):
    free = [slot for slot in range(1, MESSAGE_ATTACHMENT_SLOTS + 1) if slot not in stored]
    if not free:
        raise InvalidAttachment(
            "slot", f"Message {message.pk} has no free attachment slot; all {MESSAGE_ATTACHMENT_SLOTS} are taken."
        )
    return free[0]


def _check_message_total(message, total):
    if total > settings.MESSAGE_ATTACHMENTS_MAX_BYTES:
        raise InvalidAttachment(
            "content",
            f"Message {message.pk} would carry {total} bytes of attachments; "
            f"the limit is {settings.MESSAGE_ATTACHMENTS_MAX_BYTES}.",
        )


def remove_attachment(attachment):
    """Delete an attachment row and, after the commit, its stored file."""
    attachment_id = attachment.pk
    with transaction.atomic():
        _delete_attachment_row(attachment)
    logger.info(
        "attachment removed attachment=%s message=%s slot=%s", attachment_id, attachment.message_id, attachment.slot
    )


def remove_attachment_in_slot(message, slot):
    """Delete the file in `slot` of `message`.

    Raises InvalidAttachment for a slot out of range and AttachmentNotFound
    when the slot is empty.
    """
    check_attachment_slot(slot)
    with transaction.atomic():
        # The same lock as add_attachment, so a replacement of this slot cannot slip in between.
        Message.objects.select_for_update().filter(pk=message.pk).first()
        attachment = message.attachments.filter(slot=slot).first()
        if attachment is None:
            raise AttachmentNotFound(f"No attachment in slot {slot} of message {message.pk}.")
        remove_attachment(attachment)


def _delete_attachment_row(attachment):
    """Delete the row now; models.delete_attachment_file removes its file once the caller's transaction commits."""
    attachment.delete()


def guess_content_type(filename):
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def clean_filename(filename):
    """Return the file name without folders or control characters, or raise ValueError when nothing is left."""
    name = UNSAFE_FILENAME_CHARACTERS.sub("", (filename or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if not name or name in (".", ".."):
        raise ValueError("filename is missing.")
    return name[:200]


# --- Tracking events -------------------------------------------------------------


def record_open(delivery_id, ip, user_agent):
    """Record that a delivery's open pixel was loaded; return the DeliveryEvent, or None for an unknown delivery."""
    delivery = _tracked_delivery(delivery_id)
    if delivery is None:
        return None
    return _record_tracking_event(delivery, DeliveryEvent.Kind.OPEN, ip, user_agent)


def record_click(delivery_id, link_number, ip, user_agent):
    """Record a click on link `link_number` of a delivery and return the URL to redirect to.

    The URL is the message's stored link with the recipient's merge tags
    filled. Returns None, recording nothing, for an unknown delivery or
    link, or when the filled link is no longer an http(s) URL.
    """
    delivery = _tracked_delivery(delivery_id)
    if delivery is None:
        return None
    sending = delivery.sending
    link = TrackedLink.objects.filter(message_id=sending.message_id, number=link_number).first()
    if link is None:
        return None

    url = _fill_link(link, delivery)
    if not tracking.TRACKABLE.match(url) or any(character in url for character in "\r\n\t "):
        logger.warning("click rejected delivery=%s link=%s: the filled link is not an http(s) URL", delivery.pk, link.number)
        return None
    _record_tracking_event(delivery, DeliveryEvent.Kind.CLICK, ip, user_agent, link=link, url=url)
    return url


def record_delivery_event(delivery, kind, ip=None, user_agent="", link=None, url=""):
    """Store one DeliveryEvent of `delivery` (a bounce, a complaint, an open or a click) and return it."""
    return DeliveryEvent.objects.create(
        delivery=delivery,
        sending_id=delivery.sending_id,
        recipient_id=delivery.recipient_id,
        kind=kind,
        link=link,
        url=url,
        ip=ip,
        user_agent=(user_agent or "")[:500],
    )


def _tracked_delivery(delivery_id):
    return Delivery.objects.select_related("sending__list__account", "recipient").filter(pk=delivery_id).first()


def _fill_link(link, delivery):
    sending = delivery.sending
    account = sending.list.account
    field_names = dict(account.field_definitions.values_list("field_id", "name"))
    values = campaign_rendering.recipient_values(account, sending.list, sending.message_id, field_names, delivery)
    return merge(link.url, values, escape_values=False)


def _record_tracking_event(delivery, kind, ip, user_agent, link=None, url=""):
    """Store the event and the matching recipient event in one transaction."""
    from lists import services as lists_services

    sending = delivery.sending
    activity = SubscriptionEvent.Kind.OPEN if kind == DeliveryEvent.Kind.OPEN else SubscriptionEvent.Kind.CLICK
    details = {"delivery": delivery.pk, "sending": sending.pk}
    if url:
        details["url"] = url
    with transaction.atomic():
        event = record_delivery_event(delivery, kind, ip, user_agent, link, url)
        lists_services.record_message_activity(delivery.recipient, sending.list, activity, sending.message_id, details)
    logger.info("%s recorded delivery=%s sending=%s link=%s", kind, delivery.pk, sending.pk, link.number if link else "")
    return event


def sending_statistics(sending):
    """Count a sending's deliveries: sent (at least one attempt), delivered, deferred, failed, bounced, queued."""
    counts = dict(
        sending.deliveries.values_list("status").annotate(total=Count("pk")).values_list("status", "total")
    )
    return progress_counters(counts, sending.deliveries.filter(attempts__gt=0).count())


def progress_counters(statuses, sent):
    """Turn {delivery status: deliveries} and the number sent into the counters of sending_statistics."""
    return {
        "total": sum(statuses.values()),
        "sent": sent,
        "queued": statuses.get(DeliveryStatus.QUEUED, 0) + statuses.get(DeliveryStatus.SENDING, 0),
        "delivered": statuses.get(DeliveryStatus.DELIVERED, 0),
        "deferred": statuses.get(DeliveryStatus.DEFERRED, 0),
        "failed": statuses.get(DeliveryStatus.FAILED, 0),
        "bounced": statuses.get(DeliveryStatus.BOUNCED, 0),
    }


def clear_sink(account):
    """Delete the messages the sink captured for one account, for a clean test run; return how many."""
    deleted, _ = SinkMessage.objects.filter(account_console_id=account.console_id).delete()
    logger.info("sink cleared account=%s messages=%s", account.console_id, deleted)
    return deleted


def clear_sms_sink(account):
    """Delete the SMS that the SMS sink captured for one account, for a clean test run, and return how many."""
    deleted, _ = SinkSms.objects.filter(account_console_id=account.console_id).delete()
    logger.info("sms sink cleared account=%s sms=%s", account.console_id, deleted)
    return deleted


def failed_sms_sendings(account, limit=50):
    """Return the newest SMS sendings of the account whose every attempt failed, with their message and list."""
    sendings = SmsSending.objects.filter(list__account=account, status=SmsSending.Status.FAILED)
    return list(sendings.select_related("message", "list").order_by("-pk")[:limit])


def pause_sending(sending):
    """Hold a sending that has not finished; return False when it is done, stopped or already paused.

    Deliveries already handed to the relay finish; the others wait.
    """
    active = [SendingStatus.SCHEDULED, SendingStatus.QUEUED, SendingStatus.PREPARING, SendingStatus.SENDING]
    paused = Sending.objects.filter(pk=sending.pk, status__in=active).update(status=SendingStatus.PAUSED)
    logger.info("sending paused sending=%s changed=%s", sending.pk, bool(paused))
    return bool(paused)


def resume_sending(sending):
    """Continue a paused sending; return False when it was not paused.

    A sending paused before its deliveries were all created is queued for
    its fan-out again, which creates only the missing ones. A prepared one
    goes back to sending, and its waiting deliveries are enqueued.
    """
    with transaction.atomic():
        sending = Sending.objects.select_for_update().get(pk=sending.pk)
        if sending.status != SendingStatus.PAUSED:
            return False

        if sending.prepared_at is None:
            sending.status = SendingStatus.QUEUED
            sending.save(update_fields=["status"])
            transaction.on_commit(lambda: _enqueue_fan_out(sending.pk), robust=True)
        else:
            sending.status = SendingStatus.SENDING
            sending.save(update_fields=["status"])
            waiting = list(
                sending.deliveries.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED]).values_list(
                    "pk", flat=True
                )
            )
            transaction.on_commit(lambda: enqueue_deliveries(waiting), robust=True)

    logger.info("sending resumed sending=%s status=%s", sending.pk, sending.status)
    return True


def stop_sending(sending):
    """Stop a sending for good; return False when it was already done or stopped.

    Deliveries not yet attempted are marked failed, and so are the
    confirmation requests that a confirmation sending still holds.
    """
    final = [SendingStatus.DONE, SendingStatus.CANCELLED]
    with transaction.atomic():
        stopped = (
            Sending.objects.filter(pk=sending.pk)
            .exclude(status__in=final)
            .update(status=SendingStatus.CANCELLED, finished_at=timezone.now())
        )
        if stopped:
            sending.deliveries.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED]).update(
                status=DeliveryStatus.FAILED, last_error=STOPPED_ERROR
            )
            # A stopped confirmation sending will never release its requests;
            # failing them keeps them out of the held list for good.
            withdrawn = SystemMail.objects.filter(sending=sending, status=Status.HELD).update(
                status=Status.FAILED, last_error=STOPPED_ERROR
            )
    if stopped:
        logger.info("sending stopped sending=%s held_requests_withdrawn=%s", sending.pk, withdrawn)
    return bool(stopped)


def stop_sendings_of_group(group):
    """Stop and return the sendings that deleting `group` would widen, if their recipients are not chosen yet.

    Deleting the group removes it from their targets. A sending left without
    a target group goes to the whole list, and one that excluded the group
    reaches its members again. Sendings that also target other groups only
    narrow, so they are left alone, and so are the ones whose deliveries
    already exist. A sending paused before its fan-out ended, or preparing,
    reads its target again when its fan-out runs, so it is stopped too.
    """
    other_targets = Sending.groups.through.objects.filter(sending_id=OuterRef("pk")).exclude(group_id=group.pk)
    not_prepared = Q(status__in=[SendingStatus.SCHEDULED, SendingStatus.QUEUED, SendingStatus.PREPARING]) | Q(
        status=SendingStatus.PAUSED, prepared_at__isnull=True
    )
    only_target = Sending.objects.filter(groups=group).exclude(Exists(other_targets))
    excluding = Sending.objects.filter(excluded_groups=group)
    widened = (only_target | excluding).filter(not_prepared).distinct().order_by("pk")
    stopped = [sending for sending in widened if stop_sending(sending)]
    if stopped:
        logger.info("sendings stopped with their group group=%s sendings=%s", group.pk, [sending.pk for sending in stopped])
    return stopped


# --- Message management: edit, copy, tags, images ----------------------------

# Columns of Message that update_message may set.
MESSAGE_COLUMNS = {
    "subject",
    "html",
    "text",
    "preheader",
    "tracking",
    "tracking_params",
    "tracking_protocols",
    "note",
    "embed",
    "is_confirmation",
    "use_dynamic_fields",
    "fields",
    "visible_online",
}
# Sendings that still hold deliveries to make, so their message cannot be deleted.
ACTIVE_SENDING = [
    SendingStatus.QUEUED,
    SendingStatus.PREPARING,
    SendingStatus.SENDING,
    SendingStatus.SCHEDULED,
    SendingStatus.PAUSED,
]


def _ensure_tags(mailing_list, names):
    """Return the distinct tag names in order, adding the ones the list lacks as enabled tags."""
    unique = []
    for name in names:
        name = str(name).strip()[:100]
        if name and name not in unique:
            unique.append(name)
    for name in unique:
        Tag.objects.get_or_create(list=mailing_list, name=name)
    return unique


def copy_message(message, mailing_list=None):
    """Store a copy of a message in its list, or in `mailing_list`, and return the copy.

    The copy gets its own copies of the attachment files, so deleting either
    message leaves the other's files in place. Sendings are not copied.
    """
    target = mailing_list or message.list
    with transaction.atomic():
        copy = _copy_message_content(message, target)
        copied_files = _copy_attachments(message, copy)
    logger.info("message copied message=%s copy=%s attachments=%s", message.pk, copy.pk, copied_files)
    return copy


def _copy_message_content(message, target):
    return create_message(
        target,
        message.subject,
        html=message.html,
        text=message.text,
        preheader=message.preheader,
        tags=message.tags,
        tracking=message.tracking,
        note=message.note,
        embed=message.embed,
        is_confirmation=message.is_confirmation,
        use_dynamic_fields=message.use_dynamic_fields,
        tracking_params=message.tracking_params,
        tracking_protocols=message.tracking_protocols,
        fields=message.fields,
    )


def _copy_attachments(message, copy):
    """Store a new file for each attachment of `message` in the same slot of `copy`; return how many were copied."""
    copied = 0
    for attachment in message.attachments.all():
        try:
            with attachment.file.open("rb") as stored:
                content = stored.read()
        except FileNotFoundError:
            # The file left the media folder outside the platform; the copy goes without it rather than failing.
            logger.warning(
                "attachment file missing, not copied attachment=%s message=%s file=%s",
                attachment.pk,
                message.pk,
                attachment.file.name,
            )
            continue
        clone = Attachment(
            message=copy,
            slot=attachment.slot,
            filename=attachment.filename,
            content_type=attachment.content_type,
            size=len(content),
        )
        clone.file.save(_storage_filename(attachment.filename), ContentFile(content), save=False)
        clone.save()
        copied += 1
    return copied


# --- Sink rules ------------------------------------------------------------------


class InvalidSinkRule(ValueError):
    """A sink rule field with a bad value; `field` names it."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


SINK_RULE_FIELDS = ("pattern", "behaviour", "smtp_code", "enhanced_status", "message", "delay_seconds", "priority", "active")
ENHANCED_STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


def save_sink_rule(values, rule=None):
    """Create a sink rule from `values`, or change `rule`; raise InvalidSinkRule naming the first bad field."""
    rule = rule or SinkRule()
    for name in SINK_RULE_FIELDS:
        if name in values:
            setattr(rule, name, values[name])
    _check_sink_rule(rule)
    rule.save()
    logger.info("sink rule saved rule=%s pattern=%s behaviour=%s", rule.pk, rule.pattern, rule.behaviour)
    return rule


def _check_sink_rule(rule):
    if not isinstance(rule.pattern, str) or not rule.pattern.strip() or len(rule.pattern) > 254:
        raise InvalidSinkRule("pattern", "pattern must be an address glob such as *@gmail.test, or a domain, up to 254 characters.")
    if rule.behaviour not in SinkRule.Behaviour.values:
        raise InvalidSinkRule("behaviour", f"behaviour must be one of {', '.join(SinkRule.Behaviour.values)}.")
    code = rule.smtp_code
    if code is not None and (not isinstance(code, int) or not 400 <= code <= 599):
        raise InvalidSinkRule("smtp_code", "smtp_code must be an SMTP reply code from 400 to 599.")
    if code is not None and rule.behaviour == SinkRule.Behaviour.DEFER and code >= 500:
        raise InvalidSinkRule("smtp_code", "a defer rule needs a 4xx smtp_code.")
    if code is not None and rule.behaviour in (SinkRule.Behaviour.REJECT, SinkRule.Behaviour.BOUNCE) and code < 500:
        raise InvalidSinkRule("smtp_code", "a reject or bounce rule needs a 5xx smtp_code.")
    if rule.enhanced_status and not ENHANCED_STATUS.match(str(rule.enhanced_status)):
        raise InvalidSinkRule("enhanced_status", "enhanced_status must look like 5.1.1.")
    if not isinstance(rule.message, str) or len(rule.message) > 300 or "\n" in rule.message or "\r" in rule.message:
        raise InvalidSinkRule("message", "message must be one line of at most 300 characters.")
    delay = rule.delay_seconds
    if delay is not None and (not isinstance(delay, int) or not 0 <= delay <= 86400):
        raise InvalidSinkRule("delay_seconds", "delay_seconds must be an integer from 0 to 86400.")
    if not isinstance(rule.priority, int) or not -(10**6) <= rule.priority <= 10**6:
        raise InvalidSinkRule("priority", "priority must be an integer from -1000000 to 1000000.")
    if not isinstance(rule.active, bool):
        raise InvalidSinkRule("active", "active must be true or false.")


def delete_sink_rule(rule_id):
    """Delete one sink rule; return False when no rule has this id."""
    deleted, _ = SinkRule.objects.filter(pk=rule_id).delete()
    logger.info("sink rule deleted rule=%s found=%s", rule_id, bool(deleted))
    return bool(deleted)


def create_message_from_template(mailing_list, template):
    """Store a new message of a list with a template's title as subject and its content as body."""
    return create_message(mailing_list, template.title, html=template.html, text=template.text)


def delete_message(message):
    """Delete a message with its finished sendings.

    Raises SendingStateError while one of its sendings is queued,
    scheduled or running, because deleting it would lose those deliveries.
    """
    with transaction.atomic():
        if message.sendings.filter(status__in=ACTIVE_SENDING).exists():
            raise SendingStateError(f"Message {message.pk} has a sending in progress; stop it first.")
        message_id = message.pk
        message.delete()
    logger.info("message deleted message=%s", message_id)


def create_tag(mailing_list, name):
    """Add an enabled tag to a list, or return the tag of that name that the list has already."""
    name = name.strip()[:100]
    if not name:
        raise InvalidMessage("The tag name is missing.")
    tag, created = Tag.objects.get_or_create(list=mailing_list, name=name)
    logger.info("tag created=%s tag=%s list=%s", created, tag.pk, mailing_list.list_id)
    return tag


def update_tag(tag, name, enabled=True):
    """Rename a tag and switch it on or off; the messages that carry it follow the new name."""
    name = name.strip()[:100]
    if not name:
        raise InvalidMessage("The tag name is missing.")
    with transaction.atomic():
        if Tag.objects.filter(list=tag.list, name=name).exclude(pk=tag.pk).exists():
            raise InvalidMessage(f"The list already has a tag named {name!r}.")
        _rename_tag_on_messages(tag.list, tag.name, name)
        tag.name = name
        tag.enabled = enabled
        tag.save()
    logger.info("tag updated tag=%s list=%s", tag.pk, tag.list.list_id)
    return tag


def delete_tag(tag):
    """Delete a tag and take it off every message of its list."""
    with transaction.atomic():
        _rename_tag_on_messages(tag.list, tag.name, None)
        tag_id = tag.pk
        tag.delete()
    logger.info("tag deleted tag=%s", tag_id)


def _rename_tag_on_messages(mailing_list, old_name, new_name):
    # Tags are a JSON list per message, so each message that carries the
    # tag is rewritten; lists have few messages compared with recipients.
    for message in Message.objects.filter(list=mailing_list).only("pk", "tags"):
        if old_name not in message.tags:
            continue
        tags = [new_name if name == old_name else name for name in message.tags]
        message.tags = [name for name in tags if name is not None]
        message.save(update_fields=["tags", "updated_at"])


def add_image(account, name, data, content_type, mailing_list=None):
    """Store an image in the account's library, or in one list's library; return the Image row."""
    if not name.strip():
        raise InvalidMessage("The image Name is missing.")
    if not data:
        raise InvalidMessage("The image data is empty.")
    image = Image.objects.create(
        account=account, list=mailing_list, name=name.strip()[:200], content_type=content_type, data=data
    )
    logger.info("image added image=%s account=%s", image.pk, account.console_id)
    return image


def delete_image(image):
    image_id = image.pk
    image.delete()
    logger.info("image deleted image=%s", image_id)


# --- Sending control: start, schedule, stop, delete ---------------------------


def start_sending_now(sending):
    """Start a scheduled or paused sending at once; raises SendingStateError for any other state.

    A paused sending continues through resume_sending, which creates only
    the deliveries still missing and enqueues the waiting ones.
    """
    if sending.status == SendingStatus.PAUSED and resume_sending(sending):
        return
    with transaction.atomic():
        started = Sending.objects.filter(pk=sending.pk, status=SendingStatus.SCHEDULED).update(
            status=SendingStatus.QUEUED, scheduled_at=None
        )
        if not started:
            raise SendingStateError(f"Sending {sending.pk} is {sending.status}; only a deferred or paused one can start.")
        transaction.on_commit(lambda: _enqueue_fan_out(sending.pk), robust=True)
    logger.info("sending started sending=%s", sending.pk)


def schedule_sending(sending, when):
    """Move a scheduled or paused sending to `when` (an aware datetime in the future).

    A paused sending whose deliveries were created already keeps them, and
    its fan-out at `when` adds only the missing ones.
    """
    if when <= timezone.now():
        raise InvalidMessage(f"The start date {when:%Y-%m-%d %H:%M:%S} is in the past.")
    try:
        check_schedule_limit(when)
    except ValueError as error:
        raise InvalidMessage(str(error)) from None
    scheduled = Sending.objects.filter(
        pk=sending.pk, status__in=[SendingStatus.SCHEDULED, SendingStatus.PAUSED]
    ).update(status=SendingStatus.SCHEDULED, scheduled_at=when, claimed_at=None)
    if not scheduled:
        raise SendingStateError(
            f"Sending {sending.pk} is {sending.status}; only a deferred or paused one can be deferred."
        )
    logger.info("sending scheduled sending=%s at=%s", sending.pk, when.isoformat())


def delete_sending(sending):
    """Delete a paused or stopped sending with its deliveries; raises SendingStateError for any other state."""
    with transaction.atomic():
        deleted, _ = Sending.objects.filter(pk=sending.pk, status__in=HALTED).delete()
        if not deleted:
            raise SendingStateError(f"Sending {sending.pk} is {sending.status}; stop it before deleting it.")
    logger.info("sending deleted sending=%s", sending.pk)


# --- E-mail queue of a console: MailupSend's queue operations ----------------------
#
# A queue entry (MailUp's "schedule") is a campaign sending that has not
# finished, so its scheduleID is the sending id, as its deliveryID is.

# Campaign sendings that wait for their start or are running, in queue order.
QUEUE_ENTRY = [
    SendingStatus.QUEUED,
    SendingStatus.PREPARING,
    SendingStatus.SENDING,
    SendingStatus.SCHEDULED,
    SendingStatus.PAUSED,
]
RUNNING = [SendingStatus.SCHEDULED, SendingStatus.QUEUED, SendingStatus.PREPARING, SendingStatus.SENDING]


def queue_entries(mailing_list):
    """Return the list's unfinished campaign sendings: running ones first, then scheduled ones by start, then paused ones."""
    order = Case(
        When(status=SendingStatus.SCHEDULED, then=Value(1)),
        When(status=SendingStatus.PAUSED, then=Value(2)),
        default=Value(0),
    )
    entries = Sending.objects.filter(list=mailing_list, kind=Sending.Kind.CAMPAIGN, status__in=QUEUE_ENTRY)
    return entries.order_by(order, "scheduled_at", "pk")


def latest_sending(message):
    """Return the newest sending of a message, or None when it was never sent."""
    return message.sendings.order_by("-pk").first()


def find_account_message(account, message_id):
    """Return e-mail message `message_id` of any of the account's lists; raises MessageNotFound."""
    found = None
    if 0 < message_id <= 2**63 - 1:
        found = Message.objects.filter(pk=message_id, list__account=account).select_related("list").first()
    if found is None:
        raise MessageNotFound(f"Message {message_id} does not exist in console {account.console_id}.")
    return found


def hold_sending(sending):
    """Take a sending out of the queue without a start date (paused) until it is scheduled or started.

    Raises SendingStateError when the sending is done or stopped; holding a
    paused sending changes nothing.
    """
    if sending.status == SendingStatus.PAUSED:
        return
    if not pause_sending(sending):
        raise SendingStateError(f"Sending {sending.pk} is {sending.status}; only an unfinished one can be held.")


def create_schedule(message, scheduled_at=None):
    """Create a sending of `message` to its whole list, scheduled at `scheduled_at` or, without one, held.

    A held sending waits in the queue without a start date until it is
    scheduled or started. Raises ValueError for a `scheduled_at` that is not
    in the future or is too late.
    """
    if scheduled_at is not None and scheduled_at <= timezone.now():
        raise ValueError(f"The start time {scheduled_at.isoformat()} is in the past.")
    with transaction.atomic():
        if scheduled_at is not None:
            return queue_sending(message, scheduled_at=scheduled_at)
        sending = Sending.objects.create(message=message, list_id=message.list_id, status=SendingStatus.PAUSED)
    logger.info("sending prepared sending=%s message=%s", sending.pk, message.pk)
    return sending


def move_scheduled_sending(sending, earlier):
    """Swap the start time of a scheduled sending with that of the list's previous (or next) scheduled sending.

    Returns the sending whose place it took, or None when it is already
    first (or last) or is not scheduled.
    """
    with transaction.atomic():
        scheduled = list(
            Sending.objects.select_for_update()
            .filter(list_id=sending.list_id, kind=Sending.Kind.CAMPAIGN, status=SendingStatus.SCHEDULED)
            .order_by("scheduled_at", "pk")
        )
        ids = [entry.pk for entry in scheduled]
        if sending.pk not in ids:
            return None
        position = ids.index(sending.pk)
        neighbour_position = position - 1 if earlier else position + 1
        if not 0 <= neighbour_position < len(scheduled):
            return None

        moved, neighbour = scheduled[position], scheduled[neighbour_position]
        moved.scheduled_at, neighbour.scheduled_at = neighbour.scheduled_at, moved.scheduled_at
        Sending.objects.bulk_update([moved, neighbour], ["scheduled_at"])
    logger.info("sending moved sending=%s swapped_with=%s earlier=%s", sending.pk, neighbour.pk, earlier)
    return neighbour


def add_to_queue(sending, immediate):
    """Put a sending into the immediate queue (start it now) or the deferred one (hold it for a start date).

    A running sending is already in the immediate queue, and a scheduled or
    paused one already waits for a start date, so those calls change
    nothing. Raises SendingStateError for a done or stopped sending.
    """
    if sending.status in (SendingStatus.DONE, SendingStatus.CANCELLED):
        raise SendingStateError(f"Sending {sending.pk} is {sending.status}; it cannot be queued again.")
    if immediate and sending.status in (SendingStatus.SCHEDULED, SendingStatus.PAUSED):
        start_sending_now(sending)
    elif not immediate and sending.status in (SendingStatus.QUEUED, SendingStatus.PREPARING, SendingStatus.SENDING):
        hold_sending(sending)


def remove_from_queue(sending, delete):
    """Take a sending out of the queue: hold it without a start date, or with `delete` stop and delete it.

    Raises SendingStateError for a done sending, and for a stopped one
    unless `delete` is set.
    """
    if not delete:
        hold_sending(sending)
        return
    with transaction.atomic():
        if sending.status not in HALTED:
            pause_sending(sending)
        delete_sending(Sending.objects.get(pk=sending.pk))


def pause_account_sendings(account):
    """Pause every running or scheduled campaign sending of the account; return how many were paused."""
    sendings = Sending.objects.filter(list__account=account, kind=Sending.Kind.CAMPAIGN, status__in=RUNNING)
    paused = sum(pause_sending(sending) for sending in sendings)
    logger.info("account sendings paused account=%s sendings=%s", account.console_id, paused)
    return paused


def resume_account_sendings(account):
    """Continue every paused campaign sending of the account; return how many were resumed.

    A sending whose start time is still in the future goes back to waiting
    for it; the others continue at once.
    """
    sendings = Sending.objects.filter(list__account=account, kind=Sending.Kind.CAMPAIGN, status=SendingStatus.PAUSED)
    resumed = 0
    for sending in sendings:
        if sending.scheduled_at is not None and sending.scheduled_at > timezone.now():
            schedule_sending(sending, sending.scheduled_at)
            resumed += 1
        else:
            resumed += resume_sending(sending)
    logger.info("account sendings resumed account=%s sendings=%s", account.console_id, resumed)
    return resumed


# --- SMS: messages and sends into the SMS sink ---------------------------------
#
# No carrier is connected: every SMS goes into the SMS sink (SinkSms rows),
# which the inspection API lists, and nothing leaves the machine.


def create_sms_message(mailing_list, text, subject="", notes="", campaign_code=None):
    if not text.strip():
        raise InvalidMessage("The SMS text (Content) is missing.")
    message = SmsMessage.objects.create(
        list=mailing_list, subject=subject[:200], text=text, notes=notes, campaign_code=campaign_code
    )
    logger.info("sms message created message=%s list=%s", message.pk, mailing_list.list_id)
    return message


def sms_campaign_message(mailing_list, campaign_code, text):
    """Return the SMS message of the list that groups transactional sends under `campaign_code`.

    The message is created on first use, with `text` as its content and
    the code (or "Transactional SMS" for the empty code) as its subject.
    """
    message = SmsMessage.objects.filter(list=mailing_list, campaign_code=campaign_code).first()
    if message is not None:
        return message
    subject = campaign_code or "Transactional SMS"
    try:
        with transaction.atomic():
            return create_sms_message(mailing_list, text, subject=subject, campaign_code=campaign_code)
    except IntegrityError:
        # A concurrent request created it between the lookup and the insert.
        return SmsMessage.objects.get(list=mailing_list, campaign_code=campaign_code)


def update_sms_message(message, text, subject="", notes=""):
    if not text.strip():
        raise InvalidMessage("The SMS text (Content) is missing.")
    message.text = text
    message.subject = subject[:200]
    message.notes = notes
    message.save()
    logger.info("sms message updated message=%s", message.pk)
    return message


def send_sms_to_list(message, group=None, sending=None):
    """Deliver an SMS message to every recipient subscribed to its list by SMS, or to one group of them.

    Returns the SmsSending with its `sent` count: `sending` when given (a
    scheduled sending that sending.sms_queue has claimed), else a new one.
    """
    subscribed = Subscription.objects.filter(
        list_id=message.list_id, channel=Channel.SMS, status=Subscription.Status.SUBSCRIBED
    ).values("recipient_id")
    recipients = Recipient.objects.filter(pk__in=subscribed, mobile_number__isnull=False)
    if group is not None:
        recipients = recipients.filter(group_memberships__group=group)
    return _deliver_sms(message, recipients.order_by("pk"), group, sending=sending)


def send_sms_to_recipient(message, recipient, text=None, sender="", max_characters=None):
    """Deliver an SMS message to one recipient subscribed to its list by SMS; return the SmsSending, else None.

    `text` replaces the message's text for this send, as the transactional
    API does, and `sender` is the alphanumeric sender the sink records.
    The text is cut to `max_characters` after the recipient's fields are
    merged into it.
    """
    subscribed = Subscription.objects.filter(
        recipient=recipient, list_id=message.list_id, channel=Channel.SMS, status=Subscription.Status.SUBSCRIBED
    ).exists()
    if not subscribed or not recipient.mobile_number:
        logger.info("sms not sent message=%s recipient=%s: not subscribed by SMS", message.pk, recipient.pk)
        return None
    return _deliver_sms(message, [recipient], None, text=text, sender=sender, max_characters=max_characters)


def find_sms_message(mailing_list, message_id):
    """Return SMS message `message_id` of a list; raises MessageNotFound."""
    found = mailing_list.sms_messages.filter(pk=message_id).first() if 0 < message_id <= 2**63 - 1 else None
    if found is None:
        raise MessageNotFound(f"SMS message {message_id} does not exist in list {mailing_list.list_id}.")
    return found


def find_sms_sending(account, sending_id):
    """Return SMS sending `sending_id` of one of the account's lists; raises SendingNotFound."""
    found = None
    if 0 < sending_id <= 2**63 - 1:
        found = SmsSending.objects.filter(pk=sending_id, list__account=account).first()
    if found is None:
        raise SendingNotFound(f"SMS delivery {sending_id} does not exist in console {account.console_id}.")
    return found


def send_sms_to_number(message, mobile_prefix, mobile_number, text=None):
    """Send an SMS message to one number, subscribing the number to the message's list by SMS first when needed.

    The number is subscribed without confirmation, as send_to_address does
    for an e-mail address. `text` replaces the message's text for this
    send. Returns the SmsSending. Raises SubscriptionBlocked when a bounce
    or complaint unsubscribed the number.
    """
    from lists import services as lists_services

    mailing_list = message.list
    account = mailing_list.account
    contact = lists_services.Contact(mobile_prefix=mobile_prefix, mobile_number=mobile_number)
    with transaction.atomic():
        if lists_services.subscription_status(account, mailing_list, contact) != Subscription.Status.SUBSCRIBED:
            request = lists_services.SubscribeRequest(
                account=account, lists=[mailing_list], contact=contact, source=Source.API, confirm=False
            )
            lists_services.subscribe(request)
        recipient = lists_services.find_recipient(account, contact)
        sending = send_sms_to_recipient(message, recipient, text=text)
        if sending is None:
            # Not expected after the subscribe above. The check keeps a None from reaching the caller.
            raise SendingStateError(f"Number {mobile_prefix}{mobile_number} could not be subscribed to list {mailing_list.list_id} by SMS.")
    return sending


def _deliver_sms(message, recipients, group, text=None, sender="", max_characters=None, sending=None, merge_fields=True):
    mailing_list = message.list
    account = mailing_list.account
    field_names = dict(account.field_definitions.values_list("field_id", "name"))
    template = message.text if text is None else text
    with transaction.atomic():
        if sending is None:
            sending = SmsSending.objects.create(message=message, list=mailing_list, group=group)
        rows = [
            SinkSms(
                sending=sending,
                recipient=recipient,
                account_console_id=account.console_id,
                list_id=mailing_list.list_id,
                number=f"{recipient.mobile_prefix}{recipient.mobile_number}",
                sender=sender,
                text=_sms_text(template, recipient, field_names, merge_fields)[:max_characters],
            )
            for recipient in recipients
        ]
        SinkSms.objects.bulk_create(rows)
        sending.sent = len(rows)
        sending.status = SmsSending.Status.DONE
        sending.sent_at = timezone.now()
        sending.save(update_fields=["sent", "status", "sent_at"])
    logger.info("sms sent sending=%s message=%s count=%s", sending.pk, message.pk, sending.sent)
    return sending


def _sms_text(template, recipient, field_names, merge_fields):
    if not merge_fields:
        return template
    return merge(template, field_values(recipient, field_names), escape_values=False)


# --- Relay configuration: pools, warm-up schedules and ISP rules --------------

RULE_LIMIT_FIELDS = ("max_per_hour", "max_connections", "max_per_connection")


@transaction.atomic
def create_ip_pool(name, addresses, description=""):
    """Create a pool of source addresses; raise ValueError naming the field when a value is invalid."""
    if IpPool.objects.filter(name=name).exists():
        raise ValueError(f"name: a pool named {name!r} already exists.")
    pool = IpPool.objects.create(name=name, description=description)
    for address in addresses:
        add_source_ip(pool, address)
    logger.info("ip pool created pool=%s addresses=%s", pool.name, list(addresses))
    return pool


def add_source_ip(pool, address):
    """Add `address` (in 127.0.0.0/8) to `pool`; raise ValueError when it is invalid or in another pool."""
    if not relay_routes.is_allowed_source(address):
        raise ValueError(f"address: {address!r} is not an IPv4 address in 127.0.0.0/8.")
    if SourceIp.objects.filter(address=address).exists():
        raise ValueError(f"address: {address} already belongs to a pool.")
    return SourceIp.objects.create(pool=pool, address=address)


def create_warmup_schedule(name, hourly_limits):
    """Store a warm-up schedule: messages per hour per source IP for day 1, 2, ... of the warm-up."""
    limits = list(hourly_limits)
    if not limits or not all(isinstance(limit, int) and limit > 0 for limit in limits):
        raise ValueError("hourly_limits: give one positive whole number of messages per hour for each day.")
    return WarmupSchedule.objects.create(name=name, hourly_limits=limits)


def create_isp_rule(name, pool, isp=None, **options):
    """Store a rule for `isp` (an Isp, or None for every ISP); `options` are IspRule's other fields.

    Raises ValueError naming the field when a limit, hour, weekday or the
    warm-up is invalid.
    """
    rule = IspRule(name=name, pool=pool, isp=isp, **options)
    _check_rule(rule)
    rule.save()
    logger.info("isp rule created rule=%s isp=%s pool=%s", rule.pk, isp.key if isp else "*", pool.name)
    return rule


def _check_rule(rule):
    for field in RULE_LIMIT_FIELDS:
        value = getattr(rule, field)
        if value is not None and value < 1:
            raise ValueError(f"{field}: give a positive number, or leave it empty for no limit.")
    for field, value in (("hour_from", rule.hour_from), ("hour_until", rule.hour_until)):
        if value is not None and not 0 <= value <= 24:
            raise ValueError(f"{field}: give an hour from 0 to 24.")
    if any(day not in range(1, 8) for day in rule.weekdays):
        raise ValueError("weekdays: use ISO weekdays, 1 for Monday to 7 for Sunday.")
    if rule.valid_from and rule.valid_until and rule.valid_until < rule.valid_from:
        raise ValueError("valid_until: the rule would end before it starts.")
    if (rule.warmup is None) != (rule.warmup_started_on is None):
        raise ValueError("warmup_started_on: a warm-up needs both a schedule and a start date.")


def send_to_address(message, email, from_email="", from_name=""):
    """Send `message` to one address of its list, subscribing the address first when it is not subscribed.

    Returns the sending. Raises InvalidContact for a bad address and
    SubscriptionBlocked when a bounce or complaint unsubscribed it.
    """
    from lists import services as lists_services
    from lists.validation import normalize_email

    mailing_list = message.list
    contact = lists_services.Contact(email=normalize_email(email))
    status = lists_services.subscription_status(mailing_list.account, mailing_list, contact)
    if status != Subscription.Status.SUBSCRIBED:
        request = lists_services.SubscribeRequest(
            account=mailing_list.account, lists=[mailing_list], contact=contact, source=Source.API, confirm=False
        )
        lists_services.subscribe(request)

    recipient = lists_services.find_recipient(mailing_list.account, contact)
    return queue_sending(message, recipients=[recipient], from_email=from_email, from_name=from_name)


def send_to_subscriber(message, recipient, fields=None):
    """Send `message` to one recipient subscribed by e-mail to its list, storing `fields` ({id: value}) on them first.

    Returns the sending, or None when the recipient is not subscribed to the
    list. Nothing changes then: neither the fields nor the sendings.
    """
    from lists import services as lists_services

    subscriptions = Subscription.objects.filter(
        recipient=recipient, list=message.list, channel=Channel.EMAIL, status=Subscription.Status.SUBSCRIBED
    )
    with transaction.atomic():
        if not subscriptions.exists():
            return None
        if fields:
            contact = lists_services.Contact(email=recipient.email)
            recipient = lists_services.update_recipient(message.list.account, recipient, contact, fields)
        return queue_sending(message, recipients=[recipient])


# --- Reports of the SOAP MailupReport service --------------------------------


@dataclass
class RecipientReport:
    """The data of MailupReport's ReportByUser for one address on one list.

    `email_status` and `sms_status` are Subscription statuses, or None when
    the channel is not on the list. `clicks` maps each URL to its click
    events and `opens` lists open events; each event is a dict with `at`,
    `ip`, `message_id` and `subject`.
    """

    email_status: str | None
    sms_status: str | None
    last_bounce: object
    clicks: dict
    opens: list
    fields: dict


@dataclass
class MessageReport:
    """Clicks per URL and opens per address for one message, or for every message of a list."""

    clicks: dict
    opens: dict


def recipient_report(mailing_list, email, message_id=0):
    """Collect ReportByUser's data for `email` on a list; `message_id` 0 means every message.

    An unknown or invalid address gives an empty report with both statuses
    None. Clicks are grouped by the URL this recipient was sent to, merge
    tags filled. An address unsubscribed from the list by e-mail gets no
    clicks or opens, because MailUp keeps no statistics for unsubscribed
    addresses.
    """
    recipient = Recipient.objects.filter(account_id=mailing_list.account_id, email=email.strip().lower()).first()
    if recipient is None:
        return RecipientReport(None, None, None, {}, [], {})

    statuses = dict(
        Subscription.objects.filter(recipient=recipient, list=mailing_list).values_list("channel", "status")
    )
    bounce = (
        recipient.events.filter(source=Source.BOUNCE).order_by("-created_at").values_list("created_at", flat=True).first()
    )
    clicks, opens = {}, []
    if statuses.get(Channel.EMAIL) != Subscription.Status.UNSUBSCRIBED:
        clicks, opens = _recipient_events(_tracking_events(mailing_list, message_id).filter(recipient=recipient))
    return RecipientReport(
        email_status=statuses.get(Channel.EMAIL),
        sms_status=statuses.get(Channel.SMS),
        last_bounce=bounce,
        clicks=clicks,
        opens=opens,
        fields=dict(recipient.fields),
    )


def message_report(mailing_list, message_id=0):
    """Collect ReportByMessage's data for one message of a list, or every message when `message_id` is 0.

    Clicks are grouped by the link as written in the message, so one URL
    gathers every recipient's clicks on it. Addresses unsubscribed from the
    list by e-mail are left out, as in recipient_report. Raises
    MessageNotFound for a message of another list.
    """
    if message_id:
        find_message(mailing_list, message_id)
    events = _tracking_events(mailing_list, message_id).exclude(_unsubscribed_from(mailing_list))

    clicks = {}
    click_rows = (
        events.filter(kind=DeliveryEvent.Kind.CLICK)
        .values("link__message_id", "link__number", "link__url", "url", "recipient__email")
        .annotate(total=Count("pk"))
        .order_by("link__message_id", "link__number", "url", "recipient__email")
    )
    for row in click_rows:
        # A click keeps its filled URL when the message's link was deleted since.
        url = row["link__url"] or row["url"]
        per_email = clicks.setdefault(url, {})
        per_email[row["recipient__email"]] = per_email.get(row["recipient__email"], 0) + row["total"]

    open_rows = (
        events.filter(kind=DeliveryEvent.Kind.OPEN)
        .values("recipient__email")
        .annotate(total=Count("pk"))
        .order_by("recipient__email")
    )
    opens = {row["recipient__email"]: row["total"] for row in open_rows}
    return MessageReport(clicks=clicks, opens=opens)


def _tracking_events(mailing_list, message_id):
    """Return the opens and clicks of the list's sendings, of message `message_id` unless it is 0, oldest first."""
    events = DeliveryEvent.objects.filter(
        sending__list=mailing_list, kind__in=[DeliveryEvent.Kind.OPEN, DeliveryEvent.Kind.CLICK]
    )
    if message_id:
        events = events.filter(sending__message_id=message_id)
    return events.order_by("created_at", "pk")


def _unsubscribed_from(mailing_list):
    """Return a condition on DeliveryEvent that is true when its recipient left the list's e-mail channel."""
    return Exists(
        Subscription.objects.filter(
            list=mailing_list,
            channel=Channel.EMAIL,
            status=Subscription.Status.UNSUBSCRIBED,
            recipient_id=OuterRef("recipient_id"),
        )
    )


def _recipient_events(events):
    """Split one recipient's events into ({url: [event]}, [event]) in RecipientReport's shape."""
    clicks, opens = {}, []
    for event in events.select_related("sending__message"):
        item = {
            "at": event.created_at,
            "ip": event.ip,
            "message_id": event.sending.message_id,
            "subject": event.sending.message.subject,
        }
        if event.kind == DeliveryEvent.Kind.OPEN:
            opens.append(item)
        else:
            clicks.setdefault(event.url, []).append(item)
    return clicks, opens
