"""MailupSend's queue operations: the console's e-mail queue, schedules and deliveries over SOAP.

MailUp's delivery is a Sending here, and its queue entry ("schedule") is the
same unfinished sending, so deliveryID and scheduleID are both the sending
id. The immediate queue contains queued, preparing and sending sendings,
and the deferred queue contains scheduled ones and paused ones waiting for
a start date. Only campaign sendings are queue entries; transactional sends
are not.
"""

import logging
from datetime import datetime

from django.utils.timezone import get_default_timezone, localtime

from lists.errors import InvalidContact
from lists.time_zones import find_time_zone
from lists.validation import normalize_email
from mailup_sim import soap
from sending import services
from sending.models import Sending
from sending.soap_common import (
    ERROR_DELIVERY_NOT_FOUND,
    ERROR_DELIVERY_STATE,
    ResultError,
    account_of,
    coded_result,
    invalid,
    list_of,
    operation,
)
from sending.soap_send import DELIVERY_DATE_FORMAT, SEND

logger = logging.getLogger(__name__)

# Status of a newsletter that was never sent, for GetNewsletterScheduleStatus.
NEVER_SENT = "none"
# Formats of PrepareNewsletterSchedule's deliveryDate and deliveryTime, which
# MailUp does not document; the server's TIME_ZONE applies.
DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%Y%m%d")
TIME_FORMATS = ("%H:%M:%S", "%H:%M")


def format_delivery_date(value):
    """Write a start time as yyyyMMddHHmmss in the server's TIME_ZONE; empty when there is none."""
    return localtime(value).strftime(DELIVERY_DATE_FORMAT) if value else ""


def campaign_sending(account, sending_id):
    """Return the account's campaign sending `sending_id`; transactional and confirmation sendings are not deliveries here."""
    sending = services.find_sending(account, sending_id)
    if sending.kind != Sending.Kind.CAMPAIGN:
        raise ResultError(ERROR_DELIVERY_NOT_FOUND, f"Delivery {sending_id} is a {sending.kind} sending, not a newsletter delivery.")
    return sending


def queue_entry_of(account, mailing_list, newsletter_id, sending_id):
    """Return the account's sending `sending_id` when it belongs to the list and, unless 0, to newsletter `newsletter_id`."""
    sending = campaign_sending(account, sending_id)
    if sending.list_id != mailing_list.pk or newsletter_id not in (0, sending.message_id):
        raise ResultError(
            ERROR_DELIVERY_NOT_FOUND,
            f"Delivery {sending_id} does not exist for newsletter {newsletter_id} in list {mailing_list.list_id}.",
        )
    return sending


def local_date_time(raw, formats, time_zone, name):
    """Read `raw` with the first matching format as a time in `time_zone`; raises ResultError."""
    for pattern in formats:
        try:
            return datetime.strptime(raw, pattern).replace(tzinfo=time_zone)
        except ValueError:
            continue
    raise invalid(f"Parameter {name!r} must be {' or '.join(dotnet_pattern(pattern) for pattern in formats)}; got {raw[:40]!r}.")


def dotnet_pattern(pattern):
    for python, dotnet in (("%Y", "yyyy"), ("%m", "MM"), ("%d", "dd"), ("%H", "HH"), ("%M", "mm"), ("%S", "ss")):
        pattern = pattern.replace(python, dotnet)
    return pattern


# --- Queue listing and status ---------------------------------------------------


def queue_element(sending, message_id_name):
    """Build the `<queue>` item of a queue entry, whose scheduleID is its deliveryID.

    `message_id_name` is the element of its message's id: newsletterID or smsID.
    """
    return soap.result_element(
        "queue",
        soap.text_element("deliveryID", sending.pk),
        soap.text_element(message_id_name, sending.message_id),
        soap.text_element("scheduleID", sending.pk),
        soap.text_element("deliverydt", format_delivery_date(sending.scheduled_at)),
    )


@operation(SEND, "GetNewsletterQueues", soap.string("accessKey"), soap.integer("listID"))
def get_newsletter_queues(call, access_key, list_id):
    entries = services.queue_entries(list_of(access_key, list_id))
    items = [queue_element(sending, "newsletterID") for sending in entries]
    return coded_result("GetNewsletterQueuesResult", soap.result_element("queues", *items))


@operation(SEND, "GetNewsletterScheduleStatus", soap.string("accessKey"), soap.integer("newsletterID"))
def get_newsletter_schedule_status(call, access_key, newsletter_id):
    message = services.find_account_message(account_of(access_key), newsletter_id)
    sending = services.latest_sending(message)
    return coded_result(
        "GetNewsletterScheduleStatusResult",
        soap.text_element("newsletterID", message.pk),
        soap.text_element("scheduleID", sending.pk if sending else ""),
        soap.text_element("status", sending.status if sending else NEVER_SENT),
    )


# --- Queue changes --------------------------------------------------------------


@operation(SEND, "SetNewsletterQueueOrder", soap.string("accessKey"), soap.integer("scheduleID"), soap.boolean("Up"))
def set_newsletter_queue_order(call, access_key, schedule_id, up):
    sending = campaign_sending(account_of(access_key), schedule_id)
    if sending.status not in services.QUEUE_ENTRY:
        raise invalid_state(sending)
    services.move_scheduled_sending(sending, earlier=up)
    return coded_result("SetNewsletterQueueOrderResult")


def invalid_state(sending):
    return ResultError(ERROR_DELIVERY_STATE, f"Delivery {sending.pk} is {sending.status}, so it is not in the queue.")


@operation(SEND, "AddNewsletterQueue", soap.string("accessKey"), soap.integer("deliveryID"), soap.boolean("immediate"))
def add_newsletter_queue(call, access_key, delivery_id, immediate):
    sending = campaign_sending(account_of(access_key), delivery_id)
    services.add_to_queue(sending, immediate)
    return coded_result("AddNewsletterQueueResult", soap.text_element("scheduleID", sending.pk))


@operation(
    SEND,
    "RemoveNewsletterQueue",
    soap.string("accessKey"),
    soap.integer("listID"),
    soap.integer("newsletterID"),
    soap.integer("deliveryID"),
    soap.integer("scheduleID"),
    soap.boolean("deleteQueue"),
)
def remove_newsletter_queue(call, access_key, list_id, newsletter_id, delivery_id, schedule_id, delete_queue):
    mailing_list = list_of(access_key, list_id)
    if delivery_id and schedule_id and delivery_id != schedule_id:
        raise invalid(f"deliveryID {delivery_id} and scheduleID {schedule_id} must name the same delivery.")
    if not (delivery_id or schedule_id):
        raise invalid("Parameter 'deliveryID' or 'scheduleID' is missing.")

    sending = queue_entry_of(mailing_list.account, mailing_list, newsletter_id, delivery_id or schedule_id)
    services.remove_from_queue(sending, delete=delete_queue)
    return coded_result("RemoveNewsletterQueueResult")


@operation(
    SEND,
    "ScheduleNewsletterQueue",
    soap.string("accessKey"),
    soap.integer("listID"),
    soap.integer("newsletterID"),
    soap.integer("scheduleID"),
    soap.string("deliverydt"),
    soap.integer("timezone"),
)
def schedule_newsletter_queue(call, access_key, list_id, newsletter_id, schedule_id, deliverydt, timezone):
    mailing_list = list_of(access_key, list_id)
    time_zone = find_time_zone(timezone)
    if time_zone is None:
        raise invalid(f"Parameter 'timezone' is not a time zone code; got {timezone}. GET /Console/TimeZones lists them.")
    when = local_date_time(deliverydt.strip(), (DELIVERY_DATE_FORMAT,), time_zone.zone(), "deliverydt")

    if schedule_id == 0:
        message = services.find_message(mailing_list, newsletter_id)
        sending = new_schedule(message, when)
    else:
        sending = queue_entry_of(mailing_list.account, mailing_list, newsletter_id, schedule_id)
        services.schedule_sending(sending, when)
    return coded_result("ScheduleNewsletterQueueResult", soap.text_element("scheduleID", sending.pk))


def new_schedule(message, when):
    try:
        return services.create_schedule(message, scheduled_at=when)
    except ValueError as error:
        raise invalid(str(error)) from None


@operation(
    SEND,
    "PrepareNewsletterSchedule",
    soap.string("accessKey"),
    soap.integer("listID"),
    soap.integer("newsletterID"),
    soap.string("deliveryDate"),
    soap.string("deliveryTime"),
    soap.string("adminEmail"),
    soap.integer("idUser"),
    soap.string("note"),
)
def prepare_newsletter_schedule(call, access_key, list_id, newsletter_id, delivery_date, delivery_time, admin_email, id_user, note):
    mailing_list = list_of(access_key, list_id)
    message = services.find_message(mailing_list, newsletter_id)
    when = start_time(delivery_date.strip(), delivery_time.strip())
    check_admin_email(admin_email)

    sending = new_schedule(message, when)
    return coded_result(
        "PrepareNewsletterScheduleResult",
        soap.text_element("deliveryID", sending.pk),
        soap.text_element("scheduleID", sending.pk),
    )


def start_time(date, time):
    """Read deliveryDate and deliveryTime in the server's TIME_ZONE; None (hold the delivery) when both are empty."""
    if not date:
        if time:
            raise invalid("Parameter 'deliveryTime' needs a 'deliveryDate'.")
        return None
    local_zone = get_default_timezone()
    day = local_date_time(date, DATE_FORMATS, local_zone, "deliveryDate")
    if not time:
        return day
    moment = local_date_time(time, TIME_FORMATS, local_zone, "deliveryTime")
    return day.replace(hour=moment.hour, minute=moment.minute, second=moment.second)


def check_admin_email(raw):
    if not raw.strip():
        return
    try:
        normalize_email(raw)
    except InvalidContact:
        raise invalid(f"Parameter 'adminEmail' is not a valid address: {raw.strip()[:80]!r}.") from None


# --- The console's e-mail queue -------------------------------------------------


@operation(SEND, "StartDelivery", soap.string("accessKey"))
def start_delivery(call, access_key):
    services.resume_account_sendings(account_of(access_key))
    return coded_result("StartDeliveryResult")


@operation(SEND, "StopDelivery", soap.string("accessKey"))
def stop_delivery(call, access_key):
    services.pause_account_sendings(account_of(access_key))
    return coded_result("StopDeliveryResult")
