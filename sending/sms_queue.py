"""The SMS queue of a console: scheduled SMS sendings, their start, and the console-wide stop.

A queue entry is an SmsSending that is scheduled (waits for its start
time) or paused (waits without one until it is scheduled again), so its
scheduleID is its deliveryID. Beat runs `send_due_sms` every minute. It
sends each due entry through services.send_sms_to_list unless the console
stopped its SMS queue, which an SmsQueueStop row records. Immediate sends
(SendSMS without a start time, SendSMSFast, the REST and transactional
calls) do not pass through the queue and are never held by a stop.
"""

import logging

from django.db import transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from sending import services
from sending.errors import InvalidMessage, SendingStateError
from sending.models import SmsQueueStop, SmsSending

logger = logging.getLogger(__name__)

SmsStatus = SmsSending.Status

QUEUE_ENTRY = [SmsStatus.SCHEDULED, SmsStatus.PAUSED]


# --- Queue entries -----------------------------------------------------------------


def check_start_time(when):
    """Raise InvalidMessage unless `when` (an aware datetime) is in the future and before the latest start services allows."""
    if when <= timezone.now():
        raise InvalidMessage(f"The start time {when:%Y-%m-%d %H:%M:%S %z} is in the past.")
    try:
        services.check_schedule_limit(when)
    except ValueError as error:
        raise InvalidMessage(str(error)) from None


def schedule_sms(message, when, group=None):
    """Create and return a sending of an SMS message to its list, or to `group` of it, that starts at `when`."""
    check_start_time(when)
    sending = SmsSending.objects.create(
        message=message, list_id=message.list_id, group=group, status=SmsStatus.SCHEDULED, scheduled_at=when
    )
    logger.info("sms sending scheduled sending=%s message=%s at=%s", sending.pk, message.pk, when.isoformat())
    return sending


def reschedule_sms(sending, when):
    """Move a scheduled or paused SMS sending to `when`. Raises SendingStateError once it was sent."""
    check_start_time(when)
    moved = SmsSending.objects.filter(pk=sending.pk, status__in=QUEUE_ENTRY).update(
        status=SmsStatus.SCHEDULED, scheduled_at=when
    )
    if not moved:
        raise not_in_queue(sending)
    logger.info("sms sending rescheduled sending=%s at=%s", sending.pk, when.isoformat())


def remove_sms_from_queue(sending, delete):
    """Take an SMS sending out of the queue: pause it without a start time, or with `delete` delete it.

    Pausing a paused sending changes nothing. Raises SendingStateError
    once the sending was sent.
    """
    with transaction.atomic():
        # The conditional UPDATE comes first even for a delete, because it
        # locks the row while its status is re-checked. Django's delete()
        # reads the rows and then deletes them by id, so the beat task
        # could send the entry in between.
        paused = SmsSending.objects.filter(pk=sending.pk, status__in=QUEUE_ENTRY).update(
            status=SmsStatus.PAUSED, scheduled_at=None
        )
        if not paused:
            raise not_in_queue(sending)
        if delete:
            SmsSending.objects.filter(pk=sending.pk).delete()
    logger.info("sms sending removed from queue sending=%s deleted=%s", sending.pk, delete)


def withdraw_group_entries(group):
    """Delete the queue entries that target `group` before the group is deleted; return how many there were.

    Deleting the group sets their group to NULL, and an entry without a
    group goes to the whole list.
    """
    # Claim before deleting, as remove_sms_from_queue does, so that an entry the beat task is sending is left alone.
    withdrawn = SmsSending.objects.filter(group=group, status__in=QUEUE_ENTRY).update(
        status=SmsStatus.PAUSED, scheduled_at=None
    )
    SmsSending.objects.filter(group=group, status=SmsStatus.PAUSED).delete()
    if withdrawn:
        logger.info("sms queue entries withdrawn with their group group=%s count=%s", group.pk, withdrawn)
    return withdrawn


def not_in_queue(sending):
    return SendingStateError(f"SMS delivery {sending.pk} was sent already, so it is not in the SMS queue.")


def sms_queue_entries(mailing_list):
    """Return the list's scheduled SMS sendings by start time, then its paused ones."""
    order = Case(When(status=SmsStatus.PAUSED, then=Value(1)), default=Value(0))
    entries = SmsSending.objects.filter(list=mailing_list, status__in=QUEUE_ENTRY)
    return entries.order_by(order, "scheduled_at", "pk")


# --- Stopping and starting a console's SMS queue -----------------------------------


def stop_sms_queue(account):
    """Hold every due SMS sending of the account until start_sms_queue. Stopping twice changes nothing."""
    SmsQueueStop.objects.get_or_create(account=account)
    logger.info("sms queue stopped account=%s", account.console_id)


def start_sms_queue(account):
    """Let the account's due SMS sendings go. Those that fell due while the queue was stopped are sent after the commit."""
    with transaction.atomic():
        SmsQueueStop.objects.filter(account=account).delete()
        transaction.on_commit(_enqueue_due_sms, robust=True)
    logger.info("sms queue started account=%s", account.console_id)


def _enqueue_due_sms():
    from sending.tasks import send_due_sms

    send_due_sms.delay()


# --- Sending due entries -----------------------------------------------------------


def due_sms_sending_ids():
    """Return the ids of scheduled SMS sendings whose start time has passed, leaving out consoles whose queue is stopped."""
    due = SmsSending.objects.filter(
        status=SmsStatus.SCHEDULED, scheduled_at__lte=timezone.now(), list__account__sms_queue_stop__isnull=True
    )
    return list(due.order_by("scheduled_at", "pk").values_list("pk", flat=True))


def send_scheduled_sms(sending_id):
    """Send one due SMS sending into the SMS sink and return it, or None when it is not due, not scheduled or held.

    The claim (a conditional UPDATE to done on the sending's own columns,
    which PostgreSQL re-checks after a concurrent update) and the SMS it
    sends commit together. A second run therefore finds nothing to claim,
    and a run that dies midway leaves the sending scheduled for the next one.
    A StopDeliverySMS that arrives while a send is running does not stop it.
    """
    sending = SmsSending.objects.select_related("message__list__account", "group").filter(pk=sending_id).first()
    if sending is None or SmsQueueStop.objects.filter(account_id=sending.message.list.account_id).exists():
        return None

    with transaction.atomic():
        claimed = SmsSending.objects.filter(
            pk=sending_id, status=SmsStatus.SCHEDULED, scheduled_at__lte=timezone.now()
        ).update(status=SmsStatus.DONE)
        if not claimed:
            return None
        return services.send_sms_to_list(sending.message, group=sending.group, sending=sending)


def send_due_sms():
    """Send every due SMS sending; return how many were sent. One failing sending does not hold up the others."""
    sent = 0
    for sending_id in due_sms_sending_ids():
        try:
            sent += send_scheduled_sms(sending_id) is not None
        except Exception:
            # The sending stays scheduled, so the next run tries it again.
            logger.exception("scheduled sms sending failed sending=%s", sending_id)
    if sent:
        logger.info("due sms sendings sent count=%s", sent)
    return sent
