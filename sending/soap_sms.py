"""MailupSend's SMS operations: SMS messages, their sends into the SMS sink, and the SMS queue.

No carrier is connected, so every SMS lands in the SMS sink
(`/sink/api/sms`). A send without a start time goes there at once. A
send with a future `deliverydt`, and every ScheduleSMSQueue call, creates
an entry of the console's SMS queue (sending.sms_queue), which beat sends
when it is due. As for newsletters, an entry's scheduleID is its deliveryID.
"""

import logging
from datetime import datetime

from django.db import transaction

from lists import services as lists_services
from lists.errors import InvalidContact
from lists.time_zones import find_time_zone
from lists.validation import normalize_dialled_mobile
from mailup_sim import soap
from sending import services, sms_queue
from sending.soap_common import (
    ERROR_DELIVERY_NOT_FOUND,
    ResultError,
    account_of,
    coded_result,
    invalid,
    list_of,
    parse_id_list,
)
from sending.soap_queues import queue_element
from sending.soap_send import DELIVERY_DATE_FORMAT, SEND, delivery_date, format_date, message_html, one_line_subject, operation

logger = logging.getLogger(__name__)

SMS_SEND_TO_VALUES = ("all", "groups")


# --- Reading parameters and options ----------------------------------------------


def sms_text(text, name):
    if not text.strip():
        raise invalid(f"Parameter {name!r} is missing or empty. Give the text of the SMS.")
    return text


def sms_subject(subject):
    return one_line_subject(subject) if subject.strip() else ""


def mobile_number(mailing_list, numero):
    """Read `numero` (+39…, 0039…, or national digits that take the list's default prefix) into (prefix, number)."""
    if not numero.strip():
        raise invalid("Parameter 'numero' is missing.")
    try:
        return normalize_dialled_mobile(numero, mailing_list.default_prefix)
    except InvalidContact as error:
        raise invalid(f"Parameter 'numero' is not a mobile number: {error.message}") from None


def target_group(mailing_list, options):
    """Read the group that SendSMS and SendSMSFast target from send_to (ALL or GROUPS) and recipients (one group id).

    Returns None for the whole list. `exclude` and `filters` are rejected,
    because SMS sendings are not filtered here.
    """
    for key in ("exclude", "filters"):
        if options.get(key, "").strip():
            raise invalid(f"Option {key!r} is not supported for SMS sendings.")
    send_to = options.get("send_to", "ALL").strip().lower() or "all"
    if send_to not in SMS_SEND_TO_VALUES:
        raise invalid(f"Option 'send_to' must be ALL or GROUPS for SMS, not {options['send_to'][:40]!r}.")
    if send_to == "all":
        return None
    group_ids = parse_id_list(options.get("recipients", ""), "recipients")
    if len(group_ids) != 1:
        raise invalid("send_to GROUPS needs exactly one group id in option 'recipients' for SMS.")
    return lists_services.find_group(mailing_list.account, group_ids[0], mailing_list)


def schedule_date(deliverydt, time_zone_code):
    """Read `deliverydt` (yyyyMMddHHmmss) as a time in the MailUp time zone `time_zone_code`, and return it as an aware datetime."""
    zone = find_time_zone(time_zone_code)
    if zone is None:
        raise invalid(f"Parameter 'timezone' must be a MailUp time-zone code (GET /Console/TimeZones); got {time_zone_code}.")
    raw = deliverydt.strip()
    try:
        naive = datetime.strptime(raw, DELIVERY_DATE_FORMAT)
    except ValueError:
        raise invalid(f"Parameter 'deliverydt' must be yyyyMMddHHmmss; got {raw[:40]!r}.") from None
    return naive.replace(tzinfo=zone.zone())


# --- Messages ----------------------------------------------------------------------


@operation(SEND, "GetSMS", soap.string("accessKey"), soap.integer("listID"))
def get_sms(call, access_key, list_id):
    mailing_list = list_of(access_key, list_id)
    items = [
        soap.result_element(
            "sms",
            soap.text_element("smsID", message.pk),
            soap.text_element("subject", message.subject),
            soap.text_element("note", message.notes),
            soap.text_element("creationdate", format_date(message.created_at)),
        )
        for message in mailing_list.sms_messages.order_by("pk")
    ]
    return coded_result("GetSMSResult", soap.result_element("list", soap.result_element("smsMessages", *items)))


SMS_PARAMS = (soap.string("subject"), soap.string("text"), soap.options("options"))


@operation(SEND, "CreateSMS", soap.string("accessKey"), soap.integer("listID"), *SMS_PARAMS)
def create_sms(call, access_key, list_id, subject, text, options):
    message = new_sms(list_of(access_key, list_id), subject, text, options)
    return coded_result("CreateSMSResult", soap.text_element("smsID", message.pk))


def new_sms(mailing_list, subject, text, options):
    return services.create_sms_message(
        mailing_list, sms_text(text, "text"), subject=sms_subject(subject), notes=options.get("note", "")
    )


# --- Sends -------------------------------------------------------------------------


def send_or_schedule(message, group, start):
    """Send an SMS message to its list (or `group`) now when `start` is None, else queue it for `start`."""
    if start is None:
        return services.send_sms_to_list(message, group=group)
    return sms_queue.schedule_sms(message, start, group=group)


@operation(SEND, "SendSMS", soap.string("accessKey"), soap.integer("listID"), soap.integer("smsID"), soap.options("options"))
def send_sms(call, access_key, list_id, sms_id, options):
    mailing_list = list_of(access_key, list_id)
    message = services.find_sms_message(mailing_list, sms_id)
    group = target_group(mailing_list, options)
    sending = send_or_schedule(message, group, delivery_date(options))
    return coded_result("SendSMSResult", soap.text_element("deliveryID", sending.pk))


@operation(SEND, "SendSMSFast", soap.string("accessKey"), soap.integer("listID"), *SMS_PARAMS)
def send_sms_fast(call, access_key, list_id, subject, text, options):
    mailing_list = list_of(access_key, list_id)
    group = target_group(mailing_list, options)
    start = delivery_date(options)
    with transaction.atomic():
        message = new_sms(mailing_list, subject, text, options)
        sending = send_or_schedule(message, group, start)
    return coded_result(
        "SendSMSFastResult", soap.text_element("smsID", message.pk), soap.text_element("deliveryID", sending.pk)
    )


@operation(
    SEND,
    "SendSingleSMS",
    soap.string("accessKey"),
    soap.integer("listID"),
    soap.string("subject"),
    soap.string("type"),
    soap.string("content"),
    soap.string("numero"),
    soap.options("options"),
)
def send_single_sms(call, access_key, list_id, subject, type, content, numero, options):
    mailing_list = list_of(access_key, list_id)
    prefix, number = mobile_number(mailing_list, numero)
    text = sms_text(message_html(type, content), "content")
    with transaction.atomic():
        message = services.create_sms_message(
            mailing_list, text, subject=sms_subject(subject), notes=options.get("note", "")
        )
        sending = services.send_sms_to_number(message, prefix, number)
    return coded_result(
        "SendSingleSMSResult", soap.text_element("smsID", message.pk), soap.text_element("deliveryID", sending.pk)
    )


@operation(
    SEND,
    "SendDirectSMS",
    soap.string("accessKey"),
    soap.integer("listID"),
    soap.string("content"),
    soap.string("numero"),
    soap.options("options"),
)
def send_direct_sms(call, access_key, list_id, content, numero, options):
    """Send `content` to one number, counted under the list's "Transactional SMS" message as the transactional API does."""
    mailing_list = list_of(access_key, list_id)
    prefix, number = mobile_number(mailing_list, numero)
    text = sms_text(content, "content")
    with transaction.atomic():
        message = services.sms_campaign_message(mailing_list, "", text)
        sending = services.send_sms_to_number(message, prefix, number, text=text)
    return coded_result("SendDirectSMSResult", soap.text_element("deliveryID", sending.pk))


@operation(SEND, "GetSMSDeliveryStatus", soap.string("accessKey"), soap.integer("deliveryID"))
def get_sms_delivery_status(call, access_key, delivery_id):
    sending = services.find_sms_sending(account_of(access_key), delivery_id)
    return coded_result(
        "GetSMSDeliveryStatusResult",
        soap.text_element("deliveryID", sending.pk),
        soap.text_element("smsID", sending.message_id),
        soap.text_element("status", sending.status),
    )


# --- The SMS queue -------------------------------------------------------------------


@operation(SEND, "StartDeliverySMS", soap.string("accessKey"))
def start_delivery_sms(call, access_key):
    sms_queue.start_sms_queue(account_of(access_key))
    return coded_result("StartDeliverySMSResult")


@operation(SEND, "StopDeliverySMS", soap.string("accessKey"))
def stop_delivery_sms(call, access_key):
    sms_queue.stop_sms_queue(account_of(access_key))
    return coded_result("StopDeliverySMSResult")


@operation(SEND, "GetSMSQueues", soap.string("accessKey"), soap.integer("listID"))
def get_sms_queues(call, access_key, list_id):
    entries = sms_queue.sms_queue_entries(list_of(access_key, list_id))
    items = [queue_element(sending, "smsID") for sending in entries]
    return coded_result("GetSMSQueuesResult", soap.result_element("queues", *items))


@operation(
    SEND,
    "RemoveSMSQueue",
    soap.string("accessKey"),
    soap.integer("deliveryID"),
    soap.integer("scheduleID"),
    soap.boolean("deleteQueue"),
)
def remove_sms_queue(call, access_key, delivery_id, schedule_id, delete_queue):
    account = account_of(access_key)
    if delivery_id and schedule_id and delivery_id != schedule_id:
        raise invalid(f"deliveryID {delivery_id} and scheduleID {schedule_id} must name the same SMS delivery.")
    if not (delivery_id or schedule_id):
        raise invalid("Parameter 'deliveryID' or 'scheduleID' is missing.")

    sending = services.find_sms_sending(account, delivery_id or schedule_id)
    sms_queue.remove_sms_from_queue(sending, delete=delete_queue)
    return coded_result("RemoveSMSQueueResult")


@operation(
    SEND,
    "ScheduleSMSQueue",
    soap.string("accessKey"),
    soap.integer("listID"),
    soap.integer("smsID"),
    soap.integer("scheduleID"),
    soap.string("deliverydt"),
    soap.integer("timezone"),
)
def schedule_sms_queue(call, access_key, list_id, sms_id, schedule_id, deliverydt, timezone):
    """Queue SMS message `smsID` of the list for `deliverydt` (scheduleID 0), or move queue entry `scheduleID` there."""
    mailing_list = list_of(access_key, list_id)
    when = schedule_date(deliverydt, timezone)

    if schedule_id == 0:
        message = services.find_sms_message(mailing_list, sms_id)
        sending = sms_queue.schedule_sms(message, when)
    else:
        sending = sms_queue_entry_of(mailing_list, sms_id, schedule_id)
        sms_queue.reschedule_sms(sending, when)
    return coded_result("ScheduleSMSQueueResult", soap.text_element("scheduleID", sending.pk))


def sms_queue_entry_of(mailing_list, sms_id, schedule_id):
    """Return the SMS sending `schedule_id` when it belongs to the list and, unless `sms_id` is 0, to that message."""
    sending = services.find_sms_sending(mailing_list.account, schedule_id)
    if sending.list_id != mailing_list.pk or sms_id not in (0, sending.message_id):
        raise ResultError(
            ERROR_DELIVERY_NOT_FOUND,
            f"Schedule {schedule_id} does not exist for SMS message {sms_id} in list {mailing_list.list_id}.",
        )
    return sending
