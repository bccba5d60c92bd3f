"""MailupSend's SendMessageNL: send a message to the recipients of a CSV file in the account's FTP home.

The result is a bare int, the delivery id, or -1 for any failure, as
MailUp documents it. The reason of a failure is only logged.
"""

import logging

from lists.errors import InvalidContact, ListsError
from lists.validation import SINGLE_LINE_CONTROL_CHARACTERS, normalize_email
from mailup_sim import soap
from integrations import file_sending
from sending import services
from sending.soap_common import ResultError, account_of, code_and_description, invalid, list_by_id_or_guid
from sending.soap_send import SEND, one_line_subject

logger = logging.getLogger(__name__)

FAILED = -1


@SEND.operation(
    "SendMessageNL",
    soap.string("accessKey"),
    soap.string("fileName"),
    soap.string("separator"),
    soap.string("listId"),
    soap.string("listGuid"),
    soap.string("messageId"),
    soap.string("senderName"),
    soap.string("sender"),
    soap.string("subject"),
    soap.date_time("timeDateSending"),
    soap.integer("sendDelayTest"),
    result=soap.INT,
)
def send_message_nl(call, access_key, file_name, separator, list_id, list_guid, message_id, sender_name, sender, subject, time_date_sending, send_delay_test):
    """Return the id of the scheduled sending, or -1. `sendDelayTest` is unused, as at MailUp."""
    try:
        return _send(access_key, file_name, separator, list_id, list_guid, message_id, sender_name, sender, subject, time_date_sending)
    except (ResultError, ListsError) as error:
        code, reason = code_and_description(error)
        logger.info("SOAP MailupSend.SendMessageNL failed list=%r message=%r code=%s: %s", list_id[:20], message_id[:20], code, reason)
    except (file_sending.FileSendingRejected, ValueError) as error:
        logger.info("SOAP MailupSend.SendMessageNL failed list=%r message=%r: %s", list_id[:20], message_id[:20], error)
    except OSError as error:
        logger.info("SOAP MailupSend.SendMessageNL failed list=%r message=%r file=%r: %s", list_id[:20], message_id[:20], file_name[:80], error)
    return FAILED


def _send(access_key, file_name, raw_separator, list_id, list_guid, message_id, sender_name, sender, subject, time_date_sending):
    account = account_of(access_key)
    mailing_list = list_by_id_or_guid(account, list_id.strip(), list_guid.strip())
    message = services.find_message(mailing_list, _message_id(message_id))

    separator = file_sending.parse_separator(raw_separator)
    start = file_sending.sending_start(time_date_sending)
    from_email = _sender_email(sender)
    from_name = _sender_name(sender_name)
    new_subject = one_line_subject(subject) if subject.strip() else ""
    path = file_sending.resolve_home_file(account, file_name)

    sent = file_sending.send_to_file_recipients(message, path, separator, start, from_email, from_name, new_subject)
    return sent.sending.pk


def _message_id(raw):
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise invalid(f"Parameter 'messageId' must be a message id; got {text[:40]!r}.")
    return int(text)


def _sender_email(raw):
    if not raw.strip():
        return ""
    try:
        return normalize_email(raw)
    except InvalidContact:
        raise invalid(f"Parameter 'sender' is not a valid address: {raw.strip()[:80]!r}.") from None


def _sender_name(raw):
    name = raw.strip()
    if SINGLE_LINE_CONTROL_CHARACTERS.search(name) or len(name) > 200:
        raise invalid("Parameter 'senderName' must be one line of at most 200 characters.")
    return name
