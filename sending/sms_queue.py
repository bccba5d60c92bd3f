"""The SMS queue of a console: scheduled SMS sendings, their start, retries, and the console-wide stop.

A queue entry is an SmsSending that is scheduled (waits for its start
time), paused (waits without one until it is scheduled again) or failed
(every attempt failed), so its scheduleID is its deliveryID. Beat runs
`send_due_sms` every minute. It sends each due entry through
services.send_sms_to_list unless the console stopped its SMS queue, which
an SmsQueueStop row records. A send that raises is retried after each
delay of settings.SENDING_RETRY_DELAYS, as e-mail deliveries are, and
then the entry is marked failed. Immediate sends (SendSMS without a start
time, SendSMSFast, the REST and transactional calls) do not pass through
the queue and are never held by a stop.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from sending import services
from sending.errors import InvalidMessage, SendingStateError
from sending.models import SmsQueueStop, SmsSending

logger = logging.getLogger(__name__)

SmsStatus = SmsSending.Status

QUEUE_ENTRY = [SmsStatus.SCHEDULED, SmsStatus.PAUSED, SmsStatus.FAILED]
# Order of GetSMSQueues: scheduled entries first, then failed, then paused.
QUEUE_ORDER = Case(
    When(status=SmsStatus.FAILED, then=Value(1)), When(status=SmsStatus.PAUSED, then=Value(2)), default=Value(0)
)
# Maximum length of the error text stored on a failed sending.
MAX_ERROR_LENGTH = 2000


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
    """Move a scheduled, paused or failed SMS sending to `when` with a fresh count of attempts.

    Raises SendingStateError once the sending was sent.
    """
    check_start_time(when)
    moved = SmsSending.objects.filter(pk=sending.pk, status__in=QUEUE_ENTRY).update(
        status=SmsStatus.SCHEDULED, scheduled_at=when, attempts=0, next_attempt_at=None, last_error=""
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
            status=SmsStatus.PAUSED, scheduled_at=None, next_attempt_at=None
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
    """Return the list's scheduled SMS sendings by start time, then its failed ones by start time, then its paused ones."""
    entries = SmsSending.objects.filter(list=mailing_list, status__in=QUEUE_ENTRY)
    return entries.order_by(QUEUE_ORDER, "scheduled_at", "pk")


def console_sms_queue(account, queue):
    """Return the account's SMS sendings in REST queue `queue`: "immediate", "deferred" or "undefined".

    Immediate sendings are due: their start time has passed and they wait
    for beat, for a retry, or for a stopped SMS queue to start. Deferred
    sendings wait for a start time still ahead. Undefined sendings have no
    start time to wait for, because they are paused or failed, like the
    paused and stopped sendings of the e-mail queue of the same name.
    Raises KeyError for another queue name.
    """
    now = timezone.now()
    queues = {
        "immediate": Q(status=SmsStatus.SCHEDULED, scheduled_at__lte=now),
        "deferred": Q(status=SmsStatus.SCHEDULED, scheduled_at__gt=now),
        "undefined": Q(status__in=[SmsStatus.PAUSED, SmsStatus.FAILED]),
    }
    return SmsSending.objects.filter(queues[queue], list__account=account)


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


def is_due(now):
    """Return the condition of a scheduled SMS sending whose start time, and retry time after a failed attempt, have passed."""
    retry_due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return Q(status=SmsStatus.SCHEDULED, scheduled_at__lte=now) & retry_due


def due_sms_sending_ids():
    """Return the ids of due SMS sendings, leaving out consoles whose queue is stopped."""
    due = SmsSending.objects.filter(is_due(timezone.now()), list__account__sms_queue_stop__isnull=True)
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
        claimed = SmsSending.objects.filter(is_due(timezone.now()), pk=sending_id).update(
            status=SmsStatus.DONE, next_attempt_at=None
        )
        if not claimed:
            return None
        return services.send_sms_to_list(sending.message, group=sending.group, sending=sending)


def send_due_sms():
    """Send every due SMS sending; return how many were sent. One failing sending does not hold up the others."""
    sent = 0
    for sending_id in due_sms_sending_ids():
        try:
            sent += send_scheduled_sms(sending_id) is not None
        except Exception as error:
            # The send rolled back, so the sending is still scheduled.
            record_sms_failure(sending_id, error)
    if sent:
        logger.info("due sms sendings sent count=%s", sent)
    return sent


def record_sms_failure(sending_id, error):
    """Count a failed attempt of a scheduled SMS sending: retry it later, or mark it failed when attempts run out.

    With the default SENDING_RETRY_DELAYS a sending is tried ten times over
    about four hours. Every error is treated as temporary, because no
    carrier can reject an SMS here, and this code cannot tell a passing
    database error from a lasting bug. Returns the sending's new status, or
    None when it is no longer scheduled (paused, moved or deleted
    meanwhile), in which case nothing changes.
    """
    retry_delays = settings.SENDING_RETRY_DELAYS
    with transaction.atomic():
        sending = SmsSending.objects.select_for_update().filter(pk=sending_id, status=SmsStatus.SCHEDULED).first()
        if sending is None:
            return None

        sending.attempts += 1
        sending.last_error = f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
        if sending.attempts > len(retry_delays):
            sending.status = SmsStatus.FAILED
            sending.next_attempt_at = None
        else:
            sending.next_attempt_at = timezone.now() + timedelta(seconds=retry_delays[sending.attempts - 1])
        sending.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])

    _log_failure(sending, error)
    return sending.status


def _log_failure(sending, error):
    if sending.status == SmsStatus.FAILED:
        logger.warning(
            "scheduled sms sending failed for good sending=%s message=%s list=%s attempts=%s error=%s",
            sending.pk,
            sending.message_id,
            sending.list_id,
            sending.attempts,
            sending.last_error,
            exc_info=error,
        )
        return
    logger.info(
        "scheduled sms sending failed, retrying sending=%s attempts=%s retry_at=%s error=%s",
        sending.pk,
        sending.attempts,
        sending.next_attempt_at.isoformat(),
        sending.last_error,
    )
