"""MailupSend's SMS operations: SMS messages, their sends into the SMS sink, and the SMS queue.

No carrier is connected, so every SMS lands in the SMS sink
(`/sink/api/sms`) at once. Nothing is ever queued or scheduled, so
GetSMSQueues returns an empty queue, and RemoveSMSQueue and
ScheduleSMSQueue return the error for a schedule that does not exist.
"""

import logging
from datetime import datetime

from django.db import transaction

from lists import services as lists_services
from lists.errors import InvalidContact
from lists.time_zones import find_time_zone
from lists.validation import normalize_dialled_mobile
from mailup_sim import soap
from sending import services
from sending.soap_common import (
    ERROR_DELIVERY_NOT_FOUND,
    ResultError,
    account_of,
    coded_result,
    invalid,
    list_of,
    parse_id_list,
)
from sending.soap_send import DELIVERY_DATE_FORMAT, SEND, delivery_date, format_date, message_html, one_line_subject, operation

logger = logging.getLogger(__name__)

# An SMS sending is done once it returns, because its messages go straight to the sink.
SMS_DELIVERY_STATUS = "done"
SMS_SEND_TO_VALUES = ("all", "groups")
NOT_QUEUED = "SMS go to the SMS sink at once, so no SMS sending is ever queued or scheduled."


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

    Returns None for the whole list. A future `deliverydt`, `exclude` and
    `filters` are rejected, because SMS sendings are neither scheduled nor
    filtered here.
    """
    if delivery_date(options) is not None:
        raise invalid(f"Option 'deliverydt' must be empty or in the past. {NOT_QUEUED}")
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


@operation(SEND, "SendSMS", soap.string("accessKey"), soap.integer("listID"), soap.integer("smsID"), soap.options("options"))
def send_sms(call, access_key, list_id, sms_id, options):
    mailing_list = list_of(access_key, list_id)
    message = services.find_sms_message(mailing_list, sms_id)
    sending = services.send_sms_to_list(message, group=target_group(mailing_list, options))
    return coded_result("SendSMSResult", soap.text_element("deliveryID", sending.pk))


@operation(SEND, "SendSMSFast", soap.string("accessKey"), soap.integer("listID"), *SMS_PARAMS)
def send_sms_fast(call, access_key, list_id, subject, text, options):
    mailing_list = list_of(access_key, list_id)
    group = target_group(mailing_list, options)
    with transaction.atomic():
        message = new_sms(mailing_list, subject, text, options)
        sending = services.send_sms_to_list(message, group=group)
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
        soap.text_element("status", SMS_DELIVERY_STATUS),
    )


# --- The SMS queue -------------------------------------------------------------------


@operation(SEND, "StartDeliverySMS", soap.string("accessKey"))
def start_delivery_sms(call, access_key):
    account = account_of(access_key)
    logger.info("SOAP StartDeliverySMS console=%s: nothing queued", account.console_id)
    return coded_result("StartDeliverySMSResult")


@operation(SEND, "StopDeliverySMS", soap.string("accessKey"))
def stop_delivery_sms(call, access_key):
    account = account_of(access_key)
    logger.info("SOAP StopDeliverySMS console=%s: nothing queued", account.console_id)
    return coded_result("StopDeliverySMSResult")


@operation(SEND, "GetSMSQueues", soap.string("accessKey"), soap.integer("listID"))
def get_sms_queues(call, access_key, list_id):
    list_of(access_key, list_id)
    return coded_result("GetSMSQueuesResult", soap.result_element("queues"))


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
    if delivery_id:
        services.find_sms_sending(account, delivery_id)
    raise unknown_schedule(schedule_id)


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
    mailing_list = list_of(access_key, list_id)
    services.find_sms_message(mailing_list, sms_id)
    schedule_date(deliverydt, timezone)
    raise unknown_schedule(schedule_id)


def unknown_schedule(schedule_id):
    return ResultError(ERROR_DELIVERY_NOT_FOUND, f"Schedule {schedule_id} does not exist. {NOT_QUEUED}")
